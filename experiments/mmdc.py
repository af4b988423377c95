"""MmDC on the `small` preset: the main run over seeds, τ (Table 4) and w/o alignment (Table 5).

Table 4's ends: tau=0 is "w/o easy" (every instruction difficult), tau=1 "w/o difficult" (none is, whatever S;
the student then has nothing to train on after iteration 0). "w/o alignment" runs no alignment step (W stays random;
its curve starts at "initial", not "aligned"). "plain" is the control of the paper's claim: plain instruction-tuning
distillation (calibration=False: no judge, no augmentor), paired seed by seed with "main" — the same teacher, aligned
student and seeds, and in every iteration as many teacher-answered D_sin instructions and training steps as main's
tuning pool had (run after main; it runs with main's --seeds). "main+lora" / "plain+lora" are the same pair with a
student that tunes LoRA adapters on its LLM in instruction tuning (the paper tunes the LLM there), not W and <STOP> alone.

    python experiments/mmdc.py                          # everything, in priority order
    python experiments/mmdc.py --arms main --seeds 0 1  # a part
    python experiments/mmdc.py --preset micro --arms main plain --seeds 0 1 2 --out experiments/results/mmdc-plain-micro.json
    python experiments/mmdc.py --arms tau=0 tau=1 --other-seeds 0 1 --out experiments/results/mmdc-tau-small.json
    python experiments/mmdc.py --arms "teacher 360 steps" --other-seeds 0 1 2 --out experiments/results/mmdc-teacher360-small.json
    python experiments/mmdc.py --preset micro --arms main control --workers 2   # runs on both cores, one thread each
    python experiments/mmdc.py --preset micro --arms main+lora plain+lora control+lora --seeds 0 1 2 3 4 --workers 2 \
        --set n_instructions=0 --set tune_steps=240 --set n_eval=0 --out experiments/results/mmdc-lora-micro.json
    python experiments/mmdc.py --preset micro --arms main+lora tau=0+lora tau=1+lora "w/o alignment+lora" \
        --seeds 0 1 2 3 4 --other-seeds 0 1 2 3 4 --threads 1 --set n_instructions=0 --set tune_steps=240 --set n_eval=0 \
        --out experiments/results/mmdc-tables-lora-micro.json     # Tables 4-5 for the LoRA student

Writes experiments/results/mmdc-small.json after every run (run folders under artifacts/experiments/mmdc).
"""
import argparse, sys
import torch
from mmkd_nb.mmdc.run import MmDCConfig, experiment

ARMS = {"main": {}, "w/o alignment": dict(use_align=False),
        "tau=0": dict(tau=0.0), "tau=0.67": dict(tau=0.67), "tau=1": dict(tau=1.0),   # w/o easy, middle, w/o difficult
        "teacher 360 steps": dict(teacher_steps=360),
        "control": dict(shuffle_images=True),
        "plain": dict(calibration=False),   # plain distillation, matched to main seed by seed (PAIRED)
        # the student tunes its LLM in instruction tuning (LoRA r = 8 on the top 8 layers' q/v), calibrated and plain
        "main+lora": dict(student_lora_r=8), "plain+lora": dict(calibration=False, student_lora_r=8),
        "control+lora": dict(shuffle_images=True, student_lora_r=8),   # ... and its shuffled-image control
        # Tables 4 and 5 for the LoRA student: τ's ends and no alignment
        "tau=0+lora": dict(tau=0.0, student_lora_r=8), "tau=1+lora": dict(tau=1.0, student_lora_r=8),
        "w/o alignment+lora": dict(use_align=False, student_lora_r=8)}
PAIRED = ("main", "plain", "main+lora", "plain+lora", "control+lora")   # arms run on --seeds; the others on --other-seeds

if __name__ == "__main__":
    ap = argparse.ArgumentParser(prog="python experiments/mmdc.py", description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="small", choices=("tiny", "micro", "small", "paper"))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds of the main and plain arms")
    ap.add_argument("--other-seeds", type=int, nargs="+", default=[0], help="seeds of every other arm")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default); recorded in the JSON")
    ap.add_argument("--workers", type=int, default=1, help="(arm, seed) runs at once, each in its own one-thread process")
    ap.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    ap.add_argument("--root", default="artifacts/experiments/mmdc")
    ap.add_argument("--out", default=None, help="default experiments/results/mmdc-<preset>.json")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="MmDCConfig field for every arm (repeatable)")
    ap.add_argument("--parse-only", action="store_true", help="check the command line and stop (experiments/gpu.py --check)")
    a = ap.parse_args()
    common = MmDCConfig.parse_sets(a.set)
    if a.parse_only: sys.exit(0)
    if a.threads or a.workers > 1: torch.set_num_threads(1 if a.workers > 1 else a.threads)
    arms = {k: ({**common, **ARMS[k]}, a.seeds if k in PAIRED else a.other_seeds) for k in a.arms}
    experiment(a.preset, arms, a.root, a.out or f"experiments/results/mmdc-{a.preset}.json", command="python " + " ".join(sys.argv),
               workers=a.workers)
