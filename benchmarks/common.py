"""What every benchmark script here shares: peak-memory sampling, the timed loop, one fresh process per
arm (repeated, arms interleaved, medians over the repeats), and the machine facts written next to the numbers.

A script imports this as `from common import ...` (it runs as `python benchmarks/<name>.py`, so this folder
is on `sys.path`). Each script defines its own `worker(args) -> dict` for one arm and calls `run_arms`.
"""
from __future__ import annotations
import argparse, json, math, os, platform, statistics, subprocess, sys, threading, time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
HERE = Path(__file__).resolve().parent


class RSSPeak:
    "Highest resident set size seen while running, sampled every `every` seconds by a thread."
    def __init__(self, every: float = 0.002):
        import psutil
        self.proc, self.every, self.peak, self._stop = psutil.Process(), every, 0, threading.Event()
    def rss(self) -> int: return self.proc.memory_info().rss
    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss()); time.sleep(self.every)
    def __enter__(self):
        self.peak = self.rss(); self._t = threading.Thread(target=self._run, daemon=True); self._t.start(); return self
    def __exit__(self, *exc):
        self._stop.set(); self._t.join(); self.peak = max(self.peak, self.rss())


def profile_step(step, steps: int = 2, top: int = 12) -> dict:
    """`steps` more calls of `step()` under the torch profiler (CPU): the split of CPU time into forward, backward and
    optimizer, and the `top` operators by self CPU time. Backward is every autograd engine node (their totals do not
    nest), optimizer every `Optimizer.step` / `zero_grad` region, forward the rest; times are ms per step."""
    from torch.profiler import profile, ProfilerActivity
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps): step()
    ev = prof.key_averages()
    wrap = ("autograd::engine::evaluate_function", "Optimizer.", "ProfilerStep")
    total = sum(e.self_cpu_time_total for e in ev) / 1e3 / steps
    bwd = sum(e.cpu_time_total for e in ev if e.key.startswith(wrap[0])) / 1e3 / steps
    opt = sum(e.cpu_time_total for e in ev if e.key.startswith(wrap[1])) / 1e3 / steps
    ops = sorted((e for e in ev if not e.key.startswith(wrap)), key=lambda e: -e.self_cpu_time_total)[:top]
    return dict(total_ms=total, forward_ms=total - bwd - opt, backward_ms=bwd, optimizer_ms=opt,
                top=[dict(op=e.key, self_ms=e.self_cpu_time_total / 1e3 / steps, calls=e.count / steps,
                          share=e.self_cpu_time_total / 1e3 / steps / max(total, 1e-9)) for e in ops])


def _cpu_attention_formulas() -> dict:
    "FLOP formulas for the CPU flash-attention kernels, which torch's counter leaves out (it has the CUDA ones)."
    import torch
    from torch.utils.flop_counter import sdpa_flop_count, sdpa_backward_flop_count
    aten = torch.ops.aten
    def fwd(q, k, v, *args, out_shape=None, **kw): return sdpa_flop_count(q, k, v)
    def bwd(grad_out, q, k, v, *args, out_shape=None, **kw): return sdpa_backward_flop_count(grad_out, q, k, v)
    return {aten._scaled_dot_product_flash_attention_for_cpu: fwd,
            aten._scaled_dot_product_flash_attention_for_cpu_backward: bwd}


def count_flops(step) -> dict:
    """One more call of `step()` under torch's `FlopCounterMode`: the floating-point operations of its matrix products
    (mm, addmm, bmm, convolutions, attention; two per multiply-add), forward and backward, by operator. Elementwise
    work (norms, activations, the optimizer's update) is not counted: this is the step's matrix work, which no
    implementation of the same computation avoids."""
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False, custom_mapping=_cpu_attention_formulas()) as fc: step()
    by_op = {str(k).removeprefix("aten."): int(v) for k, v in fc.get_flop_counts()["Global"].items()}
    return dict(total=int(fc.get_total_flops()), by_op=dict(sorted(by_op.items(), key=lambda kv: -kv[1])))


