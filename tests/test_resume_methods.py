"""The method stages survive SIGKILL: VIKDF's joint stage (one process, and two under `accelerate
launch`), MKS2's storage stage and MmDC's calibration loop, killed midway and started again with the
same command, end with bit-identical saved weights and the same logged history as a run never
interrupted.

Every killed run goes through `scripts/hang_after_checkpoint.py`, which stops the stage dead once a
chosen checkpoint is committed: the kill lands at a known step, whatever the load of the machine."""
import json, os, shutil, signal, socket, subprocess, sys, time
from pathlib import Path

import psutil
import pytest
import torch
from safetensors import safe_open

from mmkd_nb.core import load_tensors
from mmkd_nb.train import read_history

pytestmark = pytest.mark.xdist_group("resume_methods")  # one worker runs these and their fixtures

TESTS = Path(__file__).resolve().parent
ROOT, SCRIPTS = TESTS.parent, TESTS / "scripts"
HANG, MKS2 = SCRIPTS / "hang_after_checkpoint.py", SCRIPTS / "mks2_storage.py"
BIN = Path(sys.executable).parent
PY = [sys.executable]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    "One torch thread, offline hub, a cache of this module's own (the first run fills it)."
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1", "MPLBACKEND": "Agg",
            "MMKD_CACHE": str(tmp_path_factory.mktemp("cache"))}

def _free_port():
    with socket.socket() as s: s.bind(("127.0.0.1", 0)); return s.getsockname()[1]

def _launch(env):
    "`accelerate launch` with two real CPU processes (gloo), and its environment."
    cmd = [str(BIN / "accelerate"), "launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           "--main_process_port", str(_free_port())]
    return cmd, {**env, "ACCELERATE_USE_CPU": "1"}

def _run(cmd, env, timeout=300) -> dict:
    "Run a stage to its end; return the last JSON line it printed (its summary), if any."
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout,
                       env=env, cwd=ROOT)
    assert r.returncode == 0, \
        f"{' '.join(map(str, cmd))} failed:\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}"
    lines = [l for l in r.stdout.splitlines() if l.startswith("{")]
    return json.loads(lines[-1]) if lines else {}

def _kill_tree(proc):
    "SIGKILL `proc`'s process group, then the group of every process it started."
    try: tree = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess: tree = []
    try: os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError: pass
    # torch's elastic agent (behind `accelerate launch` and `torchrun`) starts every rank in a
    # session of its own: killing the launcher's group alone leaves the ranks training on
    for p in tree:
        try: os.killpg(os.getpgid(p.pid), signal.SIGKILL)
        except (ProcessLookupError, PermissionError): pass
    proc.wait(timeout=30)
    _, alive = psutil.wait_procs(tree, timeout=30)
    assert not alive, f"processes {[p.pid for p in alive]} survived SIGKILL"

def _kill_after(cmd, env, checkpoints: Path, name: str, log: Path, ranks: int = 1, timeout=300):
    """Start `cmd` (a stage under hang_after_checkpoint.py) in a new session; poll `checkpoints`
    until `latest` names `name` and all `ranks` hang there; SIGKILL the launcher and every rank."""
    with open(log, "w") as err:
        proc = subprocess.Popen([str(c) for c in cmd], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                stderr=err, start_new_session=True)
    latest, t0 = checkpoints / "latest", time.time()
    while not (latest.exists() and latest.read_text().strip() == name
               and all((checkpoints / f"hanging_{r}").exists() for r in range(ranks))):
        if proc.poll() is not None or time.time() - t0 > timeout:
            rc = proc.poll(); _kill_tree(proc)
            raise AssertionError(f"{'timed out' if rc is None else f'the run ended (rc {rc})'} "
                                 f"before {checkpoints / name}:\n{log.read_text()[-4000:]}")
        time.sleep(0.05)
    _kill_tree(proc)
    assert proc.returncode == -signal.SIGKILL

def _bits(t: torch.Tensor) -> torch.Tensor:
    return t.detach().reshape(-1).contiguous().view(torch.uint8)

def _same_weights(a: Path, b: Path):
    "Two safetensors files hold the same tensors, bit for bit, and the same metadata."
    ta, tb = load_tensors(a), load_tensors(b)
    assert sorted(ta) == sorted(tb), f"{a} and {b} hold different tensors"
    for k in ta:
        assert (ta[k].dtype, ta[k].shape) == (tb[k].dtype, tb[k].shape), f"{a.name}: {k}"
        diff = lambda: (ta[k].double() - tb[k].double()).abs().max().item()
        assert torch.equal(_bits(ta[k]), _bits(tb[k])), f"{a.name}: {k} differs by {diff():.3g}"
    # not the files' bytes: safetensors writes the metadata in a random order per process
    with safe_open(a, "pt") as fa, safe_open(b, "pt") as fb: assert fa.metadata() == fb.metadata()

