"""The offline image tower's recipes on the `small` world: retrieval and zero-shot colour/shape per recipe.

    python experiments/encoder.py --name conv-stem --set stem=conv
    python experiments/encoder.py --name patch4 --set patch_size=4 --set token_pool=2

Each call trains one tower from scratch (never the cache: the point is the training time too) and writes
experiments/results/encoder-<name>-<preset>.json: the overrides, the report of `encoder_report`, the training
seconds and the versions. `03a_tower` reads these files into its table of what was tried.
"""
import argparse, datetime, os, platform, sys, time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(prog="python experiments/encoder.py", description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="small", choices=["tiny", "small"])
    ap.add_argument("--name", required=True, help="results file name part")
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="EncoderConfig field to override (repeatable)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--out", default=str(HERE / "results"))
    a = ap.parse_args(argv)
    import torch, transformers, open_clip
    torch.set_num_threads(a.threads)
    from mmkd_nb.core import save_json
    from mmkd_nb.encoders import EncoderConfig
    from mmkd_nb.tower import train_offline_tower, encoder_report, offline_cache_key
    from mmkd_nb.world import WorldConfig, make_world
    try: over = EncoderConfig.parse_sets(a.set)
    except ValueError as e: sys.exit(str(e))
    cfg = EncoderConfig.preset(a.preset, **over)
    world = make_world(WorldConfig.preset(cfg.world))
    t0 = time.time()
    enc, history = train_offline_tower(world.pairs("train"), cfg)
    seconds = time.time() - t0
    rep = encoder_report(enc, world, "test")
    doc = {"command": "python experiments/encoder.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "date": datetime.date.today().isoformat(), "preset": a.preset, "over": over, "config": cfg.to_dict(),
           "cache_key": offline_cache_key(cfg), **rep, "train_seconds": round(seconds, 1),
           "loss_first10": sum(history[:10]) / 10, "loss_last10": sum(history[-10:]) / 10,
           "machine": {"cpus": os.cpu_count(), "threads": a.threads, "load_avg_at_end": os.getloadavg()[0]},
           "versions": {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
                        "open_clip": open_clip.__version__}}
    path = Path(a.out) / f"encoder-{a.name}-{a.preset}.json"
    save_json(doc, path)                                   # atomic, like every results file
    print(f"{a.name}: R@1 {rep['r_at_1']:.3f}, colour {rep['colour_acc']:.3f}, shape {rep['shape_acc']:.3f} "
          f"(chance {rep['shape_chance']:.3f}); {seconds:.0f}s -> {path}")
    return doc


if __name__ == "__main__":
    main()
