"""The classical inpaint's flow inside the region: a fast mover that only passes the region does not
drag what the region hides along with it; one that covers the region's surroundings does."""

from __future__ import annotations

from fractions import Fraction

import cv2
import numpy as np
import pytest

from server.engines.base import EngineJob, InpaintShot
from server.engines.classical import build_engine
from server.engines.classical import propagate as pg
from server.engines.classical.inpaint_flow import region_flow
from tests.frames import psnr

CAMERA = (2.0, 0.0)  # small px a frame
FAST = (-30.0, 0.0)


def _flow_with_mover(rows: int) -> np.ndarray:
    """A 200x300 flow: the camera's move everywhere, a fast mover over columns 100..180 down to row
    ``rows`` (the region: rows 80..120, columns 120..160)."""
    flow = np.empty((200, 300, 2), np.float32)
    flow[:] = CAMERA
    flow[:rows, 100:180] = FAST
    return flow


def _complete(flow: np.ndarray, mover_inside: bool):
    hole = np.zeros(flow.shape[:2], bool)
    hole[80:120, 120:160] = True
    grey = np.zeros(flow.shape[:2], np.uint8)
    out, inside = region_flow(grey, grey, hole, hole, lambda a, b: flow.copy(), mover_inside)
    return out[hole], inside


def test_a_fast_mover_beside_the_region_is_not_continued_into_it():
    # the mover covers the band above the region only: inside it, the camera's move
    inside_flow, inside = _complete(_flow_with_mover(72), False)
    assert not inside
    assert np.abs(inside_flow - CAMERA).max() < 0.5


def test_a_fast_mover_around_the_region_is_taken_to_be_in_it():
    # the mover covers most of the region's surroundings: its motion is continued into the region
    inside_flow, inside = _complete(_flow_with_mover(110), False)
    assert inside
    assert np.abs(inside_flow[:40] - FAST).max() < 1  # the region's first row moves with it


def test_stray_flow_away_from_the_region_changes_nothing():
    # DIS's outliers (where new picture enters at the frame's edge) are no mover next to the region:
    # the flow is completed exactly as without the mover rule
    flow = _flow_with_mover(0)
    flow[40:56, 180:196] = FAST  # outside the surroundings (rows 68..132, columns 108..172)
    hole = np.zeros(flow.shape[:2], bool)
    hole[80:120, 120:160] = True
    band = cv2.dilate(hole.astype(np.uint8), np.ones((13, 13), np.uint8)).astype(bool)  # the 6 px band
    plain = pg.complete_flow(flow, band, pg.camera_motion(flow, band, homography=True))
    ours, inside = _complete(flow, False)
    assert not inside
    assert np.array_equal(ours, plain[hole])


@pytest.mark.parametrize("before", [False, True])
def test_a_mover_taken_to_be_in_the_region_stays_so_while_it_covers_part_of_its_surroundings(before):
    # the same frame pair, the mover over the upper half: inside only when it was in the last pair
    inside_flow, inside = _complete(_flow_with_mover(100), before)
    assert inside == before
    top = inside_flow[:40]  # the region's first row
    assert np.abs(top - (FAST if before else CAMERA)).max() < (1 if before else 0.5)


def test_a_fast_mover_passing_the_region_does_not_drag_what_it_hides(alley):
    # a 6 px/frame pan over the Sintel alley, and a strip of it 40 px high running 24 px a frame the
    # other way just above the region (a car passing behind a sign): what the region hides moves
    # with the camera, not with the strip
    strip = np.tile(alley[300:340], (1, 3, 1))
    truth = []
    for i in range(24):
        frame = alley[40:340, 20 + 6 * i:420 + 6 * i].copy()
        offset = (-24 * i) % (strip.shape[1] - 400)
        frame[56:96] = strip[:, offset:offset + 400]
        truth.append(frame)
    mask = np.zeros((300, 400), bool)
    mask[100:200, 150:250] = True
    frames = [t.copy() for t in truth]
    for f in frames:
        f[mask] = (255, 0, 255)
    placed = range(4, 20)
    out = list(build_engine().inpaint(InpaintShot(frames, [mask] * 24, placed), EngineJob(rate=Fraction(24))))
    ours = np.mean([psnr(o, truth[i], mask) for o, i in zip(out, placed)])
    assert ours > 32  # the strip's motion continued into the region falls far below
