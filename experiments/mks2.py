"""MKS2 on the embedded world: baselines and ablations of the paper's Tables 1, 4 and 6.

Runs `mmkd_nb.mks2.run.run_grid` and writes one results file per group:

    python experiments/mks2.py --group table1 --seeds 0 1 2     # frozen, INST-LoRA, w/o (MM-SFT & MoMEs), storage only, w/o MM-SFT, MKS2
    python experiments/mks2.py --group table4 --seeds 0         # memory size (D/4, D/2) x image pairs seen (20, 40 storage steps), MKS2 w/o MM-SFT
    python experiments/mks2.py --group table4 --seeds 0 1 2 --paired-storage   # ... each seed on its own storage run
    python experiments/mks2.py --preset micro --group table4 --storage-steps 900 450 --seeds 0 1 2 --paired-storage   # micro's budget
    python experiments/mks2.py --group table6 --seeds 0         # LoRA rank of MoMEs
    python experiments/mks2.py --preset tiny --group table1 --seeds 0 1   # seconds, the notebook's fast check
    python experiments/mks2.py --preset micro --group control --seeds 0 1 2 --paired-storage --workers 2   # vs shuffled images

`--set KEY=VALUE` changes a run-config field (e.g. storage.max_steps=20, sharing.lr=0.002, mcq_splits='["test"]').
Writes experiments/results/mks2-<group>-<preset>.json (command, config, seeds, per-seed numbers, mean ± std,
seconds, encoder key, library versions); the file is rewritten after every run, so a cut run keeps what it finished.
"""
from __future__ import annotations
import argparse, datetime, json, os, platform, sys, time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1"); os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
HERE = Path(__file__).resolve().parent

# group -> list of (variant name, run-config overrides, arms)
GROUPS = {
    "table1": [("base", {}, ["frozen", "storage", "inst-lora", "mks2-text", "mks2", "no-momes"])],
    # Table 4 trains on more or fewer image-text pairs. A step budget far below one epoch (the small runs) sees steps x batch
    # pairs whatever the pool, so the pairs axis is the number of storage steps; `pairs_frac` shrinks the pool itself.
    "table4": [(f"D/{4 if r == 0.25 else 2}, {n} storage steps", {"storage.mvm_ratio": r, "storage.max_steps": n}, ["mks2-text"])
               for n in (20, 40) for r in (0.25, 0.5)],   # the pairs axis: --storage-steps (run in the order given)
    "table6": [(f"r={r}", {"sharing.rank": r, "sharing.lora_alpha": 2.0 * r}, ["mks2"]) for r in (4, 8, 16)],
    # the control: the same storage and sharing runs with images permuted among their texts (paired with "real" by seed)
    "control": [("real", {}, ["frozen", "inst-lora", "no-momes", "storage", "mks2-text", "mks2"]),
                ("shuffled images", {"storage.shuffle_images": True, "sharing.shuffle_images": True},
                 ["storage", "mks2-text", "mks2"])],
}


def versions() -> dict:
    import torch, transformers, peft, accelerate, numpy
    return {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
            "peft": peft.__version__, "accelerate": accelerate.__version__, "numpy": numpy.__version__}


def run_folder(cache, preset: str, group: str, name: str, cfg) -> Path:
    """The sharing runs' folder of one variant, keyed by the whole run config: two configs (another LLM, another
    storage budget) never resume each other's checkpoints."""
    return Path(cache) / preset / group / (name.replace("/", "_").replace(", ", "-").replace(" ", "_") + "-" + cfg.digest())


