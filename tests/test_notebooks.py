"""Every notebook is one test case: it runs as `nbdev_test` runs it (IN_TEST=1, `#| eval: false`,
`#| slow` and `#| gpu` cells skipped), each in a fresh process so one notebook cannot leak into the next."""
import os, subprocess, sys
from pathlib import Path
import pytest

NBS = Path(__file__).resolve().parents[1] / "nbs"
NOTEBOOKS = sorted(p for p in NBS.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts and not p.name.startswith("_"))

RUN = """
import sys
from pathlib import Path
from nbdev.test import test_nb
ok, secs = test_nb(Path(sys.argv[1]), skip_flags=["slow", "gpu"], showerr=True)
print(f"{sys.argv[1]}: {'ok' if ok else 'FAILED'} in {secs:.1f}s")
sys.exit(0 if ok else 1)
"""

@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook(nb):
    env = {**os.environ, "IN_TEST": "1"}
    r = subprocess.run([sys.executable, "-c", RUN, str(nb)], capture_output=True, text=True, env=env, timeout=1500)
    assert r.returncode == 0, f"{nb.name} failed:\n{r.stdout[-4000:]}\n{r.stderr[-8000:]}"
