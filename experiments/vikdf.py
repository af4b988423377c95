"""VIKDF zero-resource dialogue: baselines, data fractions, ablations, number of queries and LLM families.

Runs `mmkd_nb.vikdf.dialogue.experiment` for every seed and writes one results file per group:

    python experiments/vikdf.py --preset small --group main --seeds 0 1 2        # frozen, LoRA, VIKDF full, 1/4, 1/8, zero data
    python experiments/vikdf.py --preset small --group ablations --seeds 0       # Table 3: -TIM, -TAMIM, -IAMTM, -BVIF (and -KI)
    python experiments/vikdf.py --preset small --group queries --seeds 0         # Fig. 7: n in {4, 8, 16, 32, 64}
    python experiments/vikdf.py --preset tiny --group families --seeds 0 1 2     # Table 4: Llama vs Qwen2 vs GPT-2 configs
    python experiments/vikdf.py --preset micro --group main --seeds 0 1 2 --workers 2   # seeds on both cores, one thread each

Writes experiments/results/vikdf-<group>-<preset>.json (command, configs, seeds, per-seed numbers, mean ± std,
seconds, encoder digest, library versions); the file is rewritten after every system, so a cut run keeps what it finished
('complete': false until every system of every seed is in).
"""
from __future__ import annotations
import argparse, datetime, functools, json, os, platform, sys, time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1"); os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
HERE = Path(__file__).resolve().parent

GROUPS = {
    "main": ["frozen", "lora", "vikdf", "vikdf@0", "vikdf@1/4", "vikdf@1/8"],
    "ablations": ["vikdf", "vikdf-TIM", "vikdf-TAMIM", "vikdf-IAMTM", "vikdf-BVIF", "vikdf-KI"],
    "queries": ["vikdf/q4", "vikdf/q8", "vikdf/q16", "vikdf", "vikdf/q64"],
    "control": ["frozen", "vikdf", "vikdf/shuffled"],   # VIKDF against its joint stage on images shuffled among captions
    "families": ["lora", "vikdf", "lora/llm=tiny-qwen2", "vikdf/llm=tiny-qwen2", "lora/llm=tiny-gpt2", "vikdf/llm=tiny-gpt2"],
}


def versions() -> dict:
    import torch, transformers, peft, accelerate, numpy
    return {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
            "peft": peft.__version__, "accelerate": accelerate.__version__, "numpy": numpy.__version__}


def run_seed(preset, systems, cache, pretrain_steps, dialogue, seed) -> dict:
    "One seed of every system, in a worker process."
    from mmkd_nb.vikdf.dialogue import experiment
    return experiment(preset, systems, seed=seed, out=cache, pretrain_steps=pretrain_steps, dialogue=dialogue,
                      log=lambda m: print(f"[seed {seed}] {m}", flush=True))


def attribute_baselines(preset: str, dialogue: dict) -> dict:
    "Attr-R / Attr-P of guessing one value of each attribute the reference states, on the evaluated test dialogues."
    from mmkd_nb.evidence import attribute_chance
    from mmkd_nb.vikdf.dialogue import DialogueConfig, dialogue_data
    from mmkd_nb.vikdf.train import VIKDFConfig
    from mmkd_nb.world import WorldConfig, make_world
    world = make_world(WorldConfig.preset(VIKDFConfig.preset(preset).world))
    test = dialogue_data(world, DialogueConfig.preset(preset, **dialogue))[1]
    return {"attribute_chance": attribute_chance([d.meta["attributes"] for d in test]), "n_test": len(test)}


