"""Outpainting's seam at the picture's edge when something moves up to it in a still shot: the
border next to the edge must meet the picture as it is now, not as it was frames ago.

Shots are made from a real Sintel frame, so the truth beyond the picture is known."""

from __future__ import annotations

from fractions import Fraction

import cv2
import numpy as np
import pytest

from server.engines.base import EngineJob, OutpaintLayout
from server.engines.classical import build_engine

RADIUS = 32  # the subject: an orange disc with a soft rim
ROW = 200  # its centre's row
SPEED = 6  # px a frame, towards the picture's left edge


def _with_subject(background: np.ndarray, cx: float) -> np.ndarray:
    h, w = background.shape[:2]
    yy, xx = np.mgrid[:h, :w]
    a = np.clip(RADIUS - np.hypot(xx - cx, yy - ROW), 0, 1)[..., None]
    return (background * (1 - a) + a * np.array([250, 170, 40], np.float32)).round().astype(np.uint8)


def test_a_subject_crossing_the_edge_of_a_still_shot_is_met_by_the_border(alley):
    """A still camera (the border is held steady so old film's flicker does not flicker it) and a
    subject that moves out of the picture across its left edge: while it crosses, the border next
    to the edge continues it instead of showing what was there before it came (a hard seam)."""
    h, w = alley.shape[:2]
    iw = 240
    ox = (w - iw) // 2
    layout = OutpaintLayout(canvas=(w, h), inner=(iw, h), offset=(ox, 0))
    centres = [ox + 100 - SPEED * k for k in range(24)]
    truth = [_with_subject(alley.astype(np.float32), cx) for cx in centres]
    out = list(build_engine().outpaint([t[:, ox:ox + iw].copy() for t in truth], layout, EngineJob(rate=Fraction(24))))
    for o, t in zip(out, truth):
        assert np.array_equal(o[:, ox:ox + iw], t[:, ox:ox + iw])  # the picture itself untouched
    crossing = [k for k, cx in enumerate(centres) if abs(cx - ox) < RADIUS - 4]
    assert len(crossing) >= 8
    rows = slice(ROW - RADIUS // 2, ROW + RADIUS // 2)
    steps, errors = [], []
    for k in crossing:
        o, t = out[k].astype(np.float32), truth[k].astype(np.float32)
        steps.append(np.abs(o[rows, ox - 1] - o[rows, ox]).mean())  # across the picture's edge
        errors.append(np.abs(o[rows, ox - 6:ox] - t[rows, ox - 6:ox]).mean())  # 6 px of border
    # the subject's orange against the alley's dark wall is a step of ~75 levels when the border
    # shows the wall; the alley's own steps from pixel to pixel there are ~1-5
    assert float(np.mean(steps)) < 10, steps
    assert float(np.mean(errors)) < 20, errors


@pytest.mark.parametrize("side", ["left", "right", "top", "bottom"])
def test_what_another_frame_shows_at_the_edge_is_read_from_one_warp(side):
    """Another frame is moved onto the strip inside the picture's edge once: the edge pixels it
    shows are the strip's, and whether it shows them (read from its placement) is what warping
    the picture's full mask would say, on a move that takes it partly off the edge."""
    from server.engines.classical.outpaint import Outpainter, _translate

    rng = np.random.default_rng(5)
    layout = OutpaintLayout(canvas=(160, 120), inner=(80, 60), offset=(40, 30))
    painter = Outpainter(layout, 4, "fast")
    frame = rng.integers(0, 256, (60, 80, 3), np.uint8)
    angle = np.deg2rad(4.0)
    turn = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    placed = _translate(43.4, 27.7) @ turn  # frame -> canvas: moved and turned past the edges
    seen, covers = painter._seen_inside(frame, placed, side)
    (x, y), (w, h), _ = painter._inside_edge(side, 1, frame)
    to_line = _translate(-x, -y) @ placed
    line = cv2.warpPerspective(frame, to_line, (w, h), flags=cv2.INTER_LINEAR).reshape(-1, 3)
    mask = cv2.warpPerspective(np.full((60, 80), 255, np.uint8), to_line, (w, h), flags=cv2.INTER_LINEAR)
    at = {"left": seen[:, 0], "right": seen[:, -1], "top": seen[0], "bottom": seen[-1]}[side]
    assert 0 < covers.sum() < covers.size  # partly off the edge
    np.testing.assert_array_equal(covers, mask.reshape(-1) == 255)
    assert np.abs(at[covers] - line[covers]).max() <= 1  # OpenCV's fixed-point sampling of sub-rectangles


def test_a_still_shot_tones_down_the_fine_detail_its_held_mirror_image_continues(alley):
    """A still shot (the mirror image at the edge is held): its fine detail, stale against the
    picture's own next to it and texture the border need not have, is kept only in part next to
    the edge; the coarser texture stays."""
    rng = np.random.default_rng(3)
    still = alley[100:388, 300:812].astype(np.float32)
    truth = [np.clip(still + rng.normal(0, 1.5, still.shape), 0, 255).astype(np.uint8) for _ in range(12)]
    iw = 162
    ox = (512 - iw) // 2
    layout = OutpaintLayout(canvas=(512, 288), inner=(iw, 288), offset=(ox, 0))
    out = list(build_engine().outpaint([t[:, ox:ox + iw].copy() for t in truth], layout, EngineJob(rate=Fraction(24))))

    def detail(grey: np.ndarray, columns: slice, sigma: float) -> float:
        return float(np.abs((grey - cv2.GaussianBlur(grey, (0, 0), sigma))[:, columns]).mean())

    for o in out[-4:]:
        grey = cv2.cvtColor(o, cv2.COLOR_RGB2GRAY).astype(np.float32)
        for outside, inside in ((slice(ox - 5, ox - 1), slice(ox + 1, ox + 5)),
                                (slice(ox + iw + 1, ox + iw + 5), slice(ox + iw - 5, ox + iw - 1))):
            # (kept whole, the held mirror image's detail outside is about that inside)
            assert 0.3 < detail(grey, outside, 2.0) / detail(grey, inside, 2.0) < 0.75
            # the coarse texture (a 6-px blur's departure) stays
            assert detail(grey, outside, 6.0) > 0.5 * detail(grey, inside, 6.0)


def test_the_share_of_steady_frames_is_that_of_the_frame_and_the_upcoming_ones_of_its_shot():
    """Read from the frame and the upcoming ones of its shot: a shot's first frame (no motion of
    its own) counts by the frames after it, a cut ends the count."""
    from server.engines.classical.outpaint import Outpainter

    move = np.eye(3)

    def buf(*steps):  # None: a cut before that frame; True/False: a steady or moving camera
        return [(None, None, None if s is None else move, bool(s)) for s in steps]

    assert Outpainter._steady_share(buf(None, True, True, False, True)) == 0.75
    assert Outpainter._steady_share(buf(True, False, None, True, True)) == 0.5
    assert Outpainter._steady_share(buf(None, None, True)) == 0.0  # a one-frame shot: nothing known
    assert Outpainter._steady_share(buf(None)) == 0.0
