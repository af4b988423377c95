"Repository hygiene: the library is what the notebooks export, and the notebooks are clean."
import shutil, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

def _copy(tmp):
    dst = tmp / "repo"
    shutil.copytree(ROOT, dst, ignore=shutil.ignore_patterns(".venv", ".git", "_docs", "_proc", "artifacts", "__pycache__", "*.egg-info"), symlinks=True)
    return dst

def _diff(a, b, pattern):
    bad = []
    for p in sorted(a.rglob(pattern)):
        if "__pycache__" in p.parts or ".ipynb_checkpoints" in p.parts: continue
        q = b / p.relative_to(a)
        if not q.exists() or q.read_bytes() != p.read_bytes(): bad.append(str(p.relative_to(a)))
    return bad

def test_library_in_sync_with_notebooks(tmp_path):
    dst = _copy(tmp_path)
    subprocess.run([str(BIN / "nbdev_export")], cwd=dst, check=True, capture_output=True)
    bad = _diff(dst / "mmkd_nb", ROOT / "mmkd_nb", "*.py") + _diff(ROOT / "mmkd_nb", dst / "mmkd_nb", "*.py")
    assert not bad, f"library differs from what the notebooks export (run nbdev_export): {sorted(set(bad))}"

def test_notebooks_clean(tmp_path):
    dst = _copy(tmp_path)
    subprocess.run([str(BIN / "nbdev_clean")], cwd=dst, check=True, capture_output=True)
    bad = _diff(dst / "nbs", ROOT / "nbs", "*.ipynb")
    assert not bad, f"notebooks not clean (run nbdev_clean): {bad}"

def test_readme_generated_from_index():
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "make_readme.py"), "--check"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr

def test_readme_shows_each_methods_figure():
    "The README's headline figures exist, are what tools/readme_figures.py draws, and the README shows every one."
    sys.path.insert(0, str(ROOT / "tools"))
    import readme_figures
    readme = (ROOT / "README.md").read_text()
    for method, name in readme_figures.FIGURES.items():
        path = ROOT / "nbs" / "figures" / name
        assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{method}: {path} missing or not a PNG"
        assert f"](nbs/figures/{name})" in readme, f"the README does not show {name}"

def test_quick_start_commands_are_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    assert "bash run.sh demo" in readme and "bash run.sh test" in readme
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash run.sh test" in ci

def _mixed_import_cells(nb_path):
    "Non-exported code cells that hold an import *and* other code: nbdev's doc build would run them."
    import ast, json
    bad = []
    for i, c in enumerate(json.loads(nb_path.read_text())["cells"]):
        src = "".join(c["source"])
        if c["cell_type"] != "code" or not src.strip(): continue
        dirs = {l[3:].strip().split()[0].rstrip(":") for l in src.splitlines() if l.startswith("#|") and l[3:].strip()}
        if dirs & {"export", "exports", "exporti", "exec_doc"} or "eval: false" in src: continue
        try: tree = ast.parse("\n".join(l for l in src.splitlines() if not l.lstrip().startswith(("%", "!"))))
        except SyntaxError: continue
        nodes = list(ast.walk(tree))
        if any(isinstance(n, (ast.Import, ast.ImportFrom)) for n in nodes) and any(isinstance(n, (ast.Expr, ast.Assign)) for n in nodes):
            bad.append(f"{nb_path.name} cell {i}: {src.splitlines()[0][:60]!r}")
    return bad

def test_imports_in_their_own_cells():
    bad = [b for nb in sorted((ROOT / "nbs").glob("*.ipynb")) for b in _mixed_import_cells(nb)]
    assert not bad, "cells mixing imports with code run during the docs build; move the imports to their own cell:\n" + "\n".join(bad)
