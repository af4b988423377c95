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
