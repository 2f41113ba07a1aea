#!/usr/bin/env bash
# Fresh machine → green: set up, then run every test (Python, and the plugins' node/browser tests).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --diffusers   # the diffusers tests need torch (the build that fits this machine) and diffusers
. .venv/bin/activate
if [[ -x plugins/premiere_cep/tests/setup.sh ]]; then
    bash plugins/premiere_cep/tests/setup.sh
fi
python -m pytest "$@"
