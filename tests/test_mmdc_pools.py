"""MmDC's calibration pools survive real SIGKILLs: a run killed in each phase (and at random moments) and
started again ends with exactly the files of a run never interrupted — no instruction lost or duplicated."""
import json, os, random, signal, subprocess, sys, time
from pathlib import Path

import pytest

# One calibration run on the tiny world with the offline stand-ins. MMDC_KILL_AT="event:phase:part:iteration"
# (empty fields match anything) makes the process SIGKILL itself at that hook; MMDC_SLOW=s sleeps s seconds
# at every hook and in training, so that an outside kill lands at a random point of the work.
SCRIPT = r'''
import os, signal, sys, time
from pathlib import Path
from mmkd_nb.world import make_world, WorldConfig
from mmkd_nb.mmdc.roles import SceneBook, SceneOracle, NoisyStudent, ReferenceJudge, TemplateAugmentor, Teacher, Student, Assessor, Augmentor
from mmkd_nb.mmdc.calibrate import Pools, CalibrateConfig, run_calibration

records = make_world(WorldConfig.preset("tiny")).vqa("train")
book = SceneBook.from_records(records)
cfg = CalibrateConfig.preset("tiny", iterations=2, chunk_size=8)
if os.environ.get("MMDC_PLAIN"):  # the plain arm: tuning pools of these sizes, no judge, no augmentor
    cfg = cfg.replace(calibration=False, plain_sizes=[int(n) for n in os.environ["MMDC_PLAIN"].split(",")])
kill = os.environ.get("MMDC_KILL_AT", "")
slow = float(os.environ.get("MMDC_SLOW", "0"))

def hook(event, **info):
    if slow: time.sleep(slow)
    if not kill: return
    ev, phase, part, it = kill.split(":")
    if (ev == event and phase in ("", str(info.get("phase"))) and part in ("", str(info.get("part")))
            and it in ("", str(info.get("iteration")))):
        os.kill(os.getpid(), signal.SIGKILL)

def train_fn(conversations, iteration, out_dir):
    if slow: time.sleep(3 * slow)
    return {"dialogues": len(conversations), "turns": sum(len(c.turns) for c in conversations)}

pools = Pools.create(sys.argv[1], records, cfg)
run_calibration(pools, Teacher(SceneOracle(book)), Student(NoisyStudent(book, seed=0)), train_fn,
                Assessor(ReferenceJudge(book)), Augmentor(TemplateAugmentor(book, seed=0)), cfg, hook=hook)
print("done", pools.state.iteration, pools.state.phase)
'''

def _start(run_dir, tmp, **env):
    script = tmp / "calibrate_run.py"
    if not script.exists(): script.write_text(SCRIPT)
    e = {**os.environ, "MMDC_KILL_AT": "", "MMDC_SLOW": "0", "MMKD_FAST": "1", **env}
    return subprocess.Popen([sys.executable, str(script), str(run_dir)], env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

def _run(run_dir, tmp, **env):
    p = _start(run_dir, tmp, **env)
    out, err = p.communicate(timeout=120)
    return p.returncode, out, err

def _files(root) -> dict:
    "Relative path -> bytes of every file under `root`."
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(Path(root).rglob("*")) if p.is_file()}

def _state(run_dir) -> dict:
    return json.loads((Path(run_dir) / "state.json").read_text())

def _check_pools(files: dict):
    "Every cache pool holds unique ids, each pool extends the one before, and every tuning id is in its cache pool."
    prev = []
    for k in range(3):
        cache = [json.loads(l)["id"] for l in files[f"pool_{k:02d}/cache.jsonl"].decode().splitlines()]
        assert len(cache) == len(set(cache)), f"pool_{k:02d}: duplicated instruction ids"
        assert cache[:len(prev)] == prev, f"pool_{k:02d}: lost or reordered instructions"
        tuning = json.loads(files[f"pool_{k:02d}/tuning.json"])
        assert len(tuning) == len(set(tuning)) and set(tuning) <= set(cache)
        prev = cache

