"""The methods' key experiments on one GPU, at 20x or more of the CPU budget, inside a wall-clock limit.

    python experiments/gpu.py                       # every method on `micro`, budgets x20, stops starting runs after 8 min
    python experiments/gpu.py --scale 40 --minutes 8 --preset small
    python experiments/gpu.py --check               # parse every command (and say what would run) without running it

Each command is one of the experiment scripts (vikdf.py, mks2.py, mmdc.py) with its steps multiplied by `--scale` and
results written to experiments/results/*-<preset>-gpu.json; `mixed_precision="auto"` trains in bf16 on a GPU that has it.
The run's manifest (device name, torch/CUDA versions, each command with its exit code and seconds) goes to
experiments/results/gpu-<preset>.json, rewritten after every command. Nothing here is needed by the tests or by CI.
"""
from __future__ import annotations
import argparse, datetime, json, os, shlex, subprocess, sys, time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# CPU budgets of the `micro` runs these scale (joint / storage / teacher steps; dialogue / sharing / calibration steps)
CPU_BUDGET = {"vikdf": {"pretrain": 60, "dialogue": 48}, "mks2": {"storage": 150, "sharing": 300},
              "mmdc": {"teacher": 120, "align": 16, "tune": 12}}


def commands(preset: str, scale: int, seeds: list[int]) -> list[list[str]]:
    "The experiment commands, budgets multiplied by `scale`, key comparison (method vs its control) first."
    s, b, py = [str(x) for x in seeds], CPU_BUDGET, sys.executable
    v, m, d = b["vikdf"], b["mks2"], b["mmdc"]
    return [
        [py, str(HERE / "vikdf.py"), "--preset", preset, "--group", "control", "--seeds", *s, "--name", f"control-{preset}-gpu",
         "--pretrain-steps", str(v["pretrain"] * scale), "--steps", str(v["dialogue"] * scale)],
        [py, str(HERE / "mks2.py"), "--preset", preset, "--group", "control", "--seeds", *s, "--paired-storage",
         "--name", f"control-{preset}-gpu", "--set", f"storage.max_steps={m['storage'] * scale}",
         "--set", f"sharing.max_steps={m['sharing'] * scale}"],
        [py, str(HERE / "mmdc.py"), "--preset", preset, "--arms", "main", "control", "--seeds", *s, "--other-seeds", *s,
         "--out", str(HERE / "results" / f"mmdc-{preset}-gpu.json"), "--set", f"teacher_steps={d['teacher'] * scale}",
         "--set", f"align_steps={d['align'] * scale}", "--set", f"tune_steps={d['tune'] * scale}"],
    ]


def device_info() -> dict:
    "The accelerator this runs on (what the results files record)."
    import torch
    info = {"torch": torch.__version__, "cuda": torch.version.cuda, "cuda_available": torch.cuda.is_available()}
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        info.update(name=p.name, memory_gib=round(p.total_memory / 2**30, 1), bf16=torch.cuda.is_bf16_supported(),
                    count=torch.cuda.device_count())
    return info


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="micro", choices=["tiny", "micro", "small"])
    ap.add_argument("--scale", type=int, default=20, help="multiply every CPU step budget by this")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--minutes", type=float, default=8.0, help="start no new command after this many minutes")
    ap.add_argument("--check", action="store_true", help="parse every command with its script's parser; run nothing")
    a = ap.parse_args(argv)
    cmds = commands(a.preset, a.scale, a.seeds)
    if a.check:
        for c in cmds:   # each script must accept its command line (--help-free dry parse)
            r = subprocess.run([*c[:2], "--parse-only", *c[2:]], capture_output=True, text=True)
            print(("ok  " if r.returncode == 0 else "BAD ") + shlex.join(c[1:]) + ("" if r.returncode == 0 else "\n" + r.stderr))
            if r.returncode: raise SystemExit(f"{c[1]} does not accept its command line")
        return {"commands": [shlex.join(c[1:]) for c in cmds]}
    path = HERE / "results" / f"gpu-{a.preset}.json"
    doc = {"command": "python experiments/gpu.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "date": datetime.date.today().isoformat(), "device": device_info(), "scale": a.scale, "runs": []}
    t0 = time.time()
    for c in cmds:
        if time.time() - t0 > 60 * a.minutes:
            doc["runs"].append({"command": shlex.join(c[1:]), "skipped": "wall-clock limit reached"})
            continue
        t = time.time()
        rc = subprocess.run(c, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"}).returncode
        doc["runs"].append({"command": shlex.join(c[1:]), "returncode": rc, "seconds": round(time.time() - t, 1)})
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc, indent=1))
    print(json.dumps(doc, indent=1))
    return doc


if __name__ == "__main__":
    main()
