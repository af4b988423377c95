"""What MKS2 adds to a frozen LLM: one training step with the Modular Visual Memory (storage stage, Eq. 2) and
with the soft mixture of multimodal experts (sharing stage, Eq. 5-6), against the plain frozen LLM and against
plain LoRA of the same rank, all on the same caption tokens.

Arms, each in a fresh process, on the same B training captions of the built-in world (`BOS caption EOS`):
  llm    the frozen LLM, forward + backward (the baseline of benchmarks/prefix.py and benchmarks/vikdf.py)
  mvm    + `add_visual_memory` (the preset's `StorageConfig`: mvm_ratio, placement; gated): only the memories train
  momes  + visual memory, then `add_momes` (the preset's `MoMEsConfig`): LoRA on both experts and the routers train
  lora   + peft LoRA of MoMEs' rank, alpha and dropout on the plain LLM (`--lora-targets mlp`: the MLP's linear
         layers, the ones the textual expert's LoRA sits on; `all`: every linear layer of the decoder blocks)
In every arm the token embeddings are a leaf that asks for gradients, so the backward pass reaches the first
layer as it does in both MKS2 stages, whose image tokens come from a trainable mapper. The method arms run a full
training step (forward, backward, Adam update); the baseline has nothing to update. The image tower, the mapper
and the storage stage's second (text-to-image) pass are not in these arms: this measures what the memory and the
experts cost inside the LLM.

    python benchmarks/mks2.py --threads 1                 # tiny and small presets on the CPU
    python benchmarks/mks2.py --device cuda --repeats 3   # on a GPU

Writes benchmarks/results/mks2-<device>.json and prints a markdown table; the ratios to `llm` and, for `mvm` and
`momes`, to `lora` are tracked (on a shared CPU, the ratios of the steps' CPU times: the wall clock there also counts
the time other processes held the core).

The storage stage as it trains (`mmkd_nb.mks2.storage.VisualStorage`), against its irreducible cost:
  storage       the whole step: the frozen image tower, the mapper, the captioning pass (Eq. 3: the spliced block of
                image tokens between the markers, the head only on caption tokens) and the text-to-image pass (Eq. 4:
                the caption alone through the LLM to its end-token state), memory in every block, Adam update
  storage-base  the frozen parts on exactly those sequences and nothing else: the tower's forward on the images, the
                memory-free LLM's forward + backward over the captioning sequence (a leaf block of the same shape in
                place of the mapped image tokens, the head only where a caption token is scored) and over the caption
                alone (embeddings a leaf, the end-token state as its loss); no trainable part
The goal is storage <= 1.10 x storage-base: what the method adds (mapper, memory, markers, projection, update) is small.
"""
from __future__ import annotations
import argparse, json, sys, time
from pathlib import Path

from common import bench_main, caption_batch, llm_step, measure, script_parser, training_captions

ARMS = ["llm", "mvm", "momes", "lora", "storage-base", "storage"]
REF = {"mvm": "lora", "momes": "lora", "storage": "storage-base"}
LABELS = {"llm": "frozen LLM", "mvm": "+ MVM (memory only)", "momes": "+ MoMEs (sharing stage)", "lora": "+ LoRA",
          "storage-base": "irreducible: frozen parts on the storage step's sequences", "storage": "storage step (Eq. 3 + 4)"}


def linear_names(llm, where: str = "mlp") -> list[str]:
    "Names of the `nn.Linear` layers of every decoder block: in its MLP (`where='mlp'`) or all of them (`'all'`)."
    from torch import nn
    from mmkd_nb.mks2.mvm import decoder_blocks
    blocks, _, mlp = decoder_blocks(llm)
    ids = {id(m) for b in blocks for m in (getattr(b, mlp) if where == "mlp" else b).modules() if isinstance(m, nn.Linear)}
    return [n for n, m in llm.named_modules() if id(m) in ids]


def add_lora(llm, rank: int, alpha: float, dropout: float, where: str = "mlp"):
    "Plain peft LoRA on the linear layers `linear_names(llm, where)`; only the LoRA matrices train. Returns `llm`."
    from peft import LoraConfig, inject_adapter_in_model
    inject_adapter_in_model(LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=linear_names(llm, where)),
                            llm, adapter_name="lora")
    for n, p in llm.named_parameters(): p.requires_grad_(".lora_A." in n or ".lora_B." in n)
    return llm


