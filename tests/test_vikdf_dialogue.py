"""`python -m mmkd_nb.vikdf.dialogue` is the entry point of the paper-scale `accelerate launch` dialogue run; here it runs on the
tiny preset as two real processes under `accelerate launch` (each trains on its share of the batches; only the main process
evaluates and writes the report)."""
import json, os, socket, subprocess, sys
from pathlib import Path

from mmkd_nb.train import read_history

BIN = Path(sys.executable).parent
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def _free_port():
    with socket.socket() as s: s.bind(("127.0.0.1", 0)); return s.getsockname()[1]

def _run(cmd, env=ENV):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}"
    return r

def _summaries(r) -> list:
    return [json.loads(l) for l in r.stdout.splitlines() if l.startswith("{")]


def test_accelerate_launch_dialogue_two_processes(tmp_path):
    "The paper's launch command on the tiny preset: joint VIKDF stages, then dialogue fine-tuning, on two CPU processes (gloo)."
    out = tmp_path / "run"
    cmd = [str(BIN / "accelerate"), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
           "--dynamo_backend", "no", "--main_process_port", str(_free_port()),
           "-m", "mmkd_nb.vikdf.dialogue", "--preset", "tiny", "--untrained-encoder", "--out", str(out),
           "--pretrain-steps", "2", "--steps", "2", "--batch-size", "2", "--eval-limit", "2"]
    r = _run(cmd, env={**ENV, "ACCELERATE_USE_CPU": "1"})
    s = _summaries(r)
    assert len(s) == 1, r.stdout[-2000:]                       # one process prints
    assert s[0]["steps"] == 2 and s[0]["n"] == 2 and s[0]["method"] == "vikdf"
    rows = [x for x in read_history(out / "dialogue") if x["split"] == "train"]
    assert [x["samples"] for x in rows] == [4, 8]               # 2 processes x 2 dialogues per step
    assert (out / "vikdf" / "model" / "vikdf.safetensors").exists() and (out / "dialogue.safetensors").exists()
    assert json.loads((out / "report.json").read_text())["steps"] == 2


def test_cli_help():
    r = _run([sys.executable, "-m", "mmkd_nb.vikdf.dialogue", "--help"])
    assert "usage: mmkd vikdf dialogue" in r.stdout and "--preset" in r.stdout and "--seed" in r.stdout
