"""Build the trained weights that mmkd_nb ships and write them into mmkd_nb/weights with their sha256 digests.

    bash run.sh weights                          # rebuild every entry from scratch in an empty cache, then ship it
    python tools/ship_weights.py --from-cache    # ship what the cache already holds (built by the same code)

The entries are the `tiny` and `small` image towers, the `micro` LLM and the MmDC teachers of `tiny`, `micro` and `small`.
A rebuild runs two one-thread processes (about 30 minutes on two cores: the small tower, then two teachers).
"""
from __future__ import annotations
import argparse, os, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMAND = "bash run.sh weights"
TOWERS, TEACHERS = ("tiny", "small"), ("tiny", "micro", "small")


def entries() -> list[tuple[str, str]]:
    "(kind, key) of every shipped cache entry, from the current code's configs."
    from mmkd_nb.encoders import EncoderConfig
    from mmkd_nb.tower import offline_cache_key
    from mmkd_nb.micro_llm import MicroLMConfig, _world_of, micro_llm_key
    from mmkd_nb.mmdc.run import MmDCConfig, teacher_key
    cfg = MicroLMConfig()
    out = [("encoders", offline_cache_key(EncoderConfig.preset(p))) for p in TOWERS]
    out.append(("llm", f"micro-llama-{micro_llm_key(cfg, _world_of(cfg, None))}"))
    return out + [("mmdc_teacher", teacher_key(MmDCConfig.preset(p))) for p in TEACHERS]


def build(job: str) -> str:
    "Build one entry in this process's cache (one thread)."
    import torch
    torch.set_num_threads(1)
    kind, _, preset = job.partition(":")
    t0 = time.time()
    if kind == "tower":
        from mmkd_nb.encoders import load_encoder
        load_encoder(preset, progress=False)
    elif kind == "llm":
        from mmkd_nb.micro_llm import micro_llm_folder
        micro_llm_folder()
    else:
        from mmkd_nb.mmdc.run import MmDCConfig, teacher_stage
        with tempfile.TemporaryDirectory() as run: teacher_stage(MmDCConfig.preset(preset), run)
    return f"{job}: {time.time() - t0:.0f}s"


def chain(jobs: list[str]) -> list[str]:
    "Jobs that depend on each other (a teacher reads its tower), one after another."
    return [build(j) for j in jobs]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--from-cache", action="store_true", help="ship the current cache's entries without rebuilding")
    a = ap.parse_args(argv)
    if not a.from_cache:
        os.environ["MMKD_CACHE"] = tempfile.mkdtemp(prefix="mmkd-weights-")   # nothing reused: a clean rebuild
        os.environ["MMKD_SHIPPED"] = "0"
        from mmkd_nb.core import map_processes
        lanes = [["tower:small", "teacher:micro", "teacher:small"], ["tower:tiny", "teacher:tiny", "llm:micro"]]
        for lane in map_processes(chain, lanes, workers=2): print("\n".join(lane), flush=True)
    from mmkd_nb.core import ship_entry, SHIPPED
    for kind, key in entries():
        e = ship_entry(kind, key, COMMAND)
        print(f"shipped {kind}/{key}: {', '.join(e['files'])}")
    print(f"wrote {SHIPPED / 'MANIFEST.json'}")


if __name__ == "__main__":
    sys.exit(main())
