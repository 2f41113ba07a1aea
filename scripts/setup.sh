#!/usr/bin/env bash
# Set up a virtual environment in .venv with ShotForge and its test tools.
#   scripts/setup.sh              core only (classical engine, server, CLI): no torch
#   scripts/setup.sh --diffusers  also the diffusers engine (torch, diffusers, transformers, ...);
#                                 the test setup (scripts/test.sh) uses this so the diffusers tests run
# torch is pinned and installed first: `torch==2.13.0` (the CPU build where pip's index gives it;
# a plain `torch` would pull a multi-GB CUDA build onto a CPU machine). Nothing here downloads models.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
if [[ "${1:-}" == "--diffusers" ]]; then
    python -m pip install --quiet "torch==2.13.0"
    python -m pip install --quiet -e ".[test,diffusers]"
    python -c "import torch, diffusers, transformers, accelerate, ftfy; print('diffusers engine: torch', torch.__version__, '| diffusers', diffusers.__version__, '| CUDA', torch.cuda.is_available())"
else
    python -m pip install --quiet -e ".[test]"
fi
