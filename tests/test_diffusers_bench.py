"""bench/gpu_diffusers.py's own logic, on a tiny model on the CPU (``--tiny``): every stage measured
and written, the cache seen to hit, the stages that must match the default path matching it, the
budget respected, and a clear refusal where there is no GPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch", reason="the bench needs torch (scripts/setup.sh --diffusers)")
pytest.importorskip("diffusers", reason="the bench needs diffusers: pip install -e '.[diffusers]'")

from tests.serverutil import REPO  # noqa: E402

BENCH = REPO / "bench" / "gpu_diffusers.py"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


def bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(BENCH), *args], env=ENV, capture_output=True, text=True, cwd=REPO,
                          timeout=120)


def test_tiny_run_measures_every_stage(tmp_path):
    out = bench("--tiny", "--steps", "8", "--json", str(tmp_path / "tiny.json"))
    assert out.returncode == 0, out.stderr
    report = json.loads((tmp_path / "tiny.json").read_text())
    assert report["state"] == "done" and report["size"] == [48, 32] and report["frames"] == 13
    stages = {r["stage"]: r for r in report["stages"]}
    assert list(stages) == ["default", "fast+compile", "fast", "fast-no-cache", "default-again"]
    for row in stages.values():
        assert row["job_s"] > 0 and row["per_step_s"] > 0
    fast = stages["fast"]
    assert fast["cache_hits"] > 0 and fast["cache_hits"] + fast["cache_misses"] == 16  # 8 steps, two calls each
    assert 20 < fast["psnr_vs_default_db"] < 99 and not fast["identical_to_default"]
    # on a CPU the cache is the only lever: without it, and with every lever off, the frames are the default's
    assert stages["fast-no-cache"]["identical_to_default"] and stages["default-again"]["identical_to_default"]
    assert "| fast | " in out.stdout


def test_budget_skips_stages_but_keeps_what_was_measured(tmp_path):
    out = bench("--tiny", "--steps", "2", "--budget", "1", "--json", str(tmp_path / "short.json"))
    assert out.returncode == 0, out.stderr
    report = json.loads((tmp_path / "short.json").read_text())
    assert report["stages"][0]["stage"] == "default" and report["stages"][0]["job_s"] > 0
    assert all("skipped" in r for r in report["stages"][1:]) and len(report["stages"]) == 5


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_refuses_without_a_gpu():
    out = bench("--json", "/nonexistent/never-written.json")
    assert out.returncode == 2 and "needs a CUDA GPU; none is visible" in out.stderr and "Nothing was measured" \
        in out.stderr