def router_doc(cache: Path, preset: str, seed: int = 0) -> dict:
    "S_1 per block and token of the table-1 MKS2 model (seed `seed`) for a visual and an abstract sentence."
    import copy
    from mmkd_nb.mks2.run import (MKS2RunConfig, load_models, load_storage, router_profile, VISUAL_SENTENCE, ABSTRACT_SENTENCE,
                                  SharingModel, _same_storage)
    from mmkd_nb.mks2.momes import add_momes, load_momes
    from mmkd_nb.world import make_world, WorldConfig
    cfg = MKS2RunConfig.from_dict(json.loads((HERE / "results" / f"mks2-table1-{preset}.json").read_text())["variants"]["base"]["config"])
    sdir = next(d for d in sorted((cache / preset).glob("storage-*")) if _same_storage(d, cfg))
    models = load_models(cfg); enc, frozen, tok = models
    st = load_storage(sdir, cfg, enc, copy.deepcopy(frozen), tok)
    sh = cfg.sharing
    add_momes(st.llm, sh.rank, sh.lora_alpha, sh.lora_dropout, sh.textual_prior)
    load_momes(st.llm, run_folder(cache, preset, "table1", "base", cfg) / f"mks2-{seed}" / "momes.safetensors")
    world = make_world(WorldConfig.preset(cfg.world))
    out = {}
    for name, text in (("visual", VISUAL_SENTENCE.format(concept=world.heldout[0])), ("abstract", ABSTRACT_SENTENCE)):
        S1, toks = router_profile(SharingModel(st).eval(), tok, text)
        out[name] = {"text": text, "tokens": toks, "S1": [[round(x, 5) for x in row] for row in S1.tolist()]}
    from mmkd_nb.mks2.run import image_router_profile
    for r in world.vqa("test")[:8]:                     # image + question, as the VQA instructions are laid out
        S1, is_image = image_router_profile(SharingModel(st).eval(), r.image, r.question)
        out.setdefault("image", []).append({"question": r.question, "image_S1_by_block": S1[:, is_image].mean(1).tolist(),
                                            "text_S1_by_block": S1[:, ~is_image].mean(1).tolist()})
    return out


def run_job(job: tuple) -> dict:
    "`run_grid` for one job of a --workers run (a worker process's entry point)."
    from mmkd_nb.mks2.run import MKS2RunConfig, run_grid
    cfg_dict, arms, seeds, out, vqa_seeds, storage_dir = job
    return run_grid(MKS2RunConfig.from_dict(cfg_dict), arms, seeds, out, log=lambda s: print(f"[seeds {seeds}] {s}", flush=True),
                    vqa_seeds=vqa_seeds, storage_dir=storage_dir)