def warm_caches(preset: str):
    "Build the image tower and the LLM's cache once here, so parallel seeds do not each build them."
    from mmkd_nb.vikdf.train import VIKDFConfig
    from mmkd_nb.encoders import load_encoder
    from mmkd_nb.llm import load_llm
    cfg = VIKDFConfig.preset(preset)
    load_encoder(cfg.encoder), load_llm(cfg.llm)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="small", choices=["tiny", "micro", "small", "paper"])
    ap.add_argument("--group", default="main", choices=list(GROUPS))
    ap.add_argument("--systems", nargs="+", default=None, help="override the group's systems (names as in parse_system)")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--pretrain-steps", type=int, default=None, help="joint VIKDF steps (default: the preset's)")
    ap.add_argument("--steps", type=int, default=None, help="dialogue fine-tuning steps (default: the preset's)")
    ap.add_argument("--batch-size", type=int, default=None, help="dialogue fine-tuning batch")
    ap.add_argument("--eval-limit", type=int, default=0, help="score at most this many held-out test dialogues (0 = all)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default; 1 with --workers)")
    ap.add_argument("--workers", type=int, default=1, help="seeds run at once, each in its own one-thread process")
    ap.add_argument("--cache", default="artifacts/vikdf-experiments", help="folder for the joint-stage runs (reused across calls)")
    ap.add_argument("--out", default=str(HERE / "results"), help="folder of the results file")
    ap.add_argument("--name", default=None, help="results file name part (default: <group>-<preset>)")
    ap.add_argument("--append", action="store_true", help="keep the runs already in the results file (other seeds or systems) and add these")
    ap.add_argument("--parse-only", action="store_true", help="check the command line and stop (experiments/gpu.py --check)")
    a = ap.parse_args(argv)
    if a.parse_only: return {}
    import torch
    if a.workers > 1: a.threads = 1
    if a.threads: torch.set_num_threads(a.threads)
    from mmkd_nb.core import map_processes
    from mmkd_nb.vikdf.dialogue import experiment, summarise_runs, results_table
    systems = a.systems or GROUPS[a.group]
    over = {k: v for k, v in dict(steps=a.steps, batch_size=a.batch_size, eval_limit=a.eval_limit or None).items() if v is not None}
    path = Path(a.out) / f"vikdf-{a.name or f'{a.group}-{a.preset}'}.json"
    doc = {"method": "vikdf", "experiment": a.group, "command": "python experiments/vikdf.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "date": datetime.date.today().isoformat(), "preset": a.preset, "systems": systems, "seeds": [], "dialogue_overrides": over,
           "pretrain_steps": a.pretrain_steps, "versions": versions(), "machine": {"cpus": os.cpu_count(), "threads": torch.get_num_threads(),
           "workers": a.workers, "load_avg_at_start": os.getloadavg()[0]}, "runs": []}
    doc["baselines"] = attribute_baselines(a.preset, over)
    old = json.loads(path.read_text()) if a.append and path.exists() else None
    if old:   # earlier calls: their runs stay, a run of the same seed gains the new systems
        doc.update(runs=old["runs"], commands=old.get("commands", [old["command"]]) + [doc["command"]],
                   systems=list(dict.fromkeys(old["systems"] + systems)), dialogue_overrides=old["dialogue_overrides"] if old["dialogue_overrides"] == over else
                   {"mixed": [old["dialogue_overrides"], over]}, date=f"{old['date']}..{doc['date']}")
    t0 = time.time()
    def save(run, done: bool):
        prev = next((r for r in doc["runs"] if r["seed"] == run["seed"]), None)
        if prev is not None and prev is not run and a.append:
            run = {**run, "results": {**prev["results"], **run["results"]}, "seconds": {**prev["seconds"], **run["seconds"]}}
        runs = [r for r in doc["runs"] if r["seed"] != run["seed"]] + [run]
        doc.update(runs=runs, seeds=[r["seed"] for r in runs], encoder=run["encoder"], summary=summarise_runs(runs),
                   complete=done and all(set(doc["systems"]) <= set(r["results"]) for r in runs),
                   seconds=round(time.time() - t0, 1))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc, indent=1))
    if a.workers > 1:   # seeds in parallel processes; this process alone writes the file, after each seed
        warm_caches(a.preset)
        job = functools.partial(run_seed, a.preset, systems, a.cache, a.pretrain_steps, over)
        def done(seed, run):
            save(run, True)
            print(f"seed {seed} done in {run['total_seconds']} s -> {path}", flush=True)
        map_processes(job, a.seeds, workers=a.workers, on_done=done)
    for seed in ([] if a.workers > 1 else a.seeds):   # the file is rewritten after every system
        run = experiment(a.preset, systems, seed=seed, out=a.cache, pretrain_steps=a.pretrain_steps, dialogue=over,
                         on_result=lambda r: save(r, False))
        save(run, True)
        print(f"seed {seed} done in {run['total_seconds']} s -> {path}", flush=True)
    print(results_table(doc["summary"]))
    return doc


if __name__ == "__main__":
    main()
