"""Merge `experiments/vikdf.py` results files of one comparison into one file.

    python experiments/merge_vikdf.py experiments/results/vikdf-control-micro.json experiments/results/vikdf-control-micro-s2.json

The first file is rewritten with every run (sorted by seed), `commands` (each file's command, in order) and
`merged_from`; the files must agree on preset, joint and dialogue budgets and encoder. A seed that appears in several
files gets the union of their systems (ablation rows run in separate calls); a system that two files both ran for one
seed must have the same numbers there (runs are deterministic given the seed), else the merge stops.
"""
from __future__ import annotations
import json, sys
from pathlib import Path

AGREE = ("preset", "pretrain_steps", "dialogue_overrides", "encoder")


def merge(paths: list[str]) -> dict:
    docs = [json.loads(Path(p).read_text()) for p in paths]
    for p, d in zip(paths[1:], docs[1:]):
        for k in AGREE:
            if d.get(k) != docs[0].get(k):
                raise ValueError(f"{p}: {k} = {d.get(k)!r}, expected {docs[0].get(k)!r} as in {paths[0]}")
    by_seed = {}
    for p, d in zip(paths, docs):
        for r in d["runs"]:
            have = by_seed.get(r["seed"])
            if have is None:
                by_seed[r["seed"]] = {**r, "results": dict(r["results"]), "seconds": dict(r["seconds"])}
                continue
            for s, rep in r["results"].items():
                old = have["results"].get(s)
                if old is not None and (old.get("BLEU-1"), old.get("attr_recall")) != (rep.get("BLEU-1"), rep.get("attr_recall")):
                    raise ValueError(f"{p}: seed {r['seed']} system {s!r} differs from the run of it in another file")
                have["results"].setdefault(s, rep)
                have["seconds"].setdefault(s, r["seconds"].get(s))
            have["systems"] = list(dict.fromkeys(have.get("systems", []) + r.get("systems", [])))
            have["total_seconds"] = round(have.get("total_seconds", 0) + r.get("total_seconds", 0), 1)
    from mmkd_nb.vikdf.dialogue import summarise_runs
    runs = [by_seed[s] for s in sorted(by_seed)]
    systems = list(dict.fromkeys(s for d in docs for s in d["systems"]))
    return {**docs[0], "systems": systems, "runs": runs, "seeds": sorted(by_seed), "summary": summarise_runs(runs),
            "complete": all(d["complete"] for d in docs) and all(set(systems) <= set(r["results"]) for r in runs),
            "seconds": round(sum(d["seconds"] for d in docs), 1),
            "commands": [c for d in docs for c in d.get("commands", [d["command"]])], "merged_from": list(paths)}


if __name__ == "__main__":
    if len(sys.argv) < 3: sys.exit(__doc__)
    from mmkd_nb.core import save_json
    out = merge(sys.argv[1:])
    save_json(out, sys.argv[1])             # atomic: a cut run leaves the old file whole
    print(f"{sys.argv[1]}: seeds {out['seeds']}, systems {out['systems']} from {len(sys.argv) - 1} files")