def expected_trainable(arm: str, llm, d_memory: int, gated: bool, rank: int, where: str) -> int:
    """The trainable parameter count each arm must have, from the shapes of the unmodified LLM (call before adding
    anything): memory L·(3 or 2)·D·D_m; LoRA r·(in + out) per adapted linear layer; router 2·D + 2 per block."""
    from mmkd_nb.mks2.mvm import decoder_blocks
    L, D = len(decoder_blocks(llm)[0]), llm.config.hidden_size
    mem = L * (3 if gated else 2) * D * d_memory
    mods = dict(llm.named_modules())
    lora_base = sum(rank * (mods[n].in_features + mods[n].out_features) for n in linear_names(llm, where))
    lora_mem = L * (3 if gated else 2) * rank * (D + d_memory)
    lora_mlp = sum(rank * (mods[n].in_features + mods[n].out_features) for n in linear_names(llm, "mlp"))
    return {"llm": 0, "mvm": mem, "lora": lora_base, "momes": lora_mlp + lora_mem + L * (2 * D + 2)}[arm]


def storage_worker(a) -> dict:
    "The `storage` and `storage-base` arms (see the module docstring) in this process."
    import torch
    from mmkd_nb.core import get_device, count_params
    from mmkd_nb.encoders import load_encoder
    from mmkd_nb.llm import PrefixLM, load_llm, body_states, gather_at, scored_loss
    from mmkd_nb.train import make_optimizer
    from mmkd_nb.mks2.storage import StorageConfig, StorageCollator, VisualStorage, last_token_index
    if a.threads: torch.set_num_threads(a.threads)
    dev = get_device(a.device)
    cfg = StorageConfig.preset(a.preset, **({"batch_size": a.batch} if a.batch else {}))
    enc = load_encoder(cfg.encoder, progress=False)
    llm, tok = load_llm(cfg.llm, dtype=cfg.dtype)
    pairs = training_captions(a.preset, cfg.batch_size, a.seed)
    model = VisualStorage(llm, tok, enc, cfg).to(dev).train()   # adds the memory to `llm`
    batch = {k: v.to(dev) for k, v in StorageCollator(tok, enc, cfg.max_len)(pairs).items()}
    with torch.no_grad(): shape = model.image_block(batch["pixels"])[0].shape         # (B, P'+2, D_llm)
    losses = []
    if a.arm == "storage":
        trainable, total = count_params(model)
        opt = make_optimizer(model, cfg.train_config())
        def step():
            out = model(batch)
            out["loss"].backward(); opt.step(); opt.zero_grad(set_to_none=True)
            losses.append(float(out["loss"]))
    else:
        del model, llm
        plain, _ = load_llm(cfg.llm, dtype=cfg.dtype)                                  # memory-free, frozen
        plain.to(dev).requires_grad_(False).eval()
        plm, trainable = PrefixLM(plain, tok), 0
        total = sum(p.numel() for p in list(enc.parameters()) + list(plain.parameters()))
        block = torch.randn(shape, device=dev).requires_grad_(True)                      # where the mapped image enters
        end = last_token_index(batch["attention_mask"])[:, None]                          # (B, 1)
        def step():
            with torch.no_grad(): enc.encode_image(batch["pixels"])
            block.grad = None
            s = plm.splice_inputs(batch["input_ids"], batch["attention_mask"], block, batch["insert_at"], batch["labels"])
            loss = scored_loss(plain, body_states(plain, inputs_embeds=s["inputs_embeds"], attention_mask=s["attention_mask"],
                                                  position_ids=s["position_ids"]), s["labels"])
            emb = plain.get_input_embeddings()(batch["input_ids"]).detach().requires_grad_(True)   # (B, T, D_llm) leaf
            h = body_states(plain, inputs_embeds=emb, attention_mask=batch["attention_mask"])
            loss = loss + gather_at(h, end).pow(2).mean()                                 # stands in for Eq. 4's InfoNCE
            loss.backward()
            losses.append(float(loss))
    m = measure(step, dev, a.warmup, a.steps, profile=a.profile, flops=a.flops)
    if not all(map(lambda x: x == x and abs(x) != float("inf"), losses)): raise RuntimeError(f"non-finite loss: {losses}")
    return dict(preset=a.preset, arm=a.arm, model=cfg.llm, batch=cfg.batch_size, tokens=batch["input_ids"].shape[1],
                image_tokens=int(shape[1]), mapper=cfg.mapper, mvm_ratio=cfg.mvm_ratio,
                trainable_params=trainable, total_params=total, first_loss=losses[0], **m)


