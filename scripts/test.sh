#!/usr/bin/env bash
# The test suite on a bare machine, in one command: `bash scripts/test.sh [pytest arguments]`.
#
# 1. The system programs the picture tests drive (Graphviz's `dot`, Chromium): installed with apt-get
#    when they are missing and this runs as root on Debian or Ubuntu; otherwise it says what to install
#    and stops before anything else.
# 2. A virtual environment in .venv with tapegrad and its `test` extra (pytest, Hypothesis, PyTorch and
#    SciPy as oracles, Playwright) and its `mpi` extra (mpi4py and MPICH: the tests start `mpiexec -n 2`
#    and `-n 3`).
# 3. pytest, with the arguments given.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v dot >/dev/null 2>&1 || missing+=(graphviz)
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || missing+=(chromium)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "scripts/test.sh: installing the system packages the tests need: ${missing[*]}"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } >/dev/null; then
      echo "scripts/test.sh: apt-get could not install ${missing[*]}; install them and run again" >&2
      exit 1
    fi
  else
    echo "scripts/test.sh: the tests need system packages that are missing: ${missing[*]}." >&2
    echo "  Debian or Ubuntu: sudo apt-get install ${missing[*]}" >&2
    echo "  (elsewhere: Graphviz, which provides 'dot', and Chromium, as 'chromium' on the PATH)" >&2
    exit 1
  fi
fi

python3 -m venv .venv
# shellcheck disable=SC1091
. .venv/bin/activate
pip install -q --disable-pip-version-check -e ".[test,mpi]"
exec python -m pytest "$@"
