"""What MmDC's student costs: one instruction-tuning step of `mmkd_nb.mmdc.student.MultimodalStudent` (frozen image
tower -> trained projection W -> frozen LLM with a trained `<STOP>` row; Eq. 3) against its irreducible cost.

Arms, each in a fresh process, on the same B one-turn dialogues (questions of the built-in world with their answers,
the image first, as the student's collator lays them out):
  base     the irreducible cost, the ratio's base: the frozen tower's forward on the images and the frozen LLM's
           forward + backward over exactly the student's spliced sequences (a leaf block of the image tokens' shape
           where W's output enters, the head only where an answer token or `<STOP>` is scored); nothing to update
  student  the whole training step: tower, W, the LLM with the `<STOP>` rows, the loss of Eq. 3, backward, AdamW
The goal is student <= 1.10 x base: W (one linear layer) and the `<STOP>` rows cost next to nothing.

    python benchmarks/mmdc.py --threads 1                   # tiny, micro and small presets on the CPU
    python benchmarks/mmdc.py --device cuda --repeats 3     # on a GPU

Writes benchmarks/results/mmdc-<device>.json and prints a markdown table; the ratio to `base` is tracked (on a shared
CPU, the ratio of the steps' CPU times: the wall clock there also counts the time other processes held the core).
"""
from __future__ import annotations
import argparse, random

from common import bench_main, script_parser, measure

ARMS = ["base", "student"]
LABELS = {"base": "irreducible: frozen tower + LLM on the student's sequences", "student": "student step (Eq. 3)"}


def dialogues(preset: str, batch: int, seed: int) -> list:
    "`batch` training questions of the built-in world `preset` with their answers, drawn with `seed`."
    from mmkd_nb.world import WorldConfig, make_world
    recs = make_world(WorldConfig.preset(preset)).vqa("train")
    if batch > len(recs): raise ValueError(f"--batch {batch} but world {preset!r} has only {len(recs)} training questions")
    return random.Random(seed).sample(recs, batch)


def arm_step(model, batch: dict, shape, preset: str, base: bool, losses: list) -> tuple:
    """(step, trainable parameters, all parameters) of an arm on `model` (a student or a teacher). `base`: the
    irreducible cost, with the model frozen: the tower's forward on the images and the LLM's forward + backward over
    exactly its spliced sequences, a leaf block of the image tokens' `shape` where the projection's output enters.
    Otherwise the model's whole training step: its loss, backward, AdamW. Each step's loss is appended to `losses`."""
    import torch
    from mmkd_nb.core import count_params
    from mmkd_nb.train import TrainConfig, make_optimizer
    if base:
        model.requires_grad_(False).eval()
        block = torch.randn(shape, device=batch["pixels"].device).requires_grad_(True)
        def step():
            with torch.no_grad(): model.encoder.encode_image(batch["pixels"])
            block.grad = None
            out = model.lm(batch["input_ids"], batch["attention_mask"], block, batch["insert_at"], batch["labels"], logits=False)
            out.loss.backward()
            losses.append(float(out.loss))
        return step, 0, sum(p.numel() for p in model.parameters())
    model.set_trainable(stop=True).train()
    opt = make_optimizer(model, TrainConfig.preset("tiny" if preset == "tiny" else "small"))
    def step():
        loss = model(batch)["loss"]
        loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)
        losses.append(float(loss))
    return (step, *count_params(model))


def measure_arm(model, a, dev, B: int) -> dict:
    """`arm_step` of `model` on B dialogues (`dialogues`, the image first) timed by `measure` under the flags `a`: the
    sequences' shapes, the parameter counts, the first loss (every loss checked finite) and the measurements."""
    import torch
    from mmkd_nb.mmdc.student import StudentCollator
    batch = {k: v.to(dev) for k, v in StudentCollator(model, position="first")(dialogues(a.preset, B, a.seed)).items()}
    with torch.no_grad(): shape = model.image_tokens(batch["pixels"]).shape                # (B, P, D_llm)
    losses = []
    step, trainable, total = arm_step(model, batch, shape, a.preset, a.arm == "base", losses)
    m = measure(step, dev, a.warmup, a.steps, profile=a.profile, flops=a.flops)
    if not all(map(lambda x: x == x and abs(x) != float("inf"), losses)): raise RuntimeError(f"non-finite loss: {losses}")
    return dict(batch=B, tokens=batch["input_ids"].shape[1], image_tokens=int(shape[1]), trainable_params=trainable,
                total_params=total, first_loss=losses[0], **m)


def worker(a) -> dict:
    "One arm in this process: build, warm up, time the steps, measure peak memory."
    import torch
    from mmkd_nb.core import get_device
    from mmkd_nb.mmdc.run import MmDCConfig
    from mmkd_nb.mmdc.student import MultimodalStudent, StudentConfig
    if a.threads: torch.set_num_threads(a.threads)
    dev = get_device(a.device)
    scfg = StudentConfig.preset(a.preset)
    B = a.batch or MmDCConfig.preset(a.preset).batch_size
    student = MultimodalStudent.from_config(scfg, dev)
    return dict(preset=a.preset, arm=a.arm, model=scfg.llm, encoder=scfg.encoder, **measure_arm(student, a, dev, B))


def parse_args(argv=None) -> argparse.Namespace:
    "The flags of `python benchmarks/mmdc.py`."
    ap = script_parser(__file__, __doc__)
    ap.set_defaults(presets=["tiny", "micro", "small"])
    ap.add_argument("--batch", type=int, default=0, help="B, dialogues per step (0: the preset's MmDCConfig.batch_size)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    "Measure every arm on every preset; write the JSON, print the table, return the result."
    return bench_main(__file__, parse_args(argv), argv, worker, ARMS, LABELS, ["steps", "warmup", "threads", "seed", "batch", "profile", "flops"],
                      "mmdc", base_arm="base")


if __name__ == "__main__":
    main()
