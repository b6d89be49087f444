#!/usr/bin/env bash
# tapegrad and everything its command needs, in one command: `bash scripts/install.sh`, then
# `. .venv/bin/activate` (the README's first command runs it, then `tapegrad train`).
#
# 1. The system programs pip cannot install: Graphviz's `dot`, which `tapegrad explain --html/--svg` and
#    tg.viz.draw's rendering need (no trusted pip wheel ships it), and python3-venv. Installed with
#    apt-get when this runs as root on Debian or Ubuntu, with Homebrew on macOS; elsewhere it says what to
#    install and goes on, since training needs neither program (only Python's venv module, checked below).
# 2. A virtual environment in .venv with tapegrad and its `cli` extra (scikit-learn for the bundled digits,
#    safetensors, tqdm, matplotlib and the graphviz package).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v dot >/dev/null 2>&1 || missing+=(graphviz)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "scripts/install.sh: installing system packages: ${missing[*]}"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } >/dev/null; then
      echo "scripts/install.sh: apt-get could not install ${missing[*]}" >&2
    fi
  elif [ "$(uname -s)" = Darwin ] && command -v brew >/dev/null 2>&1 && [[ " ${missing[*]} " == *" graphviz "* ]]; then
    echo "scripts/install.sh: installing Graphviz with Homebrew"
    brew install graphviz || echo "scripts/install.sh: brew could not install graphviz" >&2
  fi
fi
if ! command -v dot >/dev/null 2>&1; then
  echo "scripts/install.sh: Graphviz's dot is not installed, so 'tapegrad explain --html/--svg' will ask for it:" >&2
  echo "  Debian or Ubuntu: sudo apt-get install graphviz; macOS: brew install graphviz; else graphviz.org/download" >&2
fi
if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  echo "scripts/install.sh: Python's venv module is missing: sudo apt-get install python3-venv, then run again" >&2
  exit 1
fi

python3 -m venv .venv
# shellcheck disable=SC1091
. .venv/bin/activate
pip install -q --disable-pip-version-check -e ".[cli]"
echo "scripts/install.sh: tapegrad is installed in .venv; '. .venv/bin/activate' puts the tapegrad command on the PATH"
