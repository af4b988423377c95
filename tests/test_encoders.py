"""The offline encoder cache across processes: one process trains and caches, a fresh one loads the same weights."""
import json, os, subprocess, sys

SCRIPT = """
import json, sys
from mmkd_nb.encoders import EncoderConfig, load_encoder
from mmkd_nb.world import WorldConfig, make_world
enc = load_encoder(EncoderConfig.preset("tiny", steps=5), progress=False)
im = make_world(WorldConfig.preset("tiny")).pairs("test")[0].image
print(json.dumps({"history": enc.history, "pooled": enc.encode_image([im]).pooled[0, :4].tolist(),
                  "text": enc.encode_text(["a dax"]).states.shape[-1]}))
"""

def _run(cache):
    env = {**os.environ, "MMKD_CACHE": str(cache), "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-4000:]
    return json.loads(r.stdout.strip().splitlines()[-1])

def test_offline_encoder_cached_across_processes(tmp_path):
    first = _run(tmp_path)
    folders = list((tmp_path / "encoders").iterdir())
    assert len(folders) == 1 and {p.name for p in folders[0].iterdir()} == {"config.json", "weights.safetensors"}
    stamp = (folders[0] / "weights.safetensors").stat().st_mtime_ns
    second = _run(tmp_path)                       # loads, does not retrain
    assert (folders[0] / "weights.safetensors").stat().st_mtime_ns == stamp
    assert second["history"] == first["history"] and len(first["history"]) == 5
    assert second["pooled"] == first["pooled"] and first["text"] == 64


def test_encoder_experiment_script_writes_results(tmp_path):
    "experiments/encoder.py trains a tower with the overrides and records them with the report."
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "MMKD_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, os.path.join(root, "experiments", "encoder.py"), "--preset", "tiny", "--name", "t",
                        "--set", "stem=conv", "--set", "steps=6", "--set", "shape_negatives=2", "--out", str(tmp_path)],
                       capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-4000:]
    doc = json.loads((tmp_path / "encoder-t-tiny.json").read_text())
    assert doc["over"] == {"stem": "conv", "steps": 6, "shape_negatives": 2} and doc["config"]["stem"] == "conv"
    assert 0 <= doc["shape_acc"] <= 1 and doc["shape_chance"] == 1 / 3 and doc["train_seconds"] > 0
    bad = subprocess.run([sys.executable, os.path.join(root, "experiments", "encoder.py"), "--preset", "tiny", "--name", "t",
                          "--set", "stems=conv", "--out", str(tmp_path)], capture_output=True, text=True, env=env, timeout=600)
    assert bad.returncode != 0 and "expected FIELD=VALUE with FIELD one of" in bad.stderr
