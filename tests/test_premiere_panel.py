"""The Premiere CEP panel's JavaScript suites, driven from pytest.

- node unit tests: jsx/host.jsx against the mock of measured Premiere (an overwrite destroys what
  it covers, no way to add a track; a member the reference does not list fails the test), the
  request builder, the placement plan and the headless workflow (free space only, read-back
  rollback, confirmed overwrite, takes, remove last, new take), inpaint requests and a result's
  room tone on the audio tracks (an overwrite destroys there too);
- the panel page in headless Chromium (Debian's /usr/bin/chromium via playwright-core) with
  CSInterface stubbed onto that host mock, against a real ShotForge server it starts on a free
  loopback port: every operation end to end (inpaint by region, moving region and matte), room
  tone on the audio tracks, progress, cancel, placement and take scenarios, error cases.

Both need node and the npm dev dependencies (installed here with `npm ci` when missing). The
browser suite is skipped only when chromium is absent (install: plugins/premiere_cep/tests/setup.sh).
plugins/premiere_cep/tests/run.sh runs the same suites without pytest.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = ROOT / "plugins" / "premiere_cep"
NODE = shutil.which("node")
NPM = shutil.which("npm")
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed (the CEP panel's code is JavaScript)")


@pytest.fixture(scope="module")
def node_modules():
    if not (PLUGIN / "node_modules" / "playwright-core").is_dir() or not (PLUGIN / "node_modules" / "acorn").is_dir():
        assert NPM, "npm is needed to install the panel's test dependencies"
        subprocess.run([NPM, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=PLUGIN, check=True, timeout=600)
    return PLUGIN / "node_modules"


def run_node_tests(folder: str, timeout: int, minimum: int) -> None:
    env = {**os.environ, "SHOTFORGE_PYTHON": sys.executable, "CHROMIUM_PATH": CHROMIUM}
    proc = subprocess.run([NODE, "--test", f"tests/{folder}/"], cwd=PLUGIN, env=env, capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        pytest.fail(f"node --test tests/{folder}/ failed:\n{proc.stdout[-20000:]}\n{proc.stderr[-5000:]}", pytrace=False)
    assert "# fail 0" in proc.stdout, proc.stdout[-5000:]
    # A suite that ran nothing (a renamed folder, a describe skipped as a whole) must not pass.
    ran = re.search(r"^# pass (\d+)$", proc.stdout, re.M)
    assert ran and int(ran.group(1)) >= minimum, f"only {ran and ran.group(1)} node tests passed in tests/{folder}/"
    assert "# skipped 0" in proc.stdout and "# todo 0" in proc.stdout, proc.stdout[-5000:]


def test_host_script_and_core_in_node(node_modules):
    run_node_tests("unit", timeout=300, minimum=129)


@pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK),
                    reason=f"chromium is not installed at {CHROMIUM} (run plugins/premiere_cep/tests/setup.sh)")
def test_panel_in_chromium_against_a_real_server(node_modules):
    run_node_tests("browser", timeout=900, minimum=35)