def storage_summary(by_seed: dict) -> dict:
    "`spread` over storage seeds of each storage run's caption NLL and text→image R@1 (from the runs' reports)."
    from mmkd_nb.mks2.run import spread
    reps = [st["report"] for st in by_seed.values() if st and "report" in st]
    return {k: spread([r[k] for r in reps]) for k in ("caption_nll", "r_at_1")} if reps else {}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="small", choices=["tiny", "micro", "small", "paper"])
    ap.add_argument("--group", default="table1", choices=list(GROUPS))
    ap.add_argument("--variants", nargs="+", default=None, help="run only these variants of the group (names as in GROUPS)")
    ap.add_argument("--arms", nargs="+", default=None, help="override the group's arms")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--vqa-seeds", nargs="+", type=int, default=None, help="seeds whose runs also score VQA (default: all)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="run-config field for every variant (repeatable)")
    ap.add_argument("--paired-storage", action="store_true", help="seed s trains its own storage stage (storage.seed = s), so the "
                    "spread covers both stages; default: one storage run (storage.seed from the config) shared by every seed")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default; 1 with --workers)")
    ap.add_argument("--workers", type=int, default=1, help="seeds run at once, each in its own one-thread process "
                    "(a shared storage run is trained here first)")
    ap.add_argument("--cache", default="artifacts/mks2-experiments", help="folder for the runs' storage and sharing files")
    ap.add_argument("--out", default=str(HERE / "results"), help="folder of the results file")
    ap.add_argument("--name", default=None, help="results file name part (default: <group>-<preset>)")
    ap.add_argument("--router", action="store_true", help="instead of training: write the router profile of table1's MKS2 (seed 0) "
                    "to mks2-router-<preset>.json")
    ap.add_argument("--storage-steps", type=int, nargs="+", default=None,
                    help="table4's pairs axis: these storage step counts, in this order (default 20 40)")
    ap.add_argument("--parse-only", action="store_true", help="check the command line and stop (experiments/gpu.py --check)")
    a = ap.parse_args(argv)
    if a.parse_only: return {}
    import torch
    if a.workers > 1: a.threads = 1
    if a.threads: torch.set_num_threads(a.threads)
    from mmkd_nb.core import save_json, map_processes
    from mmkd_nb.mks2.run import (MKS2RunConfig, run_grid, summarize, load_models, encoder_key, _parse_set, ensure_storage,
                                  ARMS)
    from mmkd_nb.world import make_world, WorldConfig
    if a.router:
        from mmkd_nb.core import save_json
        doc = {"method": "mks2", "experiment": "router", "command": "python experiments/mks2.py " + " ".join(argv if argv is not None else sys.argv[1:]),
               "date": datetime.date.today().isoformat(), "preset": a.preset, "seed": a.seeds[0], "versions": versions(),
               **router_doc(Path(a.cache), a.preset, a.seeds[0])}
        save_json(doc, Path(a.out) / f"mks2-router-{a.preset}.json"); print(f"wrote {Path(a.out) / f'mks2-router-{a.preset}.json'}")
        return doc
    group = GROUPS[a.group]
    if a.storage_steps:
        if a.group != "table4": ap.error("--storage-steps belongs to --group table4")
        group = [(f"D/{4 if r == 0.25 else 2}, {n} storage steps", {"storage.mvm_ratio": r, "storage.max_steps": n}, ["mks2-text"])
                 for n in a.storage_steps for r in (0.25, 0.5)]
    variants = [v for v in group if a.variants is None or v[0] in a.variants]
    base = MKS2RunConfig.preset(a.preset).with_(**_parse_set(a.set))
    path = Path(a.out) / f"mks2-{a.name or f'{a.group}-{a.preset}'}.json"
    doc = {"method": "mks2", "experiment": a.group, "command": "python experiments/mks2.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "date": datetime.date.today().isoformat(), "preset": a.preset, "seeds": a.seeds, "vqa_seeds": a.vqa_seeds,
           "encoder": encoder_key(base), "llm": base.storage.llm, "versions": versions(),
           "machine": {"cpus": os.cpu_count(), "threads": torch.get_num_threads(), "workers": a.workers,
                       "load_avg_at_start": os.getloadavg()[0]},
           "variants": {}}
    t0 = time.time()
    world = make_world(WorldConfig.preset(base.world))
    models = load_models(base)
    for name, over, arms in variants:
        cfg = base.with_(**over)
        entry = doc["variants"][name] = {"overrides": over, "arms": a.arms or arms, "config": cfg.to_dict()}
        print(f"== {a.group} / {name} ==", flush=True)
        folder = run_folder(a.cache, a.preset, a.group, name, cfg)
        # one storage run shared by every seed, or (--paired-storage) one per seed, each with its own sharing runs
        plan = ([(cfg.with_(**{"storage.seed": s}), [s], folder / f"storage-seed-{s}") for s in a.seeds] if a.paired_storage
                else [(cfg, a.seeds, folder)])
        done, by_seed = [], {}
        def save(res, entry=entry, seeds=None):
            if a.paired_storage:
                by_seed[str(seeds[0])] = res["storage"]
                entry.update(storage_by_seed=by_seed, storage_summary=storage_summary(by_seed))
            else: entry.update(storage=res["storage"])
            entry.update(runs=done + res["runs"], summary=summarize(done + res["runs"]), baselines=res.get("baselines"))
            doc["seconds"] = round(time.time() - t0, 1)
            save_json(doc, path)
        skey = lambda c: c.storage.digest() + f"-{c.world}-{c.pairs_frac}-{encoder_key(c).rsplit(':', 1)[-1][:12]}"
        if a.workers > 1:   # one job per seed (and its storage run); this process alone writes the file
            arm_list = a.arms or arms
            if not a.paired_storage and any(ARMS[x]["memory"] for x in arm_list):
                ensure_storage(cfg, Path(a.cache) / a.preset / f"storage-{skey(cfg)}", world, models)
            jobs = [(c.to_dict(), arm_list if i == 0 or a.paired_storage else [x for x in arm_list if ARMS[x]["train"]], seeds, str(out),
                     a.vqa_seeds, str(Path(a.cache) / a.preset / f"storage-{skey(c)}"))
                    for i, (c, seeds, out) in enumerate([(c, [s], out) for c, ss, out in plan for s in ss])]
            def finished(job, res):
                save(res, seeds=job[2])
                done.extend(res["runs"])
            map_processes(run_job, jobs, workers=a.workers, on_done=finished)
            continue
        for c, seeds, out in plan:
            res = run_grid(c, a.arms or arms, seeds, out, world, models, log=lambda s: print(s, flush=True),
                           on_run=lambda r, seeds=seeds: save(r, seeds=seeds),
                           vqa_seeds=a.vqa_seeds, storage_dir=Path(a.cache) / a.preset / f"storage-{skey(c)}")
            save(res, seeds=seeds); done += res["runs"]
    print(f"wrote {path} after {time.time() - t0:.0f}s")
    return doc


if __name__ == "__main__":
    main()
