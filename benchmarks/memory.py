"""What each method's `paper` preset needs per GPU: the frozen models in bf16, the trainable parts with their AdamW
state, and the activations the backward pass keeps, at the paper's per-GPU batch and sequence lengths.

Nothing here downloads a weight. Parameter counts come from the architectures built on PyTorch's meta device (shapes,
no storage). The activations come from a measurement, not a rule of thumb: a scaled-down copy of each LLM block (same
ratios of widths, 2 and 4 layers, width 256) runs forward under `torch.autograd.graph.saved_tensors_hooks`, which sees
every tensor autograd keeps for the backward pass; the difference between 4 and 2 layers, per token and per unit of
width, is what one block keeps (parameters excluded: they are counted once as weights). Every saved tensor of a block is
(B, T, c * D) with SDPA attention, so this number does not change with D or T: it is checked at widths 128-512 and two
lengths in tests/test_benchmarks.py, and scales to D = 4096 exactly. With activation checkpointing a block keeps only
its input (measured the same way) and one block's activations are rebuilt at a time.

    python benchmarks/memory.py            # writes benchmarks/results/memory-paper.json and prints the table

What is left out, and why it is small at these shapes: the CUDA context and allocator fragmentation (add 1-3 GB), the
loss heads of the distillation stages, and the frozen image tower's activations (run under no_grad).
"""
from __future__ import annotations
import argparse, json, sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
GB = 2**30

# the paper LLMs' shapes (their config.json): Llama-2-7B (VIKDF, MKS2) and Vicuna-7B v1.1 (MmDC, a Llama-2... LLaMA-7B)
LLAMA_7B = dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                num_key_value_heads=32, vocab_size=32000)


