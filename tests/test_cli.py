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
