"""MKS2's storage stage on the tiny preset with a checkpoint every K steps.

`python mks2_storage.py OUT --steps N --save-every K [--keep-last L] [--seed S]` does what
`python -m mmkd_nb.mks2.run storage --preset tiny --out OUT --seed S --set storage.max_steps=N`
does (the same seeding, then `train_storage`) and passes `save_every=K`, `keep_last=L` to
`train_storage`'s training overrides: the stage's command line has no setting for the checkpoint
frequency, so it checkpoints only at its last step. Resumes from OUT/storage/checkpoints as the
command does; prints the stage's summary as a JSON line.
"""
import argparse, json

import torch


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out")
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--save-every", type=int, required=True)
    ap.add_argument("--keep-last", type=int, default=2, help="checkpoints kept on disk")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    from mmkd_nb.core import is_main_process
    from mmkd_nb.mks2.run import MKS2RunConfig, train_storage
    cfg = MKS2RunConfig.preset("tiny").with_(**{"storage.max_steps": a.steps})
    cfg = cfg.with_(**{"storage.seed": a.seed})          # as `stage_storage` does
    torch.manual_seed(a.seed)
    _, summary = train_storage(cfg, a.out, save_every=a.save_every, keep_last=a.keep_last)
    if is_main_process(): print(json.dumps({"stage": "storage", **summary}, default=str))


if __name__ == "__main__":
    main()
