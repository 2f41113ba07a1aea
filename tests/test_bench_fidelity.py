"""The fidelity benchmark's own logic: which windows it measures and how it judges the targets
(its figures are in bench/RESULTS.md; these check that a PASS means what it says)."""

from __future__ import annotations

import importlib.util
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from server.engines.classical import build_engine

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture(scope="module")
def fidelity():
    spec = importlib.util.spec_from_file_location("fidelity", BENCH / "fidelity.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["fidelity"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    yield module
    del sys.modules["fidelity"]


def _clip(fidelity, frames: list[np.ndarray], motion: np.ndarray, cut: np.ndarray):
    return fidelity.Clip("synthetic", Path("synthetic.mp4"), Fraction(25), frames[0].shape[1::-1], frames,
                         motion=motion, cut=cut)


def test_unseen_windows_overlap_none_the_engine_was_tuned_on(fidelity):
    rng = np.random.default_rng(3)
    n = 150
    cut = np.zeros(n, bool)
    cut[[40, 97]] = True
    clip = _clip(fidelity, [np.zeros((8, 8, 3), np.uint8)] * n, rng.uniform(0, 5, n), cut)
    for gap in fidelity.GAPS:
        unseen = fidelity.unseen_positions(clip, gap)
        tuned = set().union(*(fidelity.gap_positions(clip, gap, k) for k in fidelity.TUNED_COUNTS))
        moving = set(fidelity.moving_windows(clip, gap))
        if gap < 7:  # 15 tuned 7-frame windows of 150 frames can leave none
            assert unseen, gap
        assert set(unseen) <= moving
        assert all(abs(p - q) > gap for p in unseen for q in tuned), gap
        # no window takes in a cut, with minterpolate's frame beyond each end
        assert not any(cut[p - 2:p + gap + 1].any() for p in unseen)


def test_a_flat_clip_passes_the_outpaint_check_exactly(fidelity, capsys):
    # every method reproduces a flat border exactly: that is a match, not a failure to beat them
    frames = [np.full((48, 64, 3), 90, np.uint8) for _ in range(12)]
    clip = _clip(fidelity, frames, None, None)
    fidelity.analyse(clip)
    results = {"flat": {"gap": {}, "ext": {}, "out": fidelity.run_outpaint(build_engine(), clip, 8)}}
    assert fidelity.report(results, [], mi=False)
    out = capsys.readouterr().out
    assert "PASS  outpaint 4:3 flat: above reflect and blurred fill: border exact" in out
    assert "PASS  outpaint 9:16 flat: above reflect and blurred fill: border exact" in out


def test_a_border_below_reflect_padding_fails_the_check(fidelity, capsys):
    row = {"start": 0, "original_flicker": 1.0, "ours": [20.0, 0.8, 0.5], "reflect": [20.5, 0.8, 3.0],
           "blurred": [18.0, 0.7, 1.0]}
    assert not fidelity.report({"clip": {"gap": {}, "ext": {}, "out": {"4:3": row}}}, [], mi=False)
    assert "FAIL  outpaint 4:3 clip: above reflect and blurred fill: -0.50 dB" in capsys.readouterr().out