@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    "The files of an uninterrupted run."
    import runpy
    tmp = tmp_path_factory.mktemp("mmdc")
    (tmp / "ref_run.py").write_text(SCRIPT)
    argv, env = sys.argv, {k: os.environ.pop(k, None) for k in ("MMDC_KILL_AT", "MMDC_SLOW")}
    sys.argv = ["ref_run.py", str(tmp / "ref")]
    try: runpy.run_path(str(tmp / "ref_run.py"), run_name="__main__")  # in this process: one interpreter start less
    finally:
        sys.argv = argv
        os.environ.update({k: v for k, v in env.items() if v is not None})
    files = _files(tmp / "ref")
    _check_pools(files)
    assert len(files["pool_02/cache.jsonl"].splitlines()) > len(files["pool_00/cache.jsonl"].splitlines())  # the run made new instructions
    return files

# (event, phase, part, iteration): a teach part, the student's training, an assessment part, just after the journal
# moved to augmentation, the third augmentation part of iteration 1, inside the commit, the final tuning
KILLS = ["part:tune:0:0", "train:::0", "part:assess:2:0", "phase:augment::0", "part:augment:2:1", "commit:::1", "train:::2"]

def test_sigkill_in_every_phase_then_resume(reference, tmp_path):
    run = tmp_path / "run"
    seen = []
    for target in KILLS:
        rc, out, err = _run(run, tmp_path, MMDC_KILL_AT=target)
        assert rc == -signal.SIGKILL, f"kill at {target} did not happen (rc={rc}): {err[-2000:]}"
        st = _state(run)
        seen.append((st["iteration"], st["phase"]))
    assert seen == [(0, "tune"), (0, "tune"), (0, "assess"), (0, "augment"), (1, "augment"), (1, "commit"), (2, "tune")]
    rc, out, err = _run(run, tmp_path)
    assert rc == 0, err[-3000:]
    assert _files(run) == reference

def test_sigkill_at_random_moments_then_resume(reference, tmp_path):
    run, rng = tmp_path / "run", random.Random(0)
    for target in sorted(rng.sample(range(1, 9), 2)):
        p = _start(run, tmp_path, MMDC_SLOW="0.03")
        t0 = time.time()
        while time.time() - t0 < 60 and p.poll() is None:  # wait until the journal has closed `target` phases
            try:
                if len(_state(run)["history"]) >= target: break
            except (FileNotFoundError, json.JSONDecodeError): pass
            time.sleep(0.02)
        time.sleep(rng.uniform(0, 0.3))
        p.send_signal(signal.SIGKILL); p.communicate(timeout=30)
    rc, out, err = _run(run, tmp_path)
    assert rc == 0, err[-3000:]
    files = _files(run)
    _check_pools(files)
    assert files == reference

# the plain arm (calibration=False): a teach part, the training, inside the commit, of each iteration, and the final tuning
PLAIN_KILLS = ["part:tune:0:0", "train:::0", "commit:::0", "train:::1", "commit:::1", "train:::2"]

def test_plain_arm_sigkill_then_resume(tmp_path):
    "The plain arm killed in each of its phases resumes to the files of an uninterrupted plain run; its pools are D_sin's."
    rc, out, err = _run(tmp_path / "ref", tmp_path, MMDC_PLAIN="7,5")
    assert rc == 0, err[-3000:]
    ref = _files(tmp_path / "ref")
    _check_pools(ref)
    assert [len(json.loads(ref[f"pool_{k:02d}/tuning.json"])) for k in (1, 2)] == [7, 5]
    assert ref["pool_02/cache.jsonl"] == ref["pool_00/cache.jsonl"]   # nothing new: no augmentor
    run, seen = tmp_path / "run", []
    for target in PLAIN_KILLS:
        rc, out, err = _run(run, tmp_path, MMDC_KILL_AT=target, MMDC_PLAIN="7,5")
        assert rc == -signal.SIGKILL, f"kill at {target} did not happen (rc={rc}): {err[-2000:]}"
        st = _state(run)
        seen.append((st["iteration"], st["phase"]))
    assert seen == [(0, "tune"), (0, "tune"), (0, "commit"), (1, "tune"), (1, "commit"), (2, "tune")]
    rc, out, err = _run(run, tmp_path, MMDC_PLAIN="7,5")
    assert rc == 0, err[-3000:]
    assert _files(run) == ref
