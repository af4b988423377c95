"""What VIKDF costs: one training step of the joint model (`mmkd_nb.vikdf.train.VIKDF`: frozen dual encoder,
IQ-Former with its distillation heads, BVIF's two passes through the frozen LLM, AdamW update) against the
frozen LLM's forward + backward on the same captions.

Arms, each in a fresh process, on the same B training pairs of the built-in world:
  llm      the frozen LLM alone on `BOS caption EOS` (next-token loss; the token embeddings are a leaf that
           asks for gradients, so the backward runs through every layer, as in benchmarks/prefix.py)
  distill  VIKDF without BVIF (the ablation -BVIF): encoder, IQ-Former, L_tim + L_tamim + L_iamtm (Eq. 5)
  vikdf    the whole joint step: Eq. 5 + Eq. 9 (IACI's captioning pass and IAKR's reconstruction pass)
The method arms run a full training step (forward, backward, AdamW update of the trainable parameters);
the baseline has nothing to update. The offline encoder's towers are left untrained by default
(`train_encoder=False`): their size, hence the cost, is the same, and nothing is trained first.

    python benchmarks/vikdf.py --threads 1                   # tiny and small presets on the CPU
    python benchmarks/vikdf.py --device cuda --repeats 3     # on a GPU

Writes benchmarks/results/vikdf-<device>.json and prints a markdown table; the ratios to `llm` are tracked (on a
shared CPU, the ratio of the steps' CPU times: the wall clock there also counts the time other processes held the core).
"""
from __future__ import annotations
import argparse, json, random, sys, time
from pathlib import Path

from common import bench_main, add_common_args, caption_batch, llm_step, measure, training_captions

ARMS = ["llm", "distill", "vikdf"]
LABELS = {"llm": "frozen LLM", "distill": "VIKDF −BVIF (distillation only)", "vikdf": "VIKDF (both stages)"}


def config(a):
    "The run's `VIKDFConfig`: the preset, its batch size unless --batch is given, the encoder trained or not, the arm's ablation."
    from mmkd_nb.vikdf.train import VIKDFConfig, ablated
    over = dict(train_encoder=a.train_encoder)
    if a.batch: over["train"] = dict(batch_size=a.batch)
    cfg = VIKDFConfig.preset(a.preset, **over)
    return ablated(cfg, "-BVIF") if a.arm == "distill" else cfg


def worker(a) -> dict:
    "One arm in this process: build, warm up, time the steps, measure peak memory."
    import torch
    from mmkd_nb.core import get_device, count_params
    from mmkd_nb.llm import load_llm
    from mmkd_nb.train import make_optimizer
    from mmkd_nb.vikdf.train import build_vikdf, trainable_parameter_names
    if a.threads: torch.set_num_threads(a.threads)
    dev = get_device(a.device)
    cfg = config(a)
    pairs = training_captions(cfg.world, cfg.train.batch_size, a.seed)
    captions = [p.text for p in pairs]
    if a.arm == "llm":
        llm, tok = load_llm(cfg.llm)
        llm.to(dev)
        trainable, total = count_params(llm)
        if trainable: raise RuntimeError(f"the frozen LLM has {trainable} trainable parameters")
        batch = {k: v.to(dev) for k, v in caption_batch(tok, captions, cfg.bvif.max_caption_tokens).items()}
        losses = []
        def step(): losses.append(float(llm_step(llm, batch)))
    else:
        model = build_vikdf(cfg).to(dev).train()
        tok = model.plm.tokenizer
        trainable_parameter_names(model)                      # raises if a frozen part would train
        trainable, total = count_params(model)
        opt = make_optimizer(model, cfg.train)
        batch = {k: v.to(dev) if torch.is_tensor(v) else v for k, v in model.collate(pairs).items()}
        losses = []
        def step():
            # the same masks and instructions every step, so every step does the same work
            out = model(batch, generator=torch.Generator().manual_seed(a.seed), rng=random.Random(a.seed))
            out["loss"].backward(); opt.step(); opt.zero_grad(set_to_none=True)
            losses.append(float(out["loss"]))
    T = caption_batch(tok, captions, cfg.bvif.max_caption_tokens)["input_ids"].shape[1]
    m = measure(step, dev, a.warmup, a.steps)
    if not all(map(lambda x: x == x and abs(x) != float("inf"), losses)): raise RuntimeError(f"non-finite loss: {losses}")
    return dict(preset=a.preset, arm=a.arm, model=cfg.llm.name, batch=cfg.train.batch_size, tokens=T,
                queries=cfg.iqformer.num_queries, d_q=cfg.iqformer.hidden, iqformer_layers=cfg.iqformer.layers,
                encoder=dict(digest=cfg.encoder.digest(), backend=cfg.encoder.backend, trained=cfg.train_encoder),
                use_bvif=cfg.use_bvif, trainable_params=trainable, total_params=total, first_loss=losses[0], **m)


def parse_args(argv=None) -> argparse.Namespace:
    "The flags of `python benchmarks/vikdf.py`."
    ap = argparse.ArgumentParser(prog="python benchmarks/vikdf.py", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    add_common_args(ap, steps=3, warmup=1, repeats=2)
    ap.add_argument("--batch", type=int, default=0, help="B, pairs per step (0: the preset's train.batch_size)")
    ap.add_argument("--train-encoder", action="store_true", help="use the offline encoder with its trained image tower (cached on disk; trains it first if absent)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    "Measure every arm on every preset; write the JSON, print the table, return the result."
    return bench_main(__file__, parse_args(argv), argv, worker, ARMS, LABELS, ["steps", "warmup", "threads", "seed", "batch", "train_encoder"], "vikdf")


if __name__ == "__main__":
    main()
