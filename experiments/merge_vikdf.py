"""Merge `experiments/vikdf.py` results files that ran different seeds of the same comparison into one file.

    python experiments/merge_vikdf.py experiments/results/vikdf-control-micro.json experiments/results/vikdf-control-micro-s2.json

The first file is rewritten with every run (sorted by seed), `commands` (each file's command, in order) and
`merged_from`; the files must agree on preset, systems, joint and dialogue budgets and encoder, and no seed may
appear twice.
"""
from __future__ import annotations
import json, sys
from pathlib import Path

AGREE = ("preset", "systems", "pretrain_steps", "dialogue_overrides", "encoder")


def merge(paths: list[str]) -> dict:
    docs = [json.loads(Path(p).read_text()) for p in paths]
    for p, d in zip(paths[1:], docs[1:]):
        for k in AGREE:
            if d.get(k) != docs[0].get(k):
                raise ValueError(f"{p}: {k} = {d.get(k)!r}, expected {docs[0].get(k)!r} as in {paths[0]}")
    runs = [r for d in docs for r in d["runs"]]
    seeds = [r["seed"] for r in runs]
    if len(set(seeds)) != len(seeds): raise ValueError(f"seeds {sorted(seeds)}: a seed appears in two files")
    from mmkd_nb.vikdf.dialogue import summarise_runs
    runs = sorted(runs, key=lambda r: r["seed"])
    return {**docs[0], "runs": runs, "seeds": sorted(seeds), "summary": summarise_runs(runs),
            "complete": all(d["complete"] for d in docs), "seconds": round(sum(d["seconds"] for d in docs), 1),
            "commands": [c for d in docs for c in d.get("commands", [d["command"]])], "merged_from": list(paths)}


if __name__ == "__main__":
    if len(sys.argv) < 3: sys.exit(__doc__)
    from mmkd_nb.core import save_json
    out = merge(sys.argv[1:])
    save_json(out, sys.argv[1])             # atomic: a cut run leaves the old file whole
    print(f"{sys.argv[1]}: seeds {out['seeds']} from {len(sys.argv) - 1} files")
