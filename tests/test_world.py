"""The embedded world is a function of its seed alone: two fresh interpreters with different hash seeds
generate byte-identical worlds, and the copy written to disk by one is what the other generates."""
import os, subprocess, sys

GEN = """
import sys
from mmkd_nb.world import WorldConfig, make_world, write_world
for spec in sys.argv[1:]:
    preset, seed, *out = spec.split(":", 2)
    w = make_world(WorldConfig.preset(preset, seed=int(seed)))
    if out: write_world(w, out[0])
    print(w.fingerprint())
"""

def _fingerprints(specs, hashseed):
    "Fingerprints of the worlds `preset:seed[:dir to write]` made in a fresh interpreter."
    env = {**os.environ, "PYTHONHASHSEED": str(hashseed), "HF_HUB_OFFLINE": "1"}
    r = subprocess.run([sys.executable, "-c", GEN, *specs], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-4000:]
    return r.stdout.strip().splitlines()[-len(specs):]

def test_same_seed_same_world_across_processes():
    a = _fingerprints(["tiny:0", "small:0", "tiny:1"], hashseed=1)
    b = _fingerprints(["tiny:0", "small:0"], hashseed=12345)
    assert a[:2] == b, f"the world differs between interpreters: {a[:2]} != {b}"
    assert a[2] != a[0], "seed 1 gave the same world as seed 0"

def test_written_world_loads_back_as_generated(tmp_path):
    from mmkd_nb.world import KINDS, SPLITS, WorldConfig, make_world, load_world, find_leaks
    _fingerprints([f"tiny:2:{tmp_path / 'w'}"], hashseed=7)  # written by another process
    w = make_world(WorldConfig.preset("tiny", seed=2))
    for kind in KINDS:
        for split in SPLITS:
            assert load_world(tmp_path / "w", kind, split) == w.records(kind, split), (kind, split)
    train = [r for k in KINDS for r in load_world(tmp_path / "w", k, "train")]
    assert find_leaks(train, w.heldout, [c.name for c in w.concepts]) == []
