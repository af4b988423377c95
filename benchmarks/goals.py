"""Each method's step against its goal, with an interval: the four ratios the benchmarks are held to, measured in one
run with enough repeats that the machine's noise can be told apart from the distance to the goal.

  VIKDF joint step / its irreducible cost     <= 1.30   (benchmarks/vikdf.py, arms base and vikdf)
  MKS2 storage step / its irreducible cost    <= 1.10   (benchmarks/mks2.py, arms storage-base and storage)
  MKS2 MoMEs step / plain LoRA of its rank    <= 1.15   (benchmarks/mks2.py, arms lora and momes)
  MmDC student step / its irreducible cost    <= 1.10   (benchmarks/mmdc.py, arms base and student)

Each script runs only those arms (`--arms`; mks2 adds its frozen-LLM base), every arm in a fresh process, arms
interleaved within a repeat. A goal's ratio is taken within each repeat (the arm's process and its reference's ran
one after the other, under about the same load): on a CPU the ratio of their median CPU times per step, on a GPU of
their median wall times. Over the repeats, `ratio_interval` gives the geometric mean with a 95 % Student-t interval on
the logarithms, and `goal_verdict` reads it: 'met' when the whole interval is at or under the goal, 'missed' when all
of it is above, else 'inconclusive' (more repeats, or a quieter machine, would be needed to decide).

    python benchmarks/goals.py --threads 1 --repeats 8              # the small preset on the CPU
    python benchmarks/goals.py --device cuda --repeats 8            # on a GPU

Writes benchmarks/results/goals-<device>-<preset>.json (the goals, and each script's whole result under `results`) and
prints a markdown table.

    python benchmarks/goals.py --flops                              # how low each ratio can go: its FLOP ratio

runs each arm once, for one step under torch's FlopCounterMode (`count_flops`), and writes
benchmarks/results/goals-flops-<preset>.json: per goal, the matrix-product FLOPs of the arm's step and of its
reference's, and their ratio. That ratio is the floor of the time ratio for an implementation whose kernels run as
fast as the reference's: a goal under it can only be met by doing less arithmetic, not by removing overhead.
"""
from __future__ import annotations
import argparse, sys, tempfile, time
from pathlib import Path

from common import HERE, goal_verdict, machine_meta, ratio_interval, repeat_ratios

GOALS = [dict(name="VIKDF joint step / irreducible", script="vikdf", arm="vikdf", ref="base", goal=1.30),
         dict(name="MKS2 storage step / irreducible", script="mks2", arm="storage", ref="storage-base", goal=1.10),
         dict(name="MKS2 MoMEs step / plain LoRA", script="mks2", arm="momes", ref="lora", goal=1.15),
         dict(name="MmDC student step / irreducible", script="mmdc", arm="student", ref="base", goal=1.10)]


def summarise(results: dict, device: str) -> list[dict]:
    "One entry per goal: the per-repeat ratios, their interval and the verdict, from each script's result."
    key = "step_s_all" if device.startswith("cuda") else "cpu_s_all"
    out = []
    for g in GOALS:
        by = {r["arm"]: r for r in results[g["script"]]["rows"]}
        ratios = repeat_ratios(by[g["arm"]], by[g["ref"]], key)
        iv = ratio_interval(ratios)
        out.append(dict(g, measure=key.removesuffix("_all"), ratios=ratios, interval=iv, verdict=goal_verdict(iv, g["goal"])))
    return out


def flop_floors(results: dict) -> list[dict]:
    "One entry per goal: the FLOPs of the arm's step and of its reference's (`count_flops`), and their ratio."
    out = []
    for g in GOALS:
        by = {r["arm"]: r for r in results[g["script"]]["rows"]}
        arm, ref = by[g["arm"]]["flops"], by[g["ref"]]["flops"]
        out.append(dict(g, flops=arm["total"], ref_flops=ref["total"], ratio=arm["total"] / ref["total"],
                        by_op=arm["by_op"], ref_by_op=ref["by_op"]))
    return out


