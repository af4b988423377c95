"""`mmkd mmdc <stage>` chained through one run folder on the tiny preset: the teacher and calibrate stages as two real processes
under `accelerate launch`, align and eval as plain module runs; and a calibrate stage killed by SIGKILL that resumes."""
import json, os, signal, socket, subprocess, sys, time
from pathlib import Path

BIN = Path(sys.executable).parent
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "MPLBACKEND": "Agg"}
MOD = ["-m", "mmkd_nb.mmdc.run"]


def _free_port():
    with socket.socket() as s: s.bind(("127.0.0.1", 0)); return s.getsockname()[1]

def _run(cmd, env):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}"
    return r


def test_stages_chain_under_accelerate(tmp_path):
    "teacher (2 processes, gloo) → align → calibrate → eval, each stage reading the folder the one before wrote."
    env, out = {**ENV, "MMKD_CACHE": str(tmp_path / "cache")}, tmp_path / "run"
    _run([str(BIN / "accelerate"), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
          "--dynamo_backend", "no", "--main_process_port", str(_free_port()), *MOD, "teacher", "--preset", "tiny", "--out", str(out),
          "--set", "teacher_steps=2"], {**env, "ACCELERATE_USE_CPU": "1"})
    rep = json.loads((out / "teacher" / "report.json").read_text())
    assert rep["steps"] == 2 and (out / "teacher" / "model.safetensors").stat().st_size > 0
    hist = [json.loads(l) for l in (out / "teacher" / "train" / "history.jsonl").read_text().splitlines() if l.strip()]
    assert [h["samples"] for h in hist if h.get("split", "train") == "train"] == [8, 16]      # 2 processes x batch 4 per step
    r = _run([sys.executable, *MOD, "align", "--out", str(out)], env)
    assert f"mmdc align: {out}" in r.stdout, r.stdout
    # calibrate with 2 processes: the main one answers, assesses, augments and commits; both train the student data-parallel
    r = _run([str(BIN / "accelerate"), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
              "--dynamo_backend", "no", "--main_process_port", str(_free_port()), *MOD, "calibrate", "--out", str(out)], {**env, "ACCELERATE_USE_CPU": "1"})
    assert r.stdout.count(f"mmdc calibrate: {out}") == 1, r.stdout                   # one process reports
    state = json.loads((out / "calib" / "state.json").read_text())
    assert state["history"] == [[0, "tune"], [0, "assess"], [0, "augment"], [0, "commit"], [1, "tune"]] and state["phase"] == "done"
    for k in (0, 1):
        h = [json.loads(l) for l in (out / "calib" / f"iter_{k:02d}" / "student" / "train" / "history.jsonl").read_text().splitlines() if l.strip()]
        assert [x["samples"] for x in h if x.get("split", "train") == "train"][:2] == [8, 16]      # 2 processes x batch 4 per step
    ids = [json.loads(l)["id"] for l in (out / "calib" / "pool_01" / "cache.jsonl").read_text().splitlines() if l.strip()]
    assert len(ids) == len(set(ids)) and not list((out / "calib").rglob("*.tmp"))
    r = _run([sys.executable, *MOD, "eval", "--out", str(out)], env)
    assert f"mmdc eval: {out}" in r.stdout, r.stdout
    ev = json.loads((out / "eval.json").read_text())
    assert [c["stage"] for c in ev["curve"]] == ["aligned", "iteration 0", "iteration 1"] and len(ev["hists"]) == 1


def test_calibrate_killed_resumes(tmp_path):
    "SIGKILL the calibrate stage while it works, start it again: it finishes with every iteration's student and summary."
    env, out = {**ENV, "MMKD_CACHE": str(tmp_path / "cache")}, tmp_path / "run"
    for stage in ("teacher", "align"):
        _run([sys.executable, *MOD, stage, "--preset", "tiny", "--out", str(out), "--set", "teacher_steps=2", "--set", "iterations=2"], env)
    p = subprocess.Popen([sys.executable, *MOD, "calibrate", "--out", str(out)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.time()
    while not list((out / "calib").glob("iter_00/assess/part_*")) and time.time() - t0 < 300 and p.poll() is None: time.sleep(0.2)
    killed = p.poll() is None
    if killed: os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert killed, "the stage ended before it could be killed"
    _run([sys.executable, *MOD, "calibrate", "--out", str(out)], env)
    state = json.loads((out / "calib" / "state.json").read_text())
    assert (state["iteration"], state["phase"]) == (2, "done")
    assert len(list((out / "calib").glob("iter_*/student/eval.json"))) == 3


def test_help():
    r = _run([sys.executable, *MOD, "calibrate", "--help"], ENV)
    assert "usage: mmkd mmdc calibrate" in r.stdout and "--preset" in r.stdout and "--seed" in r.stdout


def test_presets_teachers_are_shipped():
    "The package ships the trained teacher of every CPU preset, under the key `teacher_stage` looks up."
    from mmkd_nb.core import shipped_manifest
    from mmkd_nb.mmdc.run import MmDCConfig, teacher_key
    entries = shipped_manifest()
    for preset in ("tiny", "micro", "small"):
        assert f"mmdc_teacher/{teacher_key(MmDCConfig.preset(preset))}" in entries, preset


def test_teacher_restored_from_the_package(tmp_path):
    "In an empty cache the tiny teacher is the package's copy: restored (digests checked) and evaluated, never trained."
    env, out = {**ENV, "MMKD_CACHE": str(tmp_path / "cache")}, tmp_path / "run"
    _run([sys.executable, *MOD, "teacher", "--preset", "tiny", "--out", str(out)], env)
    rep = json.loads((out / "teacher" / "report.json").read_text())
    assert "cached" in rep and not (out / "teacher" / "train").exists(), rep
    assert rep["world"]["n"] > 0 and rep["steps"] > 2
