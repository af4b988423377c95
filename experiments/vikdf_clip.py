"""Does VIKDF's text-image matching (TIM) learn on `micro` with the global gradient-norm clip at 1.0?

    python experiments/vikdf_clip.py --seeds 0 --workers 2

Trains the joint stage (all five losses, 300 steps) two ways on each seed: with the clip at 1.0 (the Hugging Face
Trainer default the authors' code runs with) and without a clip, and writes each run's
loss curves (TIM's chance level is ln B) to experiments/results/vikdf-clip-micro.json. Runs live in
artifacts/vikdf-clip/<arm>-s<seed> and are reused.
"""
from __future__ import annotations
import argparse, datetime, json, math, os, platform, sys, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ARMS = {"clip1": {}, "noclip": {"max_grad_norm": 0.0}}
KEYS = ("loss", "tim", "tamim", "iamtm", "iaci", "iakr")


def run_arm(job) -> dict:
    "Train one (arm, seed) and return its smoothed curves."
    arm, seed, steps, cache = job
    import torch
    torch.set_num_threads(1)
    from mmkd_nb.vikdf.train import VIKDFConfig, train_vikdf, training_pairs
    train = {"max_steps": steps, "seed": seed, "max_grad_norm": 1.0, "log_every": 1, "progress": False, **ARMS[arm]}
    cfg = VIKDFConfig.preset("micro", train=train)
    t0 = time.time()
    _, res = train_vikdf(cfg, training_pairs(cfg), Path(cache) / f"{arm}-s{seed}")
    rows = [r for r in res.history if r.get("split") == "train"]
    win = max(1, len(rows) // 10)
    curves = {k: [round(sum(r[k] for r in rows[i:i + win]) / len(rows[i:i + win]), 4) for i in range(0, len(rows), win)]
              for k in KEYS if k in rows[0]}
    return {"arm": arm, "seed": seed, "steps": res.step, "batch_size": cfg.train.batch_size, "window": win,
            "curves": curves, "tim_chance": math.log(cfg.train.batch_size), "seconds": round(time.time() - t0, 1)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cache", default="artifacts/vikdf-clip")
    a = ap.parse_args(argv)
    from mmkd_nb.core import map_processes, save_json
    jobs = [(arm, s, a.steps, a.cache) for s in a.seeds for arm in ARMS]
    out = HERE / "results" / "vikdf-clip-micro.json"
    runs = []
    res = {"experiment": "vikdf-clip", "preset": "micro", "command": "python experiments/vikdf_clip.py " + " ".join(argv or sys.argv[1:]),
           "date": datetime.date.today().isoformat(), "machine": {"cpus": os.cpu_count(), "threads": 1, "workers": a.workers},
           "python": platform.python_version(), "runs": runs}
    def done(job, r):
        runs.append(r)
        save_json(res, out)
        print(f"{r['arm']} seed {r['seed']}: TIM {r['curves']['tim'][0]} -> {r['curves']['tim'][-1]} (chance {r['tim_chance']:.3f}), "
              f"loss {r['curves']['loss'][0]} -> {r['curves']['loss'][-1]}, {r['seconds']}s", flush=True)
    map_processes(run_arm, jobs, workers=a.workers, on_done=done)
    res["last_tim"] = {arm: [r["curves"]["tim"][-1] for r in runs if r["arm"] == arm] for arm in ARMS}
    save_json(res, out)
    return res


if __name__ == "__main__":
    main()
