"""The joint stage's loss curves of every VIKDF system in a results file, read from its cached runs.

    python experiments/vikdf_curves.py experiments/results/vikdf-ablations-micro.json experiments/results/vikdf-ablations-curves-micro.json

For each seed and VIKDF system of the results file, the joint run the experiment trained (or reused) is found by the
same cache key `experiment` uses (`--cache`, default artifacts/vikdf-experiments), and its history is averaged in
`--bins` equal windows of steps, per loss term (kd = λ1·TIM + λ2·TAMIM + λ3·IAMTM, ki = λ4·IACI + λ5·IAKR, loss =
kd + ki). `plateau` is the relative change of the total loss between the run's last two tenths of steps
(|mean of the last − mean of the one before| / the one before).
"""
from __future__ import annotations
import argparse, json, os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
TERMS = ("loss", "kd", "ki", "tamim", "iamtm", "iaci", "iakr")


def binned(rows: list[dict], key: str, bins: int) -> list[list[float]]:
    "(mid step, mean) of `key` in `bins` equal windows of the run's steps."
    rows = [r for r in rows if key in r]
    if not rows: return []
    n, out = len(rows), []
    for b in range(bins):
        part = rows[b * n // bins:(b + 1) * n // bins]
        if part: out.append([part[len(part) // 2]["step"], sum(r[key] for r in part) / len(part)])
    return out


def curves(results: dict, cache: Path, bins: int) -> dict:
    from mmkd_nb.vikdf.dialogue import parse_system, _vikdf_config
    from mmkd_nb.vikdf.train import VIKDFConfig
    base = VIKDFConfig.preset(results["preset"])
    out = {}
    for run in results["runs"]:
        for name in run["results"]:
            s = parse_system(name)
            if s["method"] != "vikdf": continue
            cfg = _vikdf_config(base, s, run["seed"], results.get("pretrain_steps"), True)
            hist = cache / f"vikdf-{cfg.digest()[:10]}-s{run['seed']}" / "history.jsonl"
            if not hist.is_file():
                raise FileNotFoundError(f"{hist}: the joint run of {name!r}, seed {run['seed']}, is not in {cache}")
            rows = [r for r in map(json.loads, hist.read_text().splitlines()) if r.get("split", "train") == "train"]
            c = {k: binned(rows, k, bins) for k in TERMS}
            tenth = [r["loss"] for r in rows[-len(rows) // 5:]]
            a, b = (sum(x) / len(x) for x in (tenth[:len(tenth) // 2], tenth[len(tenth) // 2:]))
            out.setdefault(name, {})[str(run["seed"])] = {
                "steps": rows[-1]["step"], "curves": {k: v for k, v in c.items() if v}, "plateau": abs(b - a) / a}
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results"); ap.add_argument("out")
    ap.add_argument("--cache", default="artifacts/vikdf-experiments")
    ap.add_argument("--bins", type=int, default=30)
    a = ap.parse_args()
    res = json.loads(Path(a.results).read_text())
    doc = {"from": a.results, "preset": res["preset"], "pretrain_steps": res.get("pretrain_steps"), "bins": a.bins,
           "command": "python experiments/vikdf_curves.py " + " ".join(
               [a.results, a.out] + (["--bins", str(a.bins)] if a.bins != 30 else [])),
           "systems": curves(res, Path(a.cache), a.bins)}
    Path(a.out).write_text(json.dumps(doc, indent=1))
    for name, seeds in doc["systems"].items():
        print(name, {s: f"{v['steps']} steps, plateau {v['plateau']:.3f}" for s, v in seeds.items()})
