"""What VIKDF costs: one training step of the joint model (`mmkd_nb.vikdf.train.VIKDF`: frozen dual encoder,
IQ-Former with its distillation heads, BVIF's two passes through the frozen LLM, AdamW update) against the
frozen LLM's forward + backward on the same captions.

Arms, each in a fresh process, on the same B training pairs of the built-in world:
  base     the irreducible cost, the ratios' base: the frozen parts on exactly what VIKDF feeds them and nothing
           else -- the towers' forward on the captions and images and on their masked copies (TAMIM, IAMTM), the
           LLM's forward + backward over IACI's spliced sequence (block of Q leaf vectors, the head only where a
           caption token is scored) and over IAKR's (its Q predicting states), same shapes, no trainable part
  llm      the frozen LLM alone on `BOS caption EOS` (next-token loss; the token embeddings are a leaf that
           asks for gradients, so the backward runs through every layer, as in benchmarks/prefix.py)
  distill  VIKDF without the integration stage (the ablation -KI): encoder, IQ-Former, L_tim + L_tamim + L_iamtm (Eq. 5)
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

from common import bench_main, caption_batch, llm_step, measure, script_parser, training_captions

ARMS = ["base", "llm", "distill", "vikdf"]
LABELS = {"base": "irreducible: frozen parts on VIKDF's sequences", "llm": "frozen LLM on the captions", "distill": "VIKDF −KI (distillation only)", "vikdf": "VIKDF (both stages)"}


def config(a):
    "The run's `VIKDFConfig`: the preset, its batch size unless --batch is given, the encoder trained or not, the arm's ablation."
    from mmkd_nb.vikdf.train import VIKDFConfig, ablated
    over = dict(train_encoder=a.train_encoder)
    if a.batch: over["train"] = dict(batch_size=a.batch)
    cfg = VIKDFConfig.preset(a.preset, **over)
    return ablated(cfg, "-KI") if a.arm == "distill" else cfg


def base_step(cfg, pairs, dev, seed: int):
    "The irreducible step (see the module docstring): (step, tokenizer, 0 trainable, frozen params, its losses)."
    import torch
    from mmkd_nb.core import count_params
    from mmkd_nb.llm import scored_loss
    from mmkd_nb.vikdf.bvif import draw_prompts, query_predictor_states, spliced_states
    from mmkd_nb.vikdf.train import build_vikdf
    model = build_vikdf(cfg.replace(use_bvif=True)).to(dev).train()
    d, plm, bv = model.distiller, model.plm, model.bvif
    batch = {k: v.to(dev) if torch.is_tensor(v) else v for k, v in model.collate(pairs).items()}
    captions, B, Q = [p.text for p in pairs], len(pairs), cfg.iqformer.num_queries
    rng = random.Random(seed)
    cb = {k: v.to(dev) for k, v in bv.iaci.iaci_batch(captions, draw_prompts(bv.cfg.caption_prompts, B, rng)).items()}
    kb = {k: v.to(dev) for k, v in bv.iakr.iakr_batch(captions, draw_prompts(bv.cfg.t2i_prompts, B, rng)).items()}
    blocks = [torch.randn(B, Q, plm.d_llm, device=dev, requires_grad=True) for _ in range(2)]   # where W_p K enters
    n_img = 1 + cfg.distill.use_tamim               # TAMIM re-encodes the masked image, IAMTM the masked text
    n_txt = 1 + cfg.distill.use_iamtm
    losses = []
    def step():
        with torch.no_grad():
            for _ in range(n_img): d.image_states(batch["pixels"])
            for _ in range(n_txt): d.text_states(batch["input_ids"], batch["attention_mask"])
        for b in blocks: b.grad = None
        s = plm.splice_inputs(cb["input_ids"], cb["attention_mask"], blocks[0], cb["insert_at"], cb["labels"])
        loss = scored_loss(plm.llm, spliced_states(plm, s), s["labels"])
        O = query_predictor_states(plm, kb["input_ids"], kb["attention_mask"], blocks[1], kb["insert_at"])
        loss = loss + O.pow(2).mean()
        loss.backward()
        losses.append(float(loss))
    frozen = sum(p.numel() for p in list(d.encoder.parameters()) + list(plm.parameters()))
    return step, plm.tokenizer, 0, frozen, losses


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
    elif a.arm == "base":
        step, tok, trainable, total, losses = base_step(cfg, pairs, dev, a.seed)
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
    m = measure(step, dev, a.warmup, a.steps, profile=a.profile, flops=a.flops)
    if not all(map(lambda x: x == x and abs(x) != float("inf"), losses)): raise RuntimeError(f"non-finite loss: {losses}")
    return dict(preset=a.preset, arm=a.arm, model=cfg.llm.name, batch=cfg.train.batch_size, tokens=T,
                queries=cfg.iqformer.num_queries, d_q=cfg.iqformer.hidden, iqformer_layers=cfg.iqformer.layers,
                encoder=dict(digest=cfg.encoder.digest(), backend=cfg.encoder.backend, trained=cfg.train_encoder),
                use_bvif=cfg.use_bvif, trainable_params=trainable, total_params=total, first_loss=losses[0], **m)


def parse_args(argv=None) -> argparse.Namespace:
    "The flags of `python benchmarks/vikdf.py`."
    ap = script_parser(__file__, __doc__)
    ap.add_argument("--batch", type=int, default=0, help="B, pairs per step (0: the preset's train.batch_size)")
    ap.add_argument("--train-encoder", action="store_true", help="use the offline encoder with its trained image tower (cached on disk; trains it first if absent)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    "Measure every arm on every preset; write the JSON, print the table, return the result."
    return bench_main(__file__, parse_args(argv), argv, worker, ARMS, LABELS, ["steps", "warmup", "threads", "seed", "batch", "train_encoder", "profile", "flops"], "vikdf",
                      base_arm="base")


if __name__ == "__main__":
    main()
