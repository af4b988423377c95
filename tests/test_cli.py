"The installed `mmkd` console command: --help on every subcommand, errors as one line, `python -m` entry."
import subprocess, sys
from pathlib import Path
import pytest

MMKD = str(Path(sys.executable).parent / "mmkd")

def run(*args, timeout=300):
    return subprocess.run([MMKD, *args], capture_output=True, text=True, timeout=timeout)

def test_top_level_help_lists_commands():
    r = run("--help"); assert r.returncode == 0
    for cmd in ("info", "world", "encoder", "demo"): assert cmd in r.stdout

@pytest.mark.parametrize("cmd", ["info", "world", "encoder", "demo"])
def test_every_subcommand_has_help(cmd):
    r = run(cmd, "--help"); assert r.returncode == 0, r.stderr
    assert f"usage: mmkd {cmd}" in r.stdout

@pytest.mark.parametrize("method", ["vikdf", "mks2", "mmdc"])
def test_method_subcommands_route_to_stage_help(method):
    "`mmkd <method> --help` lists the stages; `mmkd <method> <stage> --help` is the stage module's own help."
    from mmkd_nb.cli import METHOD_STAGES
    r = run(method, "--help"); assert r.returncode == 0, r.stderr
    for stage in METHOD_STAGES[method]:
        assert stage in r.stdout
        h = run(method, stage, "--help"); assert h.returncode == 0, h.stderr[-2000:]
        assert "usage:" in h.stdout and "--preset" in h.stdout
    r = run(method, "nope"); assert r.returncode == 2 and "invalid choice: 'nope'" in r.stderr

def test_bad_input_is_one_clear_line():
    r = run("demo", "--preset", "tiny", "--sections", "nope")
    assert r.returncode == 2 and "mmkd demo: error: unknown section(s) ['nope']" in r.stderr
    assert "Traceback" not in r.stderr
    r = run("world", "--world.n_concepts", "many")
    assert r.returncode == 2 and "invalid int value: 'many'" in r.stderr

def test_python_dash_m_entry():
    r = subprocess.run([sys.executable, "-m", "mmkd_nb.cli", "info"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "torch" in r.stdout and "device" in r.stdout

def test_demo_exits_zero_and_writes_report(tmp_path):
    "The main job end to end on the tiny preset, through the installed command."
    r = run("demo", "--preset", "tiny", "--out", str(tmp_path), "--easy-vqa-limit", "300", timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    import json
    rep = json.loads((tmp_path / "report.json").read_text())
    assert rep["encoder"]["r_at_1"] > rep["encoder"]["r_at_1_chance"]
    assert "demo done" in r.stdout and "{'preset'" not in r.stderr