def measure(step, dev, warmup: int, steps: int, profile: bool = False, flops: bool = False) -> dict:
    """Run `step()` `warmup` untimed then `steps` timed times on device `dev`; step times and peak memory.

    Each step's wall-clock time is kept, and on a CPU also the CPU time of this thread (where torch runs
    both passes with one thread): on a shared machine the wall clock counts the time other processes held
    the core, the thread's CPU time much less so.

    Memory is what the steps add over what was resident before the first one (the loaded models):
    the peak RSS increase on a CPU, the `torch.cuda.max_memory_allocated` increase on a GPU. Warm-up
    steps count, so optimizer states and the allocator's first pages are in it."""
    import torch, resource
    cuda = dev.type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    times, cpu = [], []
    load0 = os.getloadavg()[0]
    if cuda: sync(); torch.cuda.reset_peak_memory_stats(); base = torch.cuda.memory_allocated()
    with RSSPeak() as rss:
        base_rss = rss.peak
        for i in range(warmup + steps):
            sync(); t, c = time.perf_counter(), time.thread_time(); step(); sync()
            if i >= warmup: times.append(time.perf_counter() - t); cpu.append(time.thread_time() - c)
    peak = (torch.cuda.max_memory_allocated() - base) if cuda else (rss.peak - base_rss)
    prof = profile_step(step) if profile and not cuda else None
    return dict(profile=prof, flops=count_flops(step) if flops else None, device=str(dev), threads=torch.get_num_threads(), step_s_median=statistics.median(times), step_s_all=times,
                cpu_s_median=statistics.median(cpu), cpu_s_all=cpu,
                peak_mem_mb=peak / 2**20,
                peak_mem_kind="cuda max_memory_allocated increase" if cuda
                else "peak RSS increase over the loaded models (sampled every 2 ms)",
                process_max_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                load_avg_1min=[load0, os.getloadavg()[0]])


def add_common_args(ap, steps: int = 4, warmup: int = 1, repeats: int = 2):
    "The flags every benchmark script takes: presets, device, steps, repeats, threads, output folder, seed."
    ap.add_argument("--presets", nargs="+", default=["tiny", "small"], choices=["tiny", "micro", "small", "paper"], help="presets to measure")
    ap.add_argument("--profile", action="store_true", help="after the timed steps, two steps under the torch profiler (CPU): "
                                                            "forward / backward / optimizer split and top operators")
    ap.add_argument("--flops", action="store_true", help="after the timed steps, one step under torch's FlopCounterMode: "
                                                          "the matrix-product FLOPs of a step, by operator (`count_flops`)")
    ap.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    ap.add_argument("--steps", type=int, default=steps, help="timed steps per process")
    ap.add_argument("--warmup", type=int, default=warmup, help="untimed steps first, in each process")
    ap.add_argument("--repeats", type=int, default=repeats, help="fresh processes per arm (arms interleaved); medians over all of them")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--arms", nargs="+", default=None, help="measure only these arms (their base and reference arms "
                                                             "are added); default every arm")
    ap.add_argument("--seed", type=int, default=0, help="which training examples make the batch")
    ap.add_argument("--out", default=str(HERE / "results"), help="folder for the result JSON")
    ap.add_argument("--arm", help=argparse.SUPPRESS)       # set in worker processes
    ap.add_argument("--preset", help=argparse.SUPPRESS)
    return ap


def script_parser(script: str, doc: str, steps: int = 3, warmup: int = 1, repeats: int = 2) -> argparse.ArgumentParser:
    "The parser of the method benchmark `script` (its `__file__`): usage from its docstring `doc`, and the common flags."
    ap = argparse.ArgumentParser(prog=f"python benchmarks/{Path(script).name}", description=doc.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=doc.split("\n\n", 1)[1])
    return add_common_args(ap, steps=steps, warmup=warmup, repeats=repeats)


