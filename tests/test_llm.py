"The converted-LLM cache survives a killed conversion and two processes converting at once."
import os, signal, subprocess, sys, time

from mmkd_nb.llm import cached_folder

SLOW_BUILD = """
import sys, time
from mmkd_nb.llm import cached_folder
def build(d):
    (d / "model.safetensors").write_bytes(b"x" * 1000)
    print("writing", flush=True); time.sleep(float(sys.argv[2]))
    (d / "config.json").write_text(sys.argv[1])
print(cached_folder("m", build), flush=True)
"""

def _start(tmp_path, tag, sleep):
    env = {**os.environ, "MMKD_CACHE": str(tmp_path)}
    return subprocess.Popen([sys.executable, "-c", SLOW_BUILD, tag, str(sleep)], env=env, stdout=subprocess.PIPE, text=True)

def test_killed_conversion_leaves_no_cache(tmp_path, monkeypatch):
    p = _start(tmp_path, "killed", 60)
    assert p.stdout.readline().strip() == "writing"
    p.send_signal(signal.SIGKILL); p.wait(timeout=30)
    root = tmp_path / "llm"
    assert not (root / "m").exists()                         # no cache that looks whole
    (left,) = list(root.iterdir())
    assert left.name.startswith(".m.")                       # only the temporary folder is left
    old = time.time() - 7200; os.utime(left, (old, old))     # ... and once it is old, the next conversion sweeps it
    monkeypatch.setenv("MMKD_CACHE", str(tmp_path))
    d = cached_folder("m", lambda d: (d / "config.json").write_text("ok"))
    assert (d / "config.json").read_text() == "ok"
    assert [x.name for x in root.iterdir()] == ["m"]

def test_concurrent_conversions_both_succeed(tmp_path):
    ps = [_start(tmp_path, tag, 1.0) for tag in ("a", "b")]
    outs = [p.communicate(timeout=120)[0].splitlines()[-1] for p in ps]
    assert all(p.returncode == 0 for p in ps)
    assert outs[0] == outs[1] == str(tmp_path / "llm" / "m")
    assert (tmp_path / "llm" / "m" / "config.json").read_text() in ("a", "b")   # one whole result, kept
    assert [x.name for x in (tmp_path / "llm").iterdir()] == ["m"]             # the other's temp folder removed
