#!/usr/bin/env bash
# A stranger's path through README.md, timed from the clone: install, solve a puzzle with the shipped model,
# run the demo (docs/TESTING.md, "A stranger's path"). Needs the network (or a local index) for pip.
# Usage: bash benchmarks/stranger_path.sh REPO [WORK_DIR]
#   TORCH_INSTALL: how to install the CPU build of torch (default README's CPU-only line; where
#   download.pytorch.org cannot be reached but pip has a local index: TORCH_INSTALL='torch==2.13.0')
set -euo pipefail
src="$1"
work="${2:-$(mktemp -d)}"
torch_install="${TORCH_INSTALL:-torch --index-url https://download.pytorch.org/whl/cpu}"
mkdir -p "$work" && cd "$work"
t0=$(date +%s.%N)
stamp() { echo "[$(python3 -c "print(f'{$(date +%s.%N) - $t0:.1f}')") s] $*"; }
stamp "start: $(lscpu | grep 'Model name' | sed 's/ \+/ /g'), $(nproc) cores"
git clone -q "$src" trm && cd trm
python3 -m venv .venv && . .venv/bin/activate
# shellcheck disable=SC2086
pip install -q $torch_install
pip install -q -e .
stamp "installed: $(trm --version), torch $(python -c 'import torch; print(torch.__version__)')"
trm solve sudoku6 "2.....16..42....1....5...2......34.." --trace | tail -12
stamp "solved a puzzle (README, Solve your own puzzle)"
trm demo > demo.log 2>&1
tail -25 demo.log
stamp "demo finished (README's first line: trm demo)"
