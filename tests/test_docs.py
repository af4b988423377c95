"""The docs site renders: nbdev processes every notebook as it does for Quarto (frontmatter, `show_doc`,
directives), then nbconvert turns each processed notebook into an HTML page offline. Any page that
fails to build, is missing its title, or shows an error output fails the test."""
import json, os, re, shutil, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

@pytest.fixture(scope="module")
def site(tmp_path_factory):
    dst = tmp_path_factory.mktemp("docs") / "repo"
    shutil.copytree(ROOT, dst, symlinks=True, ignore=shutil.ignore_patterns(
        ".venv", ".git", "_docs", "_proc", "artifacts", "__pycache__", "*.egg-info"))
    code = "from nbdev.serve import proc_nbs; print(proc_nbs(n_workers=2))"
    r = subprocess.run([sys.executable, "-c", code], cwd=dst, capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, f"nbdev processing failed:\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}"
    proc = dst / "_proc"
    nbs = sorted(p for p in proc.glob("*.ipynb"))
    out = dst / "_html"; out.mkdir()
    r = subprocess.run([str(BIN / "jupyter"), "nbconvert", "--to", "html", "--output-dir", str(out), *map(str, nbs)],
                       capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, f"nbconvert failed:\n{r.stderr[-6000:]}"
    return proc, out

pytestmark = pytest.mark.xdist_group("docs")  # one worker builds the site once for all these tests

def test_every_notebook_has_a_page(site):
    proc, out = site
    src = sorted(p.stem for p in (ROOT / "nbs").glob("*.ipynb"))
    assert src, "no notebooks"
    assert sorted(p.stem for p in out.glob("*.html")) == src

def test_pages_have_titles_and_no_errors(site):
    proc, out = site
    for nb in proc.glob("*.ipynb"):
        cells = json.loads(nb.read_text())["cells"]
        for c in cells:
            for o in c.get("outputs", []):
                assert o.get("output_type") != "error", f"{nb.name}: an error output would be published: {o.get('ename')}: {o.get('evalue')}"
        html = (out / f"{nb.stem}.html").read_text()
        m = re.search(r"<title>(.*?)</title>", html, re.S)
        assert m and m.group(1).strip() and m.group(1).strip() != "Notebook", f"{nb.name}: page has no title"
        assert len(html) > 5000, f"{nb.name}: page is suspiciously small"

# pages whose committed notebook keeps its teaching outputs (figures), and how many figures each must show
FIGURE_PAGES = {"benchmarks": 3,
                "01_data": 1, "02_world": 4, "03a_tower": 2, "04_llm": 1, "05_losses": 3, "05a_qformer": 1,
                "06_metrics": 1, "07_train": 2, "08_micro_llm": 1, "09_evidence": 2,
                "11_vikdf_distill": 3, "12_vikdf_bvif": 4, "13_vikdf_train": 1, "14_vikdf_dialogue": 8,
                "20_mks2_mvm": 2, "21_mks2_storage": 2, "22_mks2_momes": 1, "23_mks2_eval": 2, "24_mks2_run": 10, "31_mmdc_align": 2, "32_mmdc_roles": 1,
                "30_mmdc_student": 2, "33_mmdc_calibrate": 3, "34_mmdc_run": 7, "35_mmdc_teacher": 17}

def test_pages_show_their_figures(site):
    "A page that should show figures has them: committed outputs survive nbdev's processing and reach the HTML."
    proc, out = site
    for name, n in FIGURE_PAGES.items():
        cells = json.loads((proc / f"{name}.ipynb").read_text())["cells"]
        pngs = sum("image/png" in o.get("data", {}) for c in cells for o in c.get("outputs", []))
        assert pngs >= n, f"{name}: {pngs} figures in the processed notebook, expected at least {n} (run it and commit its outputs)"
        html = (out / f"{name}.html").read_text()
        assert html.count("data:image/png;base64") >= n, f"{name}: the page shows fewer than {n} figures"

def test_quarto_sidebar_lists_parts():
    import yaml
    q = yaml.safe_load((ROOT / "_quarto.yml").read_text())
    parts = [s.get("section") for s in q["website"]["sidebar"]["contents"] if isinstance(s, dict)]
    for p in ("Foundations", "VIKDF", "MKS2", "MmDC"): assert p in parts
    assert q["format"]["html"]["html-math-method"]
    assert q["website"]["repo-url"].startswith("https://")
    assert (ROOT / "nbs" / "_quarto.yml").resolve() == (ROOT / "_quarto.yml").resolve()
    # every notebook is on the sidebar: named there, or matched by one of its `auto` globs
    import fnmatch
    def entries(items):
        for s in items:
            if isinstance(s, str): yield s
            elif "auto" in s: yield s["auto"]
            elif "contents" in s: yield from entries(s["contents"])
    pats = list(entries(q["website"]["sidebar"]["contents"]))
    missing = [p.name for p in (ROOT / "nbs").glob("*.ipynb") if not any(fnmatch.fnmatch(p.name, x) for x in pats)]
    assert not missing, f"notebooks missing from the sidebar: {missing}"
