"""bench/gpu_diffusers.py's own logic, on a tiny model on the CPU (``--tiny``): every stage measured
and written, the cache seen to hit, the stages that must match the default path matching it, the
budget respected, and a clear refusal where there is no GPU."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch", reason="the bench needs torch (scripts/setup.sh --diffusers)")
pytest.importorskip("diffusers", reason="the bench needs diffusers: pip install -e '.[diffusers]'")

from tests.frames import bench_module  # noqa: E402


@pytest.fixture(scope="module")
def gpu_bench():
    """The script, run in this process (one torch import for every run)."""
    module = bench_module("gpu_diffusers")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield module
    torch.set_num_threads(before)


@pytest.fixture
def bench_main(gpu_bench):
    return gpu_bench.main


def test_tiny_run_measures_every_stage(bench_main, tmp_path, capsys):
    assert bench_main(["--tiny", "--steps", "8", "--json", str(tmp_path / "tiny.json")]) == 0
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
    assert "| fast | " in capsys.readouterr().out


def test_budget_skips_stages_but_keeps_what_was_measured(bench_main, tmp_path):
    assert bench_main(["--tiny", "--steps", "2", "--budget", "0", "--json", str(tmp_path / "short.json")]) == 0
    report = json.loads((tmp_path / "short.json").read_text())
    assert report["stages"][0]["stage"] == "default" and report["stages"][0]["job_s"] > 0
    assert all("skipped" in r for r in report["stages"][1:]) and len(report["stages"]) == 5


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_refuses_without_a_gpu(bench_main, capsys):
    assert bench_main(["--json", "/nonexistent/never-written.json"]) == 2
    err = capsys.readouterr().err
    assert "needs a CUDA GPU; none is visible" in err and "Nothing was measured" in err


def test_a_missing_package_is_named_and_only_installed_from_wheels_brought_along(gpu_bench, tmp_path, capsys,
                                                                                  monkeypatch):
    monkeypatch.setitem(gpu_bench.NEEDS, "shotforge_not_a_package", "shotforge-not-a-package")
    assert gpu_bench.main(["--tiny"]) == 2
    assert "missing shotforge-not-a-package; nothing is downloaded here" in capsys.readouterr().err
    (tmp_path / "wheels").mkdir()
    assert gpu_bench.main(["--tiny", "--wheels", str(tmp_path / "wheels")]) == 2  # an empty folder: pip finds none
    assert f"could not install shotforge-not-a-package from {tmp_path / 'wheels'}" in capsys.readouterr().err