def flops_markdown(floors: list[dict]) -> str:
    "The table: goal, GFLOPs of the step and of its reference, their ratio."
    rows = [f"| {g['name']} | ≤ {g['goal']:.2f} | {g['flops'] / 1e9:.1f} | {g['ref_flops'] / 1e9:.1f} | {g['ratio']:.3f} |"
            for g in floors]
    return "\n".join(["| step | goal | GFLOP per step | reference's GFLOP | FLOP ratio |", "|---|---|---|---|---|", *rows])


def markdown(goals: list[dict]) -> str:
    "The table: goal, ratio with its interval, repeats, verdict."
    rows = [f"| {g['name']} | ≤ {g['goal']:.2f} | {g['interval']['ratio']:.3f} [{g['interval']['low']:.3f}, "
            f"{g['interval']['high']:.3f}] | {g['interval']['n']} | {g['verdict']} |" for g in goals]
    return "\n".join(["| step | goal | ratio [95 % interval] | repeats | verdict |", "|---|---|---|---|---|", *rows])


def parse_args(argv=None) -> argparse.Namespace:
    "The flags of `python benchmarks/goals.py`."
    ap = argparse.ArgumentParser(prog="python benchmarks/goals.py", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--preset", default="small", choices=["tiny", "micro", "small", "paper"])
    ap.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    ap.add_argument("--repeats", type=int, default=8, help="fresh processes per arm (at least 2: the interval needs them)")
    ap.add_argument("--steps", type=int, default=3, help="timed steps per process")
    ap.add_argument("--warmup", type=int, default=1, help="untimed steps first, in each process")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--out", default=str(HERE / "results"), help="folder for the result JSON")
    ap.add_argument("--flops", action="store_true", help="count each step's FLOPs (one step per arm, nothing timed) "
                                                         "and write goals-flops-<preset>.json instead")
    a = ap.parse_args(argv)
    if a.flops: a.repeats, a.steps, a.warmup = 1, 1, 0
    elif a.repeats < 2: ap.error(f"--repeats {a.repeats}; expected >= 2, the interval needs two ratios")
    return a


def main(argv: list[str] | None = None) -> dict:
    "Run the three scripts on the goals' arms, write the JSON, print the table, return the result."
    import importlib
    a, t0 = parse_args(argv), time.perf_counter()
    out, results = Path(a.out), {}
    with tempfile.TemporaryDirectory() as tmp:        # each script's own file; its whole result goes into ours
        common = ["--presets", a.preset, "--device", a.device, "--repeats", str(a.repeats), "--steps", str(a.steps),
                  "--warmup", str(a.warmup), "--threads", str(a.threads), "--out", tmp, *(["--flops"] if a.flops else [])]
        for script in dict.fromkeys(g["script"] for g in GOALS):
            arms = [g["arm"] for g in GOALS if g["script"] == script]
            print(f"{script}: arms {arms} and their references, {a.repeats} repeats", file=sys.stderr)
            results[script] = importlib.import_module(script).main([*common, "--arms", *arms])
    dev = results["mmdc"]["rows"][0]["device"].split(":")[0]
    meta = dict(machine_meta("goals.py", argv if argv is not None else sys.argv[1:], dev),
                seconds=round(time.perf_counter() - t0, 1), preset=a.preset)
    if a.flops:
        floors = flop_floors(results)
        res, name = dict(meta=meta, goals=floors, table=flops_markdown(floors), results=results), f"goals-flops-{a.preset}.json"
    else:
        goals = summarise(results, dev)
        res, name = dict(meta=meta, goals=goals, table=markdown(goals), results=results), f"goals-{dev}-{a.preset}.json"
    from mmkd_nb.core import save_json
    out.mkdir(parents=True, exist_ok=True)
    save_json(res, out / name)
    print(res["table"])
    return res


if __name__ == "__main__":
    main()
