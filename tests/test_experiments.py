"""The experiment scripts' machinery: seeds in parallel one-thread processes give the numbers a sequential run gives,
the results file records the workers, and the GPU script's commands are accepted by the scripts they call."""
import json, os, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def script(name: str, *args, timeout=1200, env=None) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, str(ROOT / "experiments" / name), *args], capture_output=True, text=True,
                       timeout=timeout, cwd=ROOT, env={**os.environ, **(env or {})})
    assert r.returncode == 0, f"{name} {' '.join(args)} failed:\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}"
    return r


def test_gpu_commands_parse():
    r = script("gpu.py", "--check", timeout=300)
    assert r.stdout.count("ok  ") == 3, r.stdout


def test_mmdc_seeds_in_parallel_match_sequential(tmp_path):
    "Two seeds in two one-thread processes give exactly the numbers of the same seeds run one after the other."
    env = {"MMKD_CACHE": str(tmp_path / "cache")}
    common = ["--preset", "tiny", "--arms", "main", "--seeds", "0", "1", "--threads", "1"]
    script("mmdc.py", *common, "--root", str(tmp_path / "seq"), "--out", str(tmp_path / "seq.json"), env=env)
    script("mmdc.py", *common, "--workers", "2", "--root", str(tmp_path / "par"), "--out", str(tmp_path / "par.json"),
           env=env)
    seq, par = (json.loads((tmp_path / f"{k}.json").read_text()) for k in ("seq", "par"))
    assert par["machine"]["workers"] == 2 and par["machine"]["threads"] == 1
    curve = lambda d, s: [c["world"]["accuracy"] for c in d["arms"]["main"]["seeds"][s]["curve"]]
    for s in ("0", "1"):
        assert curve(par, s) == curve(seq, s)
        assert par["arms"]["main"]["seeds"][s]["hists"] == seq["arms"]["main"]["seeds"][s]["hists"]
    assert par["arms"]["main"]["summary"] == seq["arms"]["main"]["summary"]
