"""Two real training processes (gloo on CPU) follow the same loss trajectory as one process with the same global batch."""
import json, os, socket, subprocess, sys
from pathlib import Path

import pytest
import torch

from mmkd_nb.core import load_tensors
from mmkd_nb.train import read_history

SCRIPT = Path(__file__).resolve().parent / "scripts" / "train_toy.py"
BIN = Path(sys.executable).parent
ARGS = ["--steps", "12", "--save-every", "6"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _free_port():
    with socket.socket() as s: s.bind(("127.0.0.1", 0)); return s.getsockname()[1]

def _run(cmd, env=ENV):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}"


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    out = tmp_path_factory.mktemp("one")
    _run([sys.executable, str(SCRIPT), str(out), *ARGS, "--batch-size", "8"])
    return out


LAUNCHERS = {
    # `accelerate launch --cpu --num_processes 2` would start one process; --multi_gpu with ACCELERATE_USE_CPU starts two on gloo
    "accelerate": lambda port: ([str(BIN / "accelerate"), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                                 "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(port)],
                                {"ACCELERATE_USE_CPU": "1"}),
    "torchrun": lambda port: ([str(BIN / "torchrun"), "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
                               "--master_port", str(port)], {"ACCELERATE_USE_CPU": "1"}),
}


@pytest.mark.parametrize("launcher,per_process", [("accelerate", ["--batch-size", "4"]),
                                                  ("torchrun", ["--batch-size", "2", "--grad-accum", "2"])])
def test_two_processes_follow_one(one_process, tmp_path, launcher, per_process):
    "Global micro-batch 8 on one process = 2 processes x 4 = 2 processes x 2 x 2 accumulated."
    out = tmp_path / launcher
    cmd, env = LAUNCHERS[launcher](_free_port())
    _run([*cmd, str(SCRIPT), str(out), *ARGS, *per_process], env={**ENV, **env})
    ranks = [json.loads((out / f"rank_{r}.json").read_text()) for r in range(2)]
    assert [r["rank"] for r in ranks] == [0, 1] and all(r["world_size"] == 2 for r in ranks)
    assert ranks[0]["pid"] != ranks[1]["pid"]                     # two real processes
    h1 = [r for r in read_history(one_process) if r["split"] == "train"]
    h2 = [r for r in read_history(out) if r["split"] == "train"]
    assert [r["step"] for r in h2] == list(range(1, 13)) and [r["samples"] for r in h2] == [r["samples"] for r in h1]
    for a, b in zip(h1, h2):
        for k in ("loss", "mse", "l2", "grad_norm", "lr"): assert abs(a[k] - b[k]) <= 1e-5, (a["step"], k, a[k], b[k])
    p1, p2 = load_tensors(one_process / "final.safetensors"), load_tensors(out / "final.safetensors")
    for k in p1: torch.testing.assert_close(p1[k], p2[k], rtol=0, atol=1e-5)
