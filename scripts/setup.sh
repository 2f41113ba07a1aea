#!/usr/bin/env bash
# Set up a virtual environment in .venv with ShotForge and its test tools.
# Core only (classical engine, server, CLI): no torch. Pass --diffusers to add the diffusers
# engine; on a CPU machine that pins torch to the CPU build first.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
if [[ "${1:-}" == "--diffusers" ]]; then
    python -m pip install --quiet "torch==2.13.0"
    python -m pip install --quiet -e ".[test,diffusers]"
else
    python -m pip install --quiet -e ".[test]"
fi
