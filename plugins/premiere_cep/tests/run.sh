#!/usr/bin/env bash
# The Premiere panel's tests: npm deps (npm ci), node unit tests (host script on the DOM mock,
# request builder, placement plan), then the panel in headless Chromium against a real
# ShotForge server (started here on a free loopback port, rendering copies of shared media).
#   CHROMIUM_PATH     default /usr/bin/chromium (install: tests/setup.sh)
#   SHOTFORGE_PYTHON  python with the project installed; default <repo>/.venv/bin/python, else python3
# Exits non-zero on any failure, including a missing chromium (CI must run tests/setup.sh).
set -euo pipefail
PLUGIN="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$PLUGIN"
npm ci --no-audit --no-fund --loglevel=error
echo "== node unit tests (host.jsx on the documented-DOM mock, sf_core) =="
node --test tests/unit/
CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM" ]; then
  echo "FAIL: chromium not found at $CHROMIUM; run plugins/premiere_cep/tests/setup.sh" >&2
  exit 1
fi
echo "== panel in headless Chromium against a real server =="
node --test tests/browser/