def forward_args(a, keys: list[str]) -> list[str]:
    "The flags `keys` of namespace `a` again as command-line words, for a worker process."
    out = []
    for k in keys:
        v = getattr(a, k)
        if isinstance(v, bool):
            if v: out.append("--" + k.replace("_", "-"))
        elif v is not None: out += ["--" + k.replace("_", "-"), str(v)]
    return out


def run_arm(script: Path, preset: str, arm: str, args: list[str]) -> dict:
    "Run one arm of `script` in a fresh Python process and return the dict its worker printed."
    cmd = [sys.executable, str(script), "--preset", preset, "--arm", arm, *args]
    r = subprocess.run(cmd, capture_output=True, text=True)
    line = [l for l in r.stdout.splitlines() if l.startswith("RESULT ")]
    if r.returncode or not line:
        raise RuntimeError(f"{script.name} {preset}/{arm} failed (exit {r.returncode}):\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}")
    return json.loads(line[-1][7:])


def run_arms(script: Path, presets: list, arms: list, args: list[str], repeats: int = 1, log=print) -> list[dict]:
    """Every (preset, arm) `repeats` times, each in a fresh process, arms interleaved within a repeat so that a
    change of machine load hits them alike; one row per (preset, arm) with medians over the repeats."""
    rows = []
    for p in presets:
        runs = {arm: [] for arm in arms}
        for r in range(repeats):
            for arm in arms:
                runs[arm].append(run_arm(script, p, arm, args))
                x = runs[arm][-1]
                log(f"{p:6s} {arm:8s} repeat {r + 1}/{repeats}: {x['step_s_median']:.3f} s/step  {x['peak_mem_mb']:.0f} MiB")
        for arm in arms:
            rs = runs[arm]
            per = ("step_s_median", "step_s_all", "cpu_s_median", "cpu_s_all", "peak_mem_mb", "process_max_rss_mb", "load_avg_1min")
            row = {k: v for k, v in rs[0].items() if k not in per}
            row.update(step_s_median=statistics.median([t for x in rs for t in x["step_s_all"]]),
                       cpu_s_median=statistics.median([t for x in rs for t in x["cpu_s_all"]]),
                       peak_mem_mb=statistics.median([x["peak_mem_mb"] for x in rs]),
                       repeats=[{k: x[k] for k in per} for x in rs])
            rows.append(row)
    return rows


def repeat_ratios(row: dict, ref: dict, key: str = "cpu_s_all") -> list[float]:
    """The CPU-time ratio of `row` to `ref` within each repeat (the median step of each process, paired by repeat:
    the two processes ran one after the other, so they saw about the same machine load). Their spread is the noise.
    `key='step_s_all'` gives the wall-time ratio instead (on a GPU)."""
    med = lambda x: statistics.median(x[key])
    return [med(a) / med(b) for a, b in zip(row["repeats"], ref["repeats"])]


def ratio_interval(ratios: list[float], level: float = 0.95) -> dict:
    """The geometric mean of per-repeat ratios (`repeat_ratios`) with a Student-t interval on their logarithms: a ratio
    is a product, so its noise is symmetric in log space. {'ratio', 'low', 'high', 'n', 'level'}; needs two repeats."""
    from mmkd_nb.evidence import t_quantile
    if len(ratios) < 2 or min(ratios) <= 0:
        raise ValueError(f"ratio_interval: {len(ratios)} ratios (min {min(ratios, default=None)}); expected >= 2, all > 0")
    logs = [math.log(r) for r in ratios]
    m, half = statistics.fmean(logs), t_quantile((1 + level) / 2, len(logs) - 1) * statistics.stdev(logs) / math.sqrt(len(logs))
    return dict(ratio=math.exp(m), low=math.exp(m - half), high=math.exp(m + half), n=len(logs), level=level)


def goal_verdict(interval: dict, goal: float) -> str:
    "'met' when the whole `ratio_interval` is at or under `goal`, 'missed' when all of it is above, else 'inconclusive'."
    return "met" if interval["high"] <= goal else "missed" if interval["low"] > goal else "inconclusive"


