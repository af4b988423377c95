"""What a soft prompt costs: forward+backward step time and peak memory of a frozen LLM with a
Q-vector trainable prefix (`mmkd_nb.llm.PrefixLM`) against the same LLM without one.

Both arms read the same B x T random tokens and score all of them with the same next-token loss.
Without a prefix nothing in a frozen LLM trains, so the baseline's token embeddings are made a leaf
that asks for gradients: both arms then run the full backward pass through every layer, and the
difference is what the Q extra positions and the splicing cost. Each arm runs in a fresh process,
so peak memory is not blurred by the other arm or by the allocator's cached pages.

    python benchmarks/prefix.py                           # tiny and small presets on the CPU
    python benchmarks/prefix.py --device cuda --batch 16  # on a GPU

Writes benchmarks/results/prefix-<device>.json and prints a markdown table; the ratio is what we track.
"""
from __future__ import annotations
import argparse, json, sys
from pathlib import Path

from common import HERE, machine_meta, measure, run_arm


def worker(a) -> dict:
    "One arm in this process: load, warm up, time `a.steps` steps, measure peak memory."
    import torch
    from mmkd_nb.core import get_device
    from mmkd_nb.llm import LLMConfig, PrefixLM, body_states, load_llm, scored_loss
    if a.threads: torch.set_num_threads(a.threads)
    dev = get_device(a.device)
    cfg = LLMConfig.preset(a.preset)
    llm, tok = load_llm(cfg.name, dtype=cfg.dtype)
    llm.to(dev)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(3, len(tok), (a.batch, a.tokens), generator=g).to(dev)     # (B, T) no special tokens
    mask = torch.ones_like(ids)
    D = llm.get_input_embeddings().embedding_dim
    if a.arm == "prefix":
        plm = PrefixLM(llm, tok).train()
        P = (torch.randn(a.batch, a.prefix, D, generator=g) * 0.02).to(dev, llm.dtype).requires_grad_(True)  # (B, Q, D_llm)
        def step():
            out = plm(ids, mask, prefix=P, insert_at=1, labels=ids, logits=False)     # after the first token, as after BOS
            out.loss.backward(); P.grad = None
            return out.loss
    else:
        def step():
            emb = llm.get_input_embeddings()(ids).detach().requires_grad_(True)    # (B, T, D_llm) leaf
            loss = scored_loss(llm, body_states(llm, inputs_embeds=emb, attention_mask=mask), ids)
            loss.backward()
            return loss
    m = measure(step, dev, a.warmup, a.steps)
    return dict(preset=a.preset, model=cfg.name, arm=a.arm, batch=a.batch, tokens=a.tokens,
                prefix=a.prefix if a.arm == "prefix" else 0, **m)


def table(rows) -> str:
    "The markdown table: one line per preset, the two arms side by side, and their ratios."
    out = ["| preset | LLM | B × T | Q | step s, no prefix | step s, prefix | time ratio | peak MB, no prefix | peak MB, prefix | memory ratio |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for p in dict.fromkeys(r["preset"] for r in rows):
        base = next(r for r in rows if r["preset"] == p and r["arm"] == "plain")
        pre = next(r for r in rows if r["preset"] == p and r["arm"] == "prefix")
        out.append(f"| {p} | {base['model']} | {base['batch']} × {base['tokens']} | {pre['prefix']} | "
                   f"{base['step_s_median']:.3f} | {pre['step_s_median']:.3f} | {pre['step_s_median'] / base['step_s_median']:.2f} | "
                   f"{base['peak_mem_mb']:.0f} | {pre['peak_mem_mb']:.0f} | {pre['peak_mem_mb'] / max(base['peak_mem_mb'], 1e-9):.2f} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", nargs="+", default=["tiny", "small"], help="LLMConfig presets to measure")
    ap.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto")
    ap.add_argument("--batch", type=int, default=8, help="B, examples per step")
    ap.add_argument("--tokens", type=int, default=48, help="T, text tokens per example")
    ap.add_argument("--prefix", type=int, default=32, help="Q, soft-prompt vectors (VIKDF and MKS2 use 32)")
    ap.add_argument("--steps", type=int, default=5, help="timed steps; the median is reported")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--out", default=str(HERE / "results"), help="folder for prefix-<device>.json")
    ap.add_argument("--arm", choices=["plain", "prefix"], help=argparse.SUPPRESS)   # set in worker processes
    ap.add_argument("--preset", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.arm:
        print("RESULT " + json.dumps(worker(a))); return {}
    rows = []
    for p in a.presets:
        for arm in ("plain", "prefix"):
            rows.append(run_arm(Path(__file__).resolve(), p, arm, ["--device", a.device, "--batch", str(a.batch), "--tokens", str(a.tokens),
                        "--prefix", str(a.prefix), "--steps", str(a.steps), "--warmup", str(a.warmup), "--threads", str(a.threads)]))
            print(f"{p:6s} {arm:6s} {rows[-1]['step_s_median']:.3f} s/step  {rows[-1]['peak_mem_mb']:.0f} MB", file=sys.stderr)
    dev = rows[0]["device"].split(":")[0]
    meta = machine_meta("prefix.py", argv if argv is not None else sys.argv[1:], dev)
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    from mmkd_nb.core import save_json
    res = dict(meta=meta, rows=rows, table=table(rows))
    save_json(res, out / f"prefix-{dev}.json")
    print(res["table"])
    return res


if __name__ == "__main__":
    main()
