"""Write README.md from nbs/index.ipynb (what `nbdev_readme` does with Quarto, done offline).

Markdown cells are copied; code cells are run in one kernel and shown with their text outputs;
`#| hide` cells are dropped and nbdev directives stripped. `--check` exits 1 if README.md is stale."""
import json, os, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def _directives(src):
    return [l[3:].strip() for l in src.splitlines() if l.startswith("#|")]

def render(nb_path=ROOT / "nbs" / "index.ipynb") -> str:
    from execnb.shell import CaptureShell
    nb = json.loads(Path(nb_path).read_text())
    sh, parts = CaptureShell(), []
    old = os.getcwd(); os.chdir(Path(nb_path).parent)
    try:
        for c in nb["cells"]:
            src = "".join(c["source"])
            if c["cell_type"] == "markdown":   # images sit beside the notebook (nbs/figures); the README is one level up
                parts.append(src.strip().replace("](figures/", "](nbs/figures/"))
                continue
            if c["cell_type"] != "code": continue
            dirs = _directives(src)
            outs = sh.run(src)
            err = [o for o in outs if o.get("output_type") == "error"]
            if err: raise RuntimeError(f"index.ipynb cell failed: {err[0].get('ename')}: {err[0].get('evalue')}")
            if any(d.startswith("hide") for d in dirs): continue
            code = "\n".join(l for l in src.splitlines() if not l.startswith("#|")).strip()
            if code: parts.append(f"```python\n{code}\n```")
            text = []
            for o in outs:
                if o.get("output_type") == "stream": text.append("".join(o["text"]))
                elif "data" in o and "text/plain" in o["data"]: text.append("".join(o["data"]["text/plain"]))
            if "".join(text).strip(): parts.append("    " + "\n    ".join("".join(text).rstrip().splitlines()))
    finally: os.chdir(old)
    return "\n\n".join(parts) + "\n"

if __name__ == "__main__":
    text = render()
    readme = ROOT / "README.md"
    if "--check" in sys.argv:
        ok = readme.exists() and readme.read_text() == text
        print("README.md is up to date" if ok else "README.md is stale: run python tools/make_readme.py")
        sys.exit(0 if ok else 1)
    readme.write_text(text); print(f"wrote {readme}")
