#!/usr/bin/env bash
# Set up a virtual environment in .venv with ShotForge and its test tools.
#   scripts/setup.sh              core only (classical engine, server, CLI): no torch
#   scripts/setup.sh --diffusers  also the diffusers engine (torch, diffusers, transformers, ...) and
#                                 the render farm (Ray); the test setup (scripts/test.sh) uses this so the
#                                 diffusers and farm tests run
# torch is pinned (2.13.0) and installed first, by scripts/install_torch.py, which prints the build
# it chose: the CUDA build where an NVIDIA GPU is found, else the CPU build (from PyTorch's CPU
# wheel index when it answers; else `torch==2.13.0` from pip's own indexes, which take a CPU wheel
# already on the machine, as on the test machines). A plain `pip install torch` would pull the
# multi-GB CUDA build onto a CPU machine. SHOTFORGE_TORCH=cpu|cuda overrides the detection.
# Running it again on an existing .venv keeps what is there and installs what is missing.
# Nothing here downloads models.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -n "${1:-}" && "$1" != "--diffusers" ]]; then
    echo "usage: scripts/setup.sh [--diffusers]" >&2
    exit 2
fi
if [[ ! -x .venv/bin/python ]]; then
    python3 -m venv .venv
fi
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
if [[ "${1:-}" == "--diffusers" ]]; then
    python scripts/install_torch.py
    python -m pip install --quiet -e ".[test,diffusers,ray]"
    python -c "import diffusers, transformers, accelerate, ftfy; print('diffusers engine: diffusers', diffusers.__version__, '| transformers', transformers.__version__)"
    python -c "import ray; print('render farm: ray', ray.__version__)"
else
    python -m pip install --quiet -e ".[test]"
fi
echo "ShotForge is set up in .venv (. .venv/bin/activate; shotforge --help)"