def _same_history(run: Path, ref: Path, after: int):
    "The logged rows are equal (losses, parts, lr, grad_norm, samples), also after step `after`."
    h, r = read_history(run), read_history(ref)
    assert [x for x in h if x["step"] > after], f"{run}: no row after step {after}"
    for x, y in zip(h, r): assert x == y, f"history differs at step {x['step']}:\n{x}\n{y}"
    assert len(h) == len(r)


# --- VIKDF: the joint stage (Eq. 5 + Eq. 9) from its command line -------------------------------
VIKDF = ["-m", "mmkd_nb.vikdf.train", "--preset", "tiny", "--untrained-encoder", "--limit", "32"]
# 32 pairs, 8 a step: four steps an epoch, so the kill at step 10 lands mid-epoch; dropout, the
# TAMIM/IAMTM masks and BVIF's prompt draws use the random states the checkpoint must restore
V_ARGS, V_KILL = ["--steps", "20", "--save-every", "5"], "step_000010"

def _vikdf_same(out: Path, ref: Path):
    _same_weights(out / "model" / "vikdf.safetensors", ref / "model" / "vikdf.safetensors")
    for f in ("model.safetensors", "optimizer.safetensors"):           # Adam's moments too
        last = Path("checkpoints") / "step_000020" / f
        _same_weights(out / last, ref / last)
    _same_history(out, ref, after=10)

@pytest.fixture(scope="module")
def vikdf_ref(env, tmp_path_factory):
    out = tmp_path_factory.mktemp("vikdf") / "ref"
    s = _run([*PY, *VIKDF, "--out", out, *V_ARGS, "--batch-size", "8"], env)
    assert s["steps"] == 20 and s["resumed_from"] is None
    return out

def test_vikdf_killed_then_resumed(vikdf_ref, env, tmp_path):
    out = tmp_path / "run"
    args = ["--out", out, *V_ARGS, "--batch-size", "8"]
    _kill_after([*PY, HANG, f"checkpoints/{V_KILL}", *VIKDF, *args], env, out / "checkpoints",
                V_KILL, tmp_path / "killed.log")
    assert not (out / "model").exists()
    s = _run([*PY, *VIKDF, *args], env)                          # the same command again
    assert s["steps"] == 20 and s["resumed_from"] == 10
    _vikdf_same(out, vikdf_ref)


@pytest.fixture(scope="module")
def vikdf_ref_2(env, tmp_path_factory):
    "The uninterrupted two-process run (4 pairs per process and step)."
    out = tmp_path_factory.mktemp("vikdf2") / "ref"
    cmd, e = _launch(env)
    s = _run([*cmd, *VIKDF, "--out", out, *V_ARGS, "--batch-size", "4"], e)
    assert s["steps"] == 20 and s["resumed_from"] is None
    assert [r["samples"] for r in read_history(out)][:2] == [8, 16]      # two processes x 4
    return out

def test_vikdf_two_processes_killed_then_resumed(vikdf_ref_2, env, tmp_path):
    "Launcher and both ranks killed at step 10; launched again, it ends as the uninterrupted one."
    out = tmp_path / "run"
    args = ["--out", out, *V_ARGS, "--batch-size", "4"]
    cmd, e = _launch(env)
    _kill_after([*cmd, HANG, f"checkpoints/{V_KILL}", *VIKDF, *args], e, out / "checkpoints",
                V_KILL, tmp_path / "killed.log", ranks=2)
    assert not (out / "model").exists()
    rng = sorted(p.name for p in (out / "checkpoints" / V_KILL).glob("rng_*.safetensors"))
    assert rng == ["rng_0.safetensors", "rng_1.safetensors"]          # each rank's random state
    cmd, e = _launch(env)
    s = _run([*cmd, *VIKDF, *args], e)
    assert s["steps"] == 20 and s["resumed_from"] == 10
    _vikdf_same(out, vikdf_ref_2)


# --- MKS2: the storage stage (Eq. 3-4: visual memory + mapper) -----------------------------------
# 96 pairs, 16 a step: six steps an epoch. History rows every 5 steps: the checkpoint of step 8
# holds an open log window (steps 6-8) that the resumed run must close as the uninterrupted one.
# Every checkpoint is kept, so that the resumed run can be seen not to write steps 4 and 8 again.
M_ARGS, M_KILL = ["--steps", "20", "--save-every", "4", "--keep-last", "10"], "step_000008"

