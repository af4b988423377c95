"""A training process killed with SIGKILL — midway, or while it writes a checkpoint — or stopped with SIGTERM, and
started again, ends with the same parameters and the same logged history as a run that was never interrupted."""
import json, os, signal, subprocess, sys, time
from pathlib import Path

import pytest
import torch

from mmkd_nb.core import load_tensors
from mmkd_nb.train import read_history

SCRIPT = Path(__file__).resolve().parent / "scripts" / "train_toy.py"
ARGS = ["--steps", "40", "--save-every", "5", "--dropout", "0.2"]   # dropout: the random states must be restored too
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _cmd(out, *extra): return [sys.executable, str(SCRIPT), str(out), *ARGS, *extra]

def _run(out, *extra):
    r = subprocess.run(_cmd(out, *extra), capture_output=True, text=True, timeout=180, env=ENV)
    assert r.returncode == 0, f"training script failed:\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}"

def _start(out, *extra):
    return subprocess.Popen(_cmd(out, *extra), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)

def _latest(out):
    p = Path(out) / "checkpoints" / "latest"
    return p.read_text().strip() if p.exists() else None

def _wait_for(cond, proc, what, timeout=120):
    t0 = time.time()
    while not cond():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended (rc {proc.returncode}) before {what}:\n{proc.stderr.read().decode()[-3000:]}")
        if time.time() - t0 > timeout: proc.kill(); raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)

def _kill(proc):
    os.kill(proc.pid, signal.SIGKILL); proc.wait(timeout=30); proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL

def _assert_same_run(out, ref):
    a, b = load_tensors(Path(out) / "final.safetensors"), load_tensors(Path(ref) / "final.safetensors")
    assert sorted(a) == sorted(b) == ["head.0.bias", "head.0.weight", "head.3.bias", "head.3.weight"]
    for k in a: assert torch.equal(a[k], b[k]), f"{k} differs by {(a[k] - b[k]).abs().max().item():.3g}"
    assert read_history(out) == read_history(ref)

def _info(out): return json.loads((Path(out) / "rank_0.json").read_text())


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    "The uninterrupted run."
    out = tmp_path_factory.mktemp("reference"); _run(out)
    assert _info(out)["resumed_from"] is None and _info(out)["step"] == 40
    return out


def test_sigkill_midway_then_resume(reference, tmp_path):
    out = tmp_path / "killed"
    proc = _start(out, "--sleep", "0.03")
    _wait_for(lambda: (_latest(out) or "step_0") >= "step_000015", proc, "the checkpoint of step 15")
    _kill(proc)
    killed_at = int(_latest(out).split("_")[1])
    assert 15 <= killed_at < 40 and not (out / "final.safetensors").exists()
    _run(out)
    assert _info(out)["resumed_from"] == killed_at
    _assert_same_run(out, reference)


def test_sigterm_checkpoints_the_step_then_resume(reference, tmp_path):
    "SIGTERM, as a scheduler sends it before SIGKILL: the step in progress is checkpointed, then the process ends as SIGTERM ends it."
    out = tmp_path / "termed"
    proc = _start(out, "--sleep", "0.03", "--save-every", "1000", "--mark-at", "12")   # no periodic checkpoint
    out.mkdir(parents=True, exist_ok=True)
    _wait_for(lambda: (out / "marked_0").exists(), proc, "micro-batch 12")
    os.kill(proc.pid, signal.SIGTERM); proc.wait(timeout=60); proc.stderr.close()
    assert proc.returncode == -signal.SIGTERM                      # the signal's own effect, after the checkpoint
    stopped_at = int(_latest(out).split("_")[1])
    assert 12 <= stopped_at < 40 and not (out / "final.safetensors").exists()
    assert [r["step"] for r in read_history(out)][-1] == stopped_at   # the history is written up to it
    _run(out, "--save-every", "1000")
    assert _info(out)["resumed_from"] == stopped_at
    _assert_same_run(out, reference)


@pytest.mark.parametrize("where", ["before_rename", "after_rename"])
def test_sigkill_while_writing_a_checkpoint(reference, tmp_path, where):
    "Killed with step 20's checkpoint written but not committed (before the rename, or before `latest` moved): step 15 is used."
    out, ck = tmp_path / where, tmp_path / where / "checkpoints"
    proc = _start(out, "--hang-at-step", "20", "--hang-where", where)
    _wait_for(lambda: (out / "hanging").exists(), proc, "the checkpoint of step 20 to be half-committed")
    _kill(proc)
    assert _latest(out) == "step_000015"
    left = ".tmp_step_000020" if where == "before_rename" else "step_000020"
    assert (ck / left / "state.json").exists()              # the interrupted checkpoint is there, but not used
    _run(out)
    assert _info(out)["resumed_from"] == 15
    assert not list(ck.glob(".tmp_*"))                       # the stale temporary folder was cleaned up
    _assert_same_run(out, reference)