def worker(a) -> dict:
    "One arm in this process: build, warm up, time the steps, measure peak memory."
    if a.arm.startswith("storage"): return storage_worker(a)
    import torch
    from mmkd_nb.core import get_device, count_params
    from mmkd_nb.llm import LLMConfig, load_llm
    from mmkd_nb.train import TrainConfig, make_optimizer
    from mmkd_nb.mks2.mvm import add_visual_memory
    from mmkd_nb.mks2.momes import MoMEsConfig, add_momes
    from mmkd_nb.mks2.storage import StorageConfig
    from mmkd_nb.mks2.eval import SharingConfig
    if a.threads: torch.set_num_threads(a.threads)
    dev = get_device(a.device)
    lcfg, scfg, ecfg = LLMConfig.preset(a.preset), StorageConfig.preset(a.preset), MoMEsConfig.preset(a.preset)
    B = a.batch or SharingConfig.preset(a.preset).batch_size
    max_tokens = scfg.max_len - 2                                     # BOS and EOS are counted in max_len
    llm, tok = load_llm(lcfg)
    d_memory = max(1, round(scfg.mvm_ratio * llm.config.hidden_size))  # as add_visual_memory computes it
    want = expected_trainable(a.arm, llm, d_memory, True, ecfg.rank, a.lora_targets)
    if a.arm in ("mvm", "momes"):                                     # as VisualStorage adds it: gated, no biases
        add_visual_memory(llm, ratio=scfg.mvm_ratio, placement=scfg.placement, freeze=True)
    if a.arm == "momes": add_momes(llm, ecfg.rank, ecfg.lora_alpha, ecfg.lora_dropout, ecfg.textual_prior)
    if a.arm == "lora": add_lora(llm, ecfg.rank, ecfg.lora_alpha, ecfg.lora_dropout, a.lora_targets)
    trainable, total = count_params(llm)
    if trainable != want: raise RuntimeError(f"arm {a.arm}: {trainable} trainable parameters, expected {want}")
    llm.to(dev).train(a.arm != "llm")                                # LoRA dropout on while training
    pairs = training_captions(a.preset, B, a.seed)
    batch = {k: v.to(dev) for k, v in caption_batch(tok, [p.text for p in pairs], max_tokens).items()}
    opt = make_optimizer(llm, TrainConfig.preset(a.preset)) if trainable else None
    losses = []
    def step():
        losses.append(float(llm_step(llm, batch)))
        if opt is not None: opt.step(); opt.zero_grad(set_to_none=True)
    m = measure(step, dev, a.warmup, a.steps, profile=a.profile, flops=a.flops)
    if not all(map(lambda x: x == x and abs(x) != float("inf"), losses)): raise RuntimeError(f"non-finite loss: {losses}")
    return dict(preset=a.preset, arm=a.arm, model=lcfg.name, batch=B, tokens=batch["input_ids"].shape[1],
                layers=llm.config.num_hidden_layers, d_model=llm.config.hidden_size, d_memory=d_memory if a.arm in ("mvm", "momes") else 0,
                mvm=dict(ratio=scfg.mvm_ratio, placement=scfg.placement, gated=True), rank=ecfg.rank if a.arm in ("momes", "lora") else 0, lora_alpha=ecfg.lora_alpha,
                lora_dropout=ecfg.lora_dropout, lora_targets=a.lora_targets if a.arm == "lora" else None,
                trainable_params=trainable, total_params=total, first_loss=losses[0], **m)


def parse_args(argv=None) -> argparse.Namespace:
    "The flags of `python benchmarks/mks2.py`."
    ap = script_parser(__file__, __doc__)
    ap.add_argument("--batch", type=int, default=0, help="B, captions per step (0: the preset's SharingConfig.batch_size)")
    ap.add_argument("--lora-targets", default="mlp", choices=["mlp", "all"], help="where plain LoRA goes: the MLPs' linear layers, or every linear layer of the blocks")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    "Measure every arm on every preset; write the JSON, print the table, return the result."
    return bench_main(__file__, parse_args(argv), argv, worker, ARMS, LABELS, ["steps", "warmup", "threads", "seed", "batch", "lora_targets", "profile", "flops"], "mks2", ref_arms=REF)


if __name__ == "__main__":
    main()
