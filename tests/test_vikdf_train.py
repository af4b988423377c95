"""`python -m mmkd_nb.vikdf.train` is the entry point of the paper-scale `accelerate launch` run; here it runs on the tiny preset
as two real processes under `accelerate launch`, and the plain script resumes the run from its folder."""
import json, os, socket, subprocess, sys
from pathlib import Path

from mmkd_nb.train import read_history

BIN = Path(sys.executable).parent
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
ARGS = ["-m", "mmkd_nb.vikdf.train", "--preset", "tiny", "--untrained-encoder", "--limit", "32"]


def _free_port():
    with socket.socket() as s: s.bind(("127.0.0.1", 0)); return s.getsockname()[1]

def _run(cmd, env=ENV):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}"
    return r

def _summary(r) -> dict:
    return json.loads([l for l in r.stdout.splitlines() if l.startswith("{")][-1])


def test_accelerate_launch_then_resume_as_script(tmp_path):
    "The paper's launch command on the tiny preset (two CPU processes on gloo), then the plain script continues the run."
    out = tmp_path / "run"
    cmd = [str(BIN / "accelerate"), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
           "--dynamo_backend", "no", "--main_process_port", str(_free_port()),
           *ARGS, "--out", str(out), "--steps", "2", "--batch-size", "2", "--save-every", "1"]
    s = _summary(_run(cmd, env={**ENV, "ACCELERATE_USE_CPU": "1"}))
    assert s["steps"] == 2 and s["resumed_from"] is None and (out / "model" / "vikdf.safetensors").exists()
    rows = [r for r in read_history(out) if r["split"] == "train"]
    assert [r["samples"] for r in rows] == [4, 8]          # 2 processes x 2 pairs per step
    # one process with the same global micro-batch (1 x 4) picks the run up at step 2
    s2 = _summary(_run([sys.executable, *ARGS, "--out", str(out), "--steps", "3", "--batch-size", "4", "--save-every", "1"]))
    assert s2["steps"] == 3 and s2["resumed_from"] == 2
    rows = [r for r in read_history(out) if r["split"] == "train"]
    assert [r["step"] for r in rows] == [1, 2, 3] and [r["samples"] for r in rows] == [4, 8, 12]
    assert all(k in rows[0] for k in ("loss", "tim", "tamim", "iamtm", "iaci", "iakr"))
