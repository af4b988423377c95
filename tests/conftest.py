"Test-wide setup: offline hub flags, a session cache folder, and a network guard here and in every child process."
import atexit, importlib.util, os, shutil, tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GUARD = Path(__file__).resolve().parent / "netguard"

os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
                  TOKENIZERS_PARALLELISM="false", MPLBACKEND="Agg", MMKD_BLOCK_NETWORK="1")
# tests run side by side (pytest-xdist) and start processes of their own: one BLAS/torch thread each
# avoids oversubscribing the cores, which slows small models tenfold
os.environ.setdefault("OMP_NUM_THREADS", "1"); os.environ.setdefault("MKL_NUM_THREADS", "1")
# tests must not fill the user's cache (~/.cache/mmkd_nb): the session gets a temp folder, made when pytest loads this
# file (before pytest-xdist starts its workers) and removed at exit; workers, notebook runs and training children
# inherit it through os.environ. A cache named on purpose (CI, a developer's warm one) is used as it is.
if not os.environ.get("MMKD_CACHE"):
    _cache = tempfile.mkdtemp(prefix="mmkd-test-cache-")
    os.environ["MMKD_CACHE"] = _cache
    atexit.register(shutil.rmtree, _cache, ignore_errors=True)
# children (notebook runs, accelerate/torchrun workers) load the guard as their sitecustomize
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(GUARD)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
# ...and this process loads it now
_spec = importlib.util.spec_from_file_location("mmkd_netguard", GUARD / "sitecustomize.py")
netguard = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(netguard)