def add_ratios(rows: list[dict], base_arm: str, ref_arms: dict | None = None) -> list[dict]:
    """Each row's step-time, CPU-time and memory ratio to `base_arm` of its preset (`time_ratio`, `cpu_ratio`, `mem_ratio`),
    and, for the arms named in `ref_arms` (arm -> reference arm), the ratios to that reference too (`*_ratio_ref`).
    The CPU-time ratios are also kept per repeat (`cpu_ratio_repeats`, `cpu_ratio_ref_repeats`, see `repeat_ratios`) and,
    with two repeats or more, as a `ratio_interval` over them (`cpu_ratio_interval`, `cpu_ratio_ref_interval`)."""
    def find(p, arm): return next(r for r in rows if r["preset"] == p and r["arm"] == arm)
    for r in rows:
        b = find(r["preset"], base_arm)
        r["time_ratio"] = r["step_s_median"] / b["step_s_median"]
        r["cpu_ratio"] = r["cpu_s_median"] / b["cpu_s_median"]
        r["mem_ratio"] = r["peak_mem_mb"] / max(b["peak_mem_mb"], 1e-9)
        r["cpu_ratio_repeats"] = repeat_ratios(r, b)
        if len(r["cpu_ratio_repeats"]) > 1 and r is not b: r["cpu_ratio_interval"] = ratio_interval(r["cpu_ratio_repeats"])
        if ref_arms and r["arm"] in ref_arms:
            ref = find(r["preset"], ref_arms[r["arm"]])
            r.update(ref_arm=ref["arm"], time_ratio_ref=r["step_s_median"] / ref["step_s_median"],
                     cpu_ratio_ref=r["cpu_s_median"] / ref["cpu_s_median"],
                     mem_ratio_ref=r["peak_mem_mb"] / max(ref["peak_mem_mb"], 1e-9),
                     cpu_ratio_ref_repeats=repeat_ratios(r, ref))
            if len(r["cpu_ratio_ref_repeats"]) > 1: r["cpu_ratio_ref_interval"] = ratio_interval(r["cpu_ratio_ref_repeats"])
    return rows


def machine_meta(script: str, argv: list[str], device: str) -> dict:
    "Command, date, library versions and machine facts (cores, load) to store next to the numbers."
    import torch, transformers
    meta = dict(command=f"python benchmarks/{script} " + " ".join(argv), date=time.strftime("%Y-%m-%d %H:%M"),
                torch=torch.__version__, transformers=transformers.__version__, python=platform.python_version(),
                platform=platform.platform(), cpu_count=os.cpu_count(), load_avg_1min=os.getloadavg()[0],
                gpu=torch.cuda.get_device_name() if device == "cuda" else None)
    try:
        import peft; meta["peft"] = peft.__version__
    except ImportError: pass
    return meta


def markdown_table(rows: list[dict], labels: dict, base_arm: str) -> str:
    "One line per (preset, arm): step ms, CPU ms, peak MiB, the ratios to `base_arm`, and to a reference arm where set."
    out = ["| preset | LLM | B × T | arm | trainable params | step ms | CPU ms | peak MiB | time ratio | CPU ratio | memory ratio | vs | time | CPU | memory |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ref = (f"{labels.get(r['ref_arm'], r['ref_arm'])} | {r['time_ratio_ref']:.2f} | {r['cpu_ratio_ref']:.2f} | {r['mem_ratio_ref']:.2f}"
               if "ref_arm" in r else " | | | ")
        out.append(f"| {r['preset']} | {r['model']} | {r['batch']} × {r['tokens']} | {labels.get(r['arm'], r['arm'])} | "
                   f"{r['trainable_params']:,} | {1000 * r['step_s_median']:.0f} | {1000 * r['cpu_s_median']:.0f} | {r['peak_mem_mb']:.0f} | "
                   f"{r['time_ratio']:.2f} | {r['cpu_ratio']:.2f} | {r['mem_ratio']:.2f} | {ref} |")
    return "\n".join(out)


