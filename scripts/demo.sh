#!/usr/bin/env bash
# Fresh machine → results: set up, then render a gap fill, an extension, an outpaint and a
# placeholder generate from the bundled sample on the classical engine.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/shotforge demo --out "${1:-shotforge-demo}"