def llama(width: int = 256, layers: int = 2, **over):
    "A Llama with LLAMA_7B's ratios at `width` (heads of 128 dims), frozen, on the CPU."
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    r = LLAMA_7B
    cfg = LlamaConfig(**{**r, "hidden_size": width, "num_hidden_layers": layers, "vocab_size": 1000,
                         "intermediate_size": round(width * r["intermediate_size"] / r["hidden_size"]),
                         "num_attention_heads": max(1, width // 128), "num_key_value_heads": max(1, width // 128),
                         "attn_implementation": "sdpa", **over})
    torch.manual_seed(0)
    return LlamaForCausalLM(cfg).requires_grad_(False)


def add_variant(llm, variant: str):
    "The LLM as the method runs it: 'plain', 'mvm' (MKS2's visual memory, frozen LLM), 'momes' (memory + MoMEs' LoRA)."
    if variant in ("mvm", "momes"):
        from mmkd_nb.mks2.mvm import add_visual_memory
        add_visual_memory(llm, ratio=0.25, gated=True, placement="sequential", freeze=variant == "momes")
    if variant == "momes":
        from mmkd_nb.mks2.momes import add_momes
        add_momes(llm, 8, 16.0, 0.0, 0.5)
    return llm


def saved_bytes(width: int, layers: int, variant: str = "plain", B: int = 2, T: int = 64, checkpointing: bool = False) -> int:
    "Bytes autograd keeps for the backward pass of the blocks' forward on (B, T) float32 inputs, parameters excluded."
    import torch
    llm = add_variant(llama(width, layers), variant)
    params = {p.data_ptr() for p in llm.parameters()}
    if checkpointing:
        llm.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        llm.train()
    x = torch.randn(B, T, width, requires_grad=True)                     # a trainable input block, as in every method
    seen = {}
    def pack(t):
        if t.data_ptr() not in params: seen[(t.data_ptr(), tuple(t.shape), t.dtype)] = t.numel() * t.element_size()
        return t
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        llm.model(inputs_embeds=x, use_cache=False)
    return sum(seen.values())


def words_per_token(variant: str = "plain", width: int = 256, T: int = 64, checkpointing: bool = False) -> float:
    "Saved values per token, per block, per unit of width (float32 words): the 4-layer minus the 2-layer model, halved."
    B = 2
    d = saved_bytes(width, 4, variant, B, T, checkpointing) - saved_bytes(width, 2, variant, B, T, checkpointing)
    return d / 2 / (B * T) / width / 4


def meta_params(build) -> int:
    "Parameter count of the module `build()` makes, built on the meta device (no memory, no download)."
    import torch
    with torch.device("meta"): m = build()
    return sum(p.numel() for p in m.parameters())


def counts() -> dict:
    "Parameter counts of the paper models' parts, from their architectures."
    from transformers import LlamaConfig, LlamaForCausalLM
    from mmkd_nb.qformer import IQFormer, IQFormerConfig
    import open_clip
    L, D = LLAMA_7B["num_hidden_layers"], LLAMA_7B["hidden_size"]
    llm = meta_params(lambda: LlamaForCausalLM(LlamaConfig(**LLAMA_7B)))
    vit = open_clip.create_model("ViT-L-14", pretrained=None, device="meta")     # CLIP ViT-L/14, no weights
    clip, clip_visual = (sum(p.numel() for p in m.parameters()) for m in (vit, vit.visual))
    qformer = meta_params(lambda: IQFormer(IQFormerConfig(init="random")))        # the paper preset's shape (BERT-base)
    import torch
    with torch.device("meta"):
        m = add_variant(LlamaForCausalLM(LlamaConfig(**LLAMA_7B)).requires_grad_(False), "mvm")
        mvm = sum(p.numel() for p in m.parameters()) - llm                                      # the gated memories
        m = add_variant(LlamaForCausalLM(LlamaConfig(**LLAMA_7B)).requires_grad_(False), "momes")
        momes = sum(p.numel() for p in m.parameters() if p.requires_grad)                      # LoRA + routers
    return dict(llm=llm, clip=clip, clip_visual=clip_visual, iqformer=qformer, mvm=mvm, momes=momes)


def runs(c: dict) -> list[dict]:
    """Each method's paper training step per GPU: batch, the token lengths of the passes through the LLM, scored tokens,
    trainable and frozen parameter counts (their settings: the `paper` presets of the configs)."""
    D = LLAMA_7B["hidden_size"]
    return [
        # VIKDF §4.2: 4 per GPU x 4 accumulated; IACI <s> Image: [32 K] prompt caption(<=128) and IAKR caption prompt [32]
        dict(method="VIKDF", stage="joint (Eq. 5 + 9)", batch=4, passes=[175, 175], scored=130, variant="plain",
             trainable=c["iqformer"] + 768 * D + D, frozen_llm=c["llm"], frozen_other=c["clip"]),
        # MKS2 §6.3 storage: 32 per GPU x 4 accumulated; 34 image positions (32 queries + markers) + caption (64),
        # and the caption alone for Eq. 4; the memory trains
        dict(method="MKS2", stage="storage (Eq. 3 + 4)", batch=32, passes=[98, 64], scored=63, variant="mvm",
             trainable=c["mvm"] + 768 * D + 2 * D, frozen_llm=c["llm"], frozen_other=c["clip_visual"] + c["iqformer"]),
        # MKS2 sharing: 3 per GPU, 1024 tokens (SharingConfig paper preset); MoMEs' LoRA and routers train
        dict(method="MKS2", stage="sharing (Eq. 5-6)", batch=3, passes=[1024], scored=512, variant="momes",
             trainable=c["momes"], frozen_llm=c["llm"] + c["mvm"], frozen_other=c["clip_visual"] + c["iqformer"]),
        # MmDC §4.1.3: 16 per step; on 8 GPUs 2 each; 256 image tokens (ViT-L/14 at 224) + up to 2048 text tokens
        dict(method="MmDC", stage="student tuning (Eq. 3)", batch=2, passes=[2304], scored=1024, variant="plain",
             trainable=1024 * D + D + 2 * D, frozen_llm=c["llm"], frozen_other=c["clip_visual"]),
    ]


def estimate(run: dict, words: dict, words_ckpt: dict, checkpointing: bool = False) -> dict:
    "GiB per GPU: bf16 frozen weights, trainable weights + AdamW state, activations, logits of the scored tokens."
    D, L, V = LLAMA_7B["hidden_size"], LLAMA_7B["num_hidden_layers"], LLAMA_7B["vocab_size"]
    tokens = run["batch"] * sum(run["passes"])
    per_block = (words_ckpt if checkpointing else words)[run["variant"]] * D * 2          # bf16 bytes per token
    act = tokens * L * per_block
    if checkpointing: act += max(run["passes"]) * run["batch"] * words[run["variant"]] * D * 2   # one block rebuilt
    out = dict(frozen=2 * (run["frozen_llm"] + run["frozen_other"]) / GB,
               trainable=16 * run["trainable"] / GB,      # fp32 weights 4 + grads 4 + AdamW moments 8 bytes each
               activations=act / GB,
               logits=run["batch"] * run["scored"] * V * 10 / GB)   # bf16 logits, float32 copy and log-softmax
    out["total"] = sum(out.values())
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(prog="python benchmarks/memory.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(HERE / "results"))
    a = ap.parse_args(argv)
    import time, torch
    torch.set_num_threads(1)
    variants = ("plain", "mvm", "momes")
    words = {v: words_per_token(v) for v in variants}
    words_ckpt = {v: words_per_token(v, checkpointing=True) for v in variants}
    c = counts()
    rows = []
    for r in runs(c):
        rows.append(dict(**r, gib=estimate(r, words, words_ckpt), gib_checkpointing=estimate(r, words, words_ckpt, True)))
    res = dict(command="python benchmarks/memory.py " + " ".join(argv or sys.argv[1:]), date=time.strftime("%Y-%m-%d %H:%M"),
               llm=LLAMA_7B, words_per_token_per_block_per_width=words, words_checkpointing=words_ckpt, params=c, rows=rows)
    Path(a.out).mkdir(parents=True, exist_ok=True)
    from mmkd_nb.core import save_json
    save_json(res, Path(a.out) / "memory-paper.json")
    print("| method | stage | per-GPU batch | tokens | frozen GiB | trainable + AdamW GiB | activations GiB | logits GiB | total GiB | with checkpointing |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        g = r["gib"]
        print(f"| {r['method']} | {r['stage']} | {r['batch']} | {' + '.join(map(str, r['passes']))} | {g['frozen']:.1f} | "
              f"{g['trainable']:.1f} | {g['activations']:.1f} | {g['logits']:.1f} | {g['total']:.1f} | {r['gib_checkpointing']['total']:.1f} |")
    return res


if __name__ == "__main__":
    main()
