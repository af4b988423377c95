"""Run a stage's command-line entry point so that it stops dead right after one of its checkpoints.

`python hang_after_checkpoint.py WHERE -m MODULE [ARGS ...]` does what `python -m MODULE ARGS ...`
does (`... WHERE SCRIPT [ARGS ...]`: what `python SCRIPT ARGS ...` does), in this process, with
`mmkd_nb.train.save_checkpoint` wrapped: once the checkpoint whose folder path ends with WHERE (e.g.
`checkpoints/step_000010`, `iter_01/student/train/checkpoints/step_000002`) is committed and
`latest` names it, every process writes `hanging_<rank>` beside it and sleeps, so that a test can
kill the run at a known step. Runs alike under `python` and `accelerate launch` (every rank hangs).
The training itself is unchanged.
"""
import os, runpy, sys, time
from pathlib import Path


def main():
    if len(sys.argv) < 3 or (sys.argv[2] == "-m" and len(sys.argv) < 4): raise SystemExit(__doc__)
    where, rest = sys.argv[1], sys.argv[2:]
    module, script = (rest[1], None) if rest[0] == "-m" else (None, rest[0])
    args = rest[2:] if module else rest[1:]
    from mmkd_nb import train
    save = train.save_checkpoint

    def save_then_hang(*a, **kw):
        path = save(*a, **kw)
        if Path(path).as_posix().endswith(where):
            rank = os.environ.get("RANK", "0")
            (Path(path).parent / f"hanging_{rank}").write_text(str(path))
            time.sleep(600)
        return path

    train.save_checkpoint = save_then_hang   # `fit` looks it up in `mmkd_nb.train` at every save
    sys.argv = [module or script, *args]
    if module: runpy.run_module(module, run_name="__main__", alter_sys=True)
    else: runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