@pytest.fixture(scope="module")
def mks2_ref(env, tmp_path_factory):
    out = tmp_path_factory.mktemp("mks2") / "ref"
    assert _run([*PY, MKS2, out, *M_ARGS], env)["steps"] == 20
    return out

def _stamp(p: Path): st = p.stat(); return st.st_ino, st.st_mtime_ns

def test_mks2_storage_killed_then_resumed(mks2_ref, env, tmp_path):
    out = tmp_path / "run"
    ck, ref = out / "storage" / "checkpoints", mks2_ref / "storage"
    _kill_after([*PY, HANG, f"checkpoints/{M_KILL}", MKS2, out, *M_ARGS], env, ck, M_KILL,
                tmp_path / "killed.log")
    assert not (out / "storage" / "mvm.safetensors").exists()
    before = {n: _stamp(ck / n / "state.json") for n in ("step_000004", "step_000008")}
    assert _run([*PY, MKS2, out, *M_ARGS], env)["steps"] == 20
    assert {n: _stamp(ck / n / "state.json") for n in before} == before   # resumed at 8, not redone
    assert sorted(p.name for p in ck.glob("step_*")) == [f"step_{k:06d}" for k in range(4, 21, 4)]
    for f in ("mvm.safetensors", "mapper.safetensors"):
        _same_weights(out / "storage" / f, ref / f)
    _same_weights(ck / "step_000020" / "optimizer.safetensors",
                  ref / "checkpoints" / "step_000020" / "optimizer.safetensors")
    _same_history(out / "storage", ref, after=8)
    assert [r["step"] for r in read_history(out / "storage")] == [5, 10, 15, 20]


# --- MmDC: the calibration loop, whose student trains in every iteration ------------------------
MMDC = ["-m", "mmkd_nb.mmdc.run"]

@pytest.fixture(scope="module")
def mmdc_runs(env, tmp_path_factory):
    "A run with the teacher and align stages done (tiny: one iteration, then the final tuning)."
    base = tmp_path_factory.mktemp("mmdc") / "base"
    for stage in ("teacher", "align"):
        _run([*PY, *MMDC, stage, "--preset", "tiny", "--out", base], env)
    ref = base.parent / "ref"
    shutil.copytree(base, ref)
    _run([*PY, *MMDC, "calibrate", "--out", ref], env)
    return base, ref

def _calib_files(run: Path) -> dict:
    "Relative path -> bytes of the calibration's files but the training folders and timed reports."
    calib = run / "calib"
    skip = lambda p: ("train" in p.relative_to(calib).parts
                      or p.name in ("student_report.json", "tune.json"))
    return {str(p.relative_to(calib)): p.read_bytes()
            for p in sorted(calib.rglob("*")) if p.is_file() and not skip(p)}

# (iteration, checkpoint of its student's 3-step training to kill after, drop the training's folder)
MMDC_KILLS = [(0, 2, False),  # resumes the training from its checkpoint
              (1, 1, True),   # as if killed before iteration 1 trained (reloads its student)
              (1, 2, False)]  # resumes the final tuning from its checkpoint

def test_mmdc_calibrate_killed_in_the_trainings_then_resumed(mmdc_runs, env, tmp_path):
    """Killed inside the student's training of iteration 0, then before and inside the final tuning:
    every student saved per iteration (iter_k/student/) equals the uninterrupted run's, bit for bit,
    and so do the pools, assessments, summaries and evaluations."""
    base, ref = mmdc_runs
    run = tmp_path / "run"
    shutil.copytree(base, run)
    for k, step, drop in MMDC_KILLS:
        train, name = run / "calib" / f"iter_{k:02d}" / "student" / "train", f"step_{step:06d}"
        where = f"iter_{k:02d}/student/train/checkpoints/{name}"
        _kill_after([*PY, HANG, where, *MMDC, "calibrate", "--out", run], env,
                    train / "checkpoints", name, tmp_path / f"killed_{k}_{step}.log")
        state = json.loads((run / "calib" / "state.json").read_text())
        assert (state["iteration"], state["phase"]) == (k, "tune")
        assert not (train.parent / "student.safetensors").exists()
        if drop: shutil.rmtree(train)
    _run([*PY, *MMDC, "calibrate", "--out", run], env)
    for k in (0, 1):
        d = f"calib/iter_{k:02d}/student"
        _same_weights(run / d / "student.safetensors", ref / d / "student.safetensors")
        _same_history(run / d / "train", ref / d / "train", after=2)
    a, b = _calib_files(run), _calib_files(ref)
    assert sorted(a) == sorted(b)
    assert [k for k in a if a[k] != b[k]] == []
