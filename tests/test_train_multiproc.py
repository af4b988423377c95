"""Two real training processes (gloo on CPU) follow the same loss trajectory as one process with the same global batch,
and stop together when one of them gets SIGTERM."""
import json, os, signal, socket, subprocess, sys, time
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


def test_sigterm_to_one_process_stops_both_after_the_same_step(tmp_path):
    "Only rank 1 is signalled: both stop after the same step, checkpoint it together, and the run resumes from it."
    out, args = tmp_path / "termed", ["--steps", "40", "--save-every", "1000", "--batch-size", "4", "--sleep", "0.03"]
    cmd, env = LAUNCHERS["torchrun"](_free_port())
    proc = subprocess.Popen([*cmd, str(SCRIPT), str(out), *args, "--mark-at", "8"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env={**ENV, **env})
    t0 = time.time()
    while not (out / "marked_1").exists():
        assert proc.poll() is None, proc.stderr.read().decode()[-4000:]
        assert time.time() - t0 < 120, "rank 1 never reached micro-batch 8"
        time.sleep(0.01)
    os.kill(int((out / "marked_1").read_text()), signal.SIGTERM)
    proc.wait(timeout=120); err = proc.stderr.read().decode(); proc.stderr.close()
    assert proc.returncode != 0                                   # the run did not finish
    assert "TrainingStopped: stopped by another process's signal after step" in err, err[-4000:]   # rank 0
    stopped_at = int((out / "checkpoints" / "latest").read_text().strip().split("_")[1])
    assert 8 <= stopped_at < 40 and not (out / "final.safetensors").exists()
    assert f"after step {stopped_at} of 40" in err
    cmd, env = LAUNCHERS["torchrun"](_free_port())
    _run([*cmd, str(SCRIPT), str(out), *args], env={**ENV, **env})
    ranks = [json.loads((out / f"rank_{r}.json").read_text()) for r in range(2)]
    assert [(r["resumed_from"], r["step"]) for r in ranks] == [(stopped_at, 40)] * 2
    assert [r["step"] for r in read_history(out) if r["split"] == "train"] == list(range(1, 41))
