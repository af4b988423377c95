"""What MmDC's trained teacher costs per step, in fp32 and in bf16: one training step of
`mmkd_nb.mmdc.models.MultimodalTeacher` (frozen pooled image tower -> trained MLP projector -> the LLM with LoRA on its
top layers and a trained `<STOP>` row) against its irreducible cost, with and without `teacher_precision="bf16"`.

Arms, each in a fresh process, on the same B one-turn dialogues (questions of the built-in world with their answers,
the image first), every model built by `mmkd_nb.mmdc.run` from the preset's `MmDCConfig`:
  base          the irreducible cost, the ratio's base: the frozen tower's forward and the frozen LLM's forward +
                backward over exactly the teacher's spliced sequences (a leaf block where the projector's output
                enters, the head only where a token is scored), in fp32; nothing to update
  teacher       the teacher's whole training step in fp32: tower, projector, LLM with LoRA, loss, backward, AdamW
  teacher-bf16  the same step with the training forward under bf16 autocast (`MultimodalTeacher.bf16_train`; on a
                CPU the LLM's attention is the eager one); its ratio to `teacher` is the speed-up bf16 buys

    python benchmarks/teacher.py --presets small --threads 1 --repeats 3 --lora-mlp   # the small teachers of 35_mmdc_teacher
    python benchmarks/teacher.py --device cuda --presets small --repeats 3

Writes benchmarks/results/teacher-<device>.json and prints a markdown table (on a shared CPU the ratios are of the
steps' CPU times, per repeat, with their interval).
"""
from __future__ import annotations
import argparse

from common import bench_main, script_parser
from mmdc import measure_arm

ARMS = ["base", "teacher", "teacher-bf16"]
REF = {"teacher-bf16": "teacher"}
LABELS = {"base": "irreducible: frozen tower + LLM on the teacher's sequences", "teacher": "teacher step, fp32",
          "teacher-bf16": "teacher step, bf16 autocast"}


def worker(a) -> dict:
    "One arm in this process: build, warm up, time the steps, measure peak memory."
    import torch
    from mmkd_nb.core import get_device
    from mmkd_nb.mmdc.run import MmDCConfig, build_student, build_teacher, student_config
    if a.threads: torch.set_num_threads(a.threads)
    dev = get_device(a.device)
    cfg = MmDCConfig.preset(a.preset, teacher_lora_mlp=a.lora_mlp,
                            teacher_precision="bf16" if a.arm == "teacher-bf16" else "auto")
    B = a.batch or cfg.batch_size
    model = (build_student(cfg) if a.arm == "base" else build_teacher(cfg)).to(dev)   # base: the same tower and LLM, bare
    return dict(preset=a.preset, arm=a.arm, model=student_config(cfg).llm, lora_mlp=a.lora_mlp, bf16=a.arm == "teacher-bf16",
                **measure_arm(model, a, dev, B))


def parse_args(argv=None) -> argparse.Namespace:
    "The flags of `python benchmarks/teacher.py`."
    ap = script_parser(__file__, __doc__)
    ap.set_defaults(presets=["tiny", "small"])
    ap.add_argument("--batch", type=int, default=0, help="B, dialogues per step (0: the preset's MmDCConfig.batch_size)")
    ap.add_argument("--lora-mlp", action="store_true", help="the teacher's LoRA on its MLP too (`teacher_lora_mlp`)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    "Measure every arm on every preset; write the JSON, print the table, return the result."
    return bench_main(__file__, parse_args(argv), argv, worker, ARMS, LABELS,
                      ["steps", "warmup", "threads", "seed", "batch", "profile", "flops", "lora_mlp"],
                      "teacher", base_arm="base", ref_arms=REF)


if __name__ == "__main__":
    main()
