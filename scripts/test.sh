#!/usr/bin/env bash
# Fresh machine → green: set up, then run every test (Python, and the plugins' node/browser tests).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --diffusers   # the diffusers tests need torch (the build that fits this machine) and diffusers
. .venv/bin/activate
if [[ -x plugins/premiere_cep/tests/setup.sh ]]; then
    bash plugins/premiere_cep/tests/setup.sh
fi
# three processes on the two cores CI has (many tests wait on servers, subprocesses and browsers,
# which left a core idle with two), a module to each at a time
# (tests/conftest.py keeps the Ray modules in one); SHOTFORGE_TEST_PROCESSES=0 runs everything in
# this one
python -m pytest -n "${SHOTFORGE_TEST_PROCESSES:-3}" --dist loadfile "$@"