def training_captions(world_preset: str, batch: int, seed: int = 0) -> list:
    "`batch` training pairs of the built-in world `world_preset`, drawn with `seed`: the examples every arm reads."
    import random
    from mmkd_nb.world import WorldConfig, make_world
    pairs = make_world(WorldConfig.preset(world_preset)).pairs("train")
    if batch > len(pairs): raise ValueError(f"--batch {batch} but world {world_preset!r} has only {len(pairs)} training pairs")
    return random.Random(seed).sample(pairs, batch)


def caption_batch(tokenizer, captions: list, max_tokens: int) -> dict:
    "`BOS caption EOS` per caption, each cut to `max_tokens` tokens: input_ids, attention_mask, labels (B, T), pads at -100."
    from mmkd_nb.llm import build_prefix_batch
    from mmkd_nb.vikdf.bvif import clip_caption
    caps = [" " + clip_caption(tokenizer, c, max_tokens) for c in captions]
    b = build_prefix_batch(tokenizer, before=[""] * len(caps), targets=caps, bos=True, eos=True)
    return {k: b[k] for k in ("input_ids", "attention_mask", "labels")}


def llm_step(llm, batch: dict):
    """One forward + backward of a causal LM on `batch` with the next-token loss; returns the loss.

    The token embeddings are made a leaf that asks for gradients, so the backward pass runs through
    every layer even when nothing in the LLM trains (the frozen baseline) -- as it does in the methods,
    whose trainable input block (soft prompt, image tokens) sits before the first layer."""
    from mmkd_nb.llm import body_states, scored_loss
    emb = llm.get_input_embeddings()(batch["input_ids"]).detach().requires_grad_(True)     # (B, T, D_llm) leaf
    h = body_states(llm, inputs_embeds=emb, attention_mask=batch["attention_mask"])         # (B, T, D_llm)
    loss = scored_loss(llm, h, batch["labels"])                                              # the head where scored
    loss.backward()
    return loss


def select_arms(arms: list, wanted: list | None, base_arm: str, ref_arms: dict | None = None) -> list:
    "The arms to run, in the script's order: `wanted` (None = all) with the base arm and their reference arms added."
    if not wanted: return list(arms)
    unknown = sorted(set(wanted) - set(arms))
    if unknown: raise SystemExit(f"--arms: unknown arm(s) {unknown}; expected some of {arms}")
    keep = {base_arm, *wanted, *((ref_arms or {}).get(w) for w in wanted)}
    return [x for x in arms if x in keep]


def bench_main(script: str, a, argv, worker, arms: list, labels: dict, forwarded: list[str], name: str,
               base_arm: str = "llm", ref_arms: dict | None = None) -> dict:
    """The driver every method benchmark shares: in an arm's own process (`--arm`) run `worker` and print its result;
    otherwise run every arm of every preset in fresh processes, add the ratios, write `<out>/<name>-<device>.json`,
    print the markdown table and return the result."""
    t0 = time.perf_counter()
    if a.arm:
        print("RESULT " + json.dumps(worker(a))); return {}
    args = ["--device", a.device, *forward_args(a, forwarded)]
    arms = select_arms(arms, a.arms, base_arm, ref_arms)
    rows = run_arms(Path(script).resolve(), a.presets, arms, args, a.repeats, log=lambda s: print(s, file=sys.stderr))
    add_ratios(rows, base_arm, ref_arms)
    dev = rows[0]["device"].split(":")[0]
    meta = dict(machine_meta(Path(script).name, argv if argv is not None else sys.argv[1:], dev), seconds=round(time.perf_counter() - t0, 1))
    res = dict(meta=meta, base_arm=base_arm, **({"ref_arms": ref_arms} if ref_arms else {}),
               labels=labels, rows=rows, table=markdown_table(rows, labels, base_arm))
    from mmkd_nb.core import save_json
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    save_json(res, out / f"{name}-{dev}.json")
    print(res["table"])
    return res
