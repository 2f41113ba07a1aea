"""The classical engine's inpaint: what a region hides, brought back from the frames that show it.

Shots are made from a real Sintel frame, so the truth under the painted region is known."""

from __future__ import annotations

import threading
import weakref
from fractions import Fraction

import cv2
import numpy as np
import pytest

from server.engines.base import Canceled, EngineJob, InpaintShot
from server.engines.classical import build_engine
from tests.frames import psnr

PAINT = (255, 0, 255)


def _job(**kw) -> EngineJob:
    return EngineJob(**{"rate": Fraction(24), **kw})


def _pan(alley: np.ndarray, frames: int, step: int = 6) -> list[np.ndarray]:
    """A 400x300 window panning ``step`` px a frame to the right over the still."""
    return [alley[40:340, 20 + step * i:420 + step * i].copy() for i in range(frames)]


def _painted(truth: list[np.ndarray], masks: list[np.ndarray]) -> list[np.ndarray]:
    frames = [t.copy() for t in truth]
    for f, m in zip(frames, masks):
        f[m] = PAINT if f.dtype == np.uint8 else np.array(PAINT, np.uint16) * 257
    return frames


def _box(shape, x0, y0, x1, y1) -> np.ndarray:
    mask = np.zeros(shape[:2], bool)
    mask[y0:y1, x0:x1] = True
    return mask


def _telea(frame: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return cv2.inpaint(frame, mask.astype(np.uint8), 3, cv2.INPAINT_TELEA)


def _run(frames, masks, placed, job=None):
    return list(build_engine().inpaint(InpaintShot(frames, masks, placed), job or _job()))


@pytest.mark.parametrize("deep", [False, True])
def test_a_pan_brings_back_what_the_region_hides(alley, deep):
    truth = _pan(alley, 30)
    mask = _box(truth[0].shape, 150, 100, 250, 200)
    if deep:
        truth = [t.astype(np.uint16) * np.uint16(256) + np.uint16(37) for t in truth]  # low bits set
    frames = _painted(truth, [mask] * 30)
    placed = range(5, 25)
    out = _run(frames, [mask] * 30, placed)
    assert len(out) == len(placed)
    for o, i in zip(out, placed):
        assert o.dtype == truth[0].dtype and o.shape == truth[0].shape
        assert np.array_equal(o[~mask], frames[i][~mask])  # outside the region: the source, bit for bit
    ours = np.mean([psnr(o, truth[i], mask) for o, i in zip(out, placed)])
    if not deep:
        spatial = np.mean([psnr(_telea(frames[i], mask), truth[i], mask) for i in placed])
        assert ours > spatial + 12
    assert ours > 32


def test_a_moving_region_over_a_still_background(alley):
    # a painted box crossing a still shot: the background behind it shows in other frames
    still = alley[40:340, 100:500].copy()
    masks = [_box(still.shape, 40 + 8 * i, 120, 120 + 8 * i, 200) for i in range(30)]
    truth = [still] * 30
    frames = _painted(truth, masks)
    out = _run(frames, masks, range(30))
    for o, f, m in zip(out, frames, masks):
        assert np.array_equal(o[~m], f[~m])
    ours = np.mean([psnr(o, still, m) for o, m in zip(out, masks)])
    spatial = np.mean([psnr(_telea(f, m), still, m) for f, m in zip(frames, masks)])
    assert ours > 40 and ours > spatial + 15  # the background shows in other frames


def test_what_no_frame_shows_is_filled_steadily_without_an_edge(alley):
    # a still shot with grain, a region that never moves: nothing is revealed, all is fill
    rng = np.random.default_rng(1)
    still = alley[150:330, 180:420].astype(np.int16)  # the plaster wall and the crate below it
    truth = [np.clip(still + rng.normal(0, 2, still.shape), 0, 255).astype(np.uint8) for _ in range(12)]
    mask = _box(still.shape, 90, 40, 150, 100)
    frames = _painted(truth, [mask] * 12)
    out = _run(frames, [mask] * 12, range(12))

    def flicker(seq):
        return np.mean([np.abs(b.astype(float) - a)[mask].mean() for a, b in zip(seq, seq[1:])])

    assert flicker(out) < 0.5 * flicker(truth)  # the fill is carried, not made anew (footage: grain)
    for o in out:
        assert o[mask].min() > 0 and not np.any(np.all(o[mask] == PAINT, axis=-1))
        # no edge at the region's sides: the step across it is no bigger than the picture's own steps
        grey = cv2.GaussianBlur(cv2.cvtColor(o, cv2.COLOR_RGB2GRAY).astype(float), (0, 0), 1.0)
        rows = slice(40, 100)
        across = np.abs(grey[rows, 90] - grey[rows, 89]).mean() + np.abs(grey[rows, 150] - grey[rows, 149]).mean()
        nearby = (np.abs(np.diff(grey[rows, 70:88], axis=1)).mean()
                  + np.abs(np.diff(grey[rows, 152:170], axis=1)).mean())
        assert across < 2 * nearby + 0.5


def test_cancel_stops_within_one_frame(alley):
    truth = _pan(alley, 8)
    mask = _box(truth[0].shape, 150, 100, 250, 200)
    job = _job(cancel_event=threading.Event())
    frames = build_engine().inpaint(InpaintShot(_painted(truth, [mask] * 8), [mask] * 8, range(8)), job)
    next(frames)
    job.cancel_event.set()
    with pytest.raises(Canceled):
        next(frames)


class _Decoded:
    """A shot's frames (or mattes) made on demand, as a decoder hands them out, counting how many
    of them are alive at once."""

    def __init__(self, make, count: int):
        self.make, self.count = make, count
        self.alive = self.most = self.reads = 0

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: int) -> np.ndarray:
        if not 0 <= i < self.count:
            raise IndexError(i)
        item = self.make(i)
        self.alive += 1
        self.reads += 1
        self.most = max(self.most, self.alive)
        weakref.finalize(item, self._gone)
        return item

    def _gone(self) -> None:
        self.alive -= 1


def test_a_long_shot_is_read_a_frame_at_a_time(alley):
    n = 240
    base = cv2.resize(alley, (alley.shape[1] // 2, alley.shape[0] // 2), interpolation=cv2.INTER_AREA)

    def frame(i: int) -> np.ndarray:
        x = 2 * (i % 100)  # a pan that keeps going back
        f = base[20:140, x:x + 160].copy()
        f[50:80, 60:100] = PAINT
        return f

    frames = _Decoded(frame, n)
    masks = _Decoded(lambda i: _box((120, 160), 60, 50, 100, 80), n)
    made = 0
    progress = []
    job = _job(on_progress=lambda f, stage: progress.append(f))
    for out in build_engine().inpaint(InpaintShot(frames, masks, range(100, 140)), job):
        made += 1
        assert out.shape == (120, 160, 3)
    assert made == 40
    assert frames.most <= 3 and masks.most <= 3  # never more than a couple decoded at once
    assert frames.reads <= 2 * n + 1  # each frame read once a pass (and the first once more)
    assert progress == sorted(progress) and progress[-1] == 1.0


def test_bad_input_names_what_is_wrong(alley):
    truth = _pan(alley, 4)
    mask = _box(truth[0].shape, 150, 100, 250, 200)
    engine = build_engine()
    with pytest.raises(ValueError, match="3 mattes for 4 frames"):
        engine.inpaint(InpaintShot(truth, [mask] * 3, range(4)), _job())
    with pytest.raises(ValueError, match="placed frames"):
        engine.inpaint(InpaintShot(truth, [mask] * 4, range(2, 6)), _job())
    small = [mask] * 3 + [mask[:100]]
    with pytest.raises(ValueError, match="the matte of frame 3 is 400x100, the frame 400x300"):
        list(engine.inpaint(InpaintShot(truth, small, range(4)), _job()))



def test_the_pass_that_fitted_the_region_s_surroundings_better_weighs_more():
    from server.engines.classical.inpaint import _cost
    from server.engines.classical.propagate import mix

    a, b = np.full((2, 2, 3), 100, np.float32), np.full((2, 2, 3), 200, np.float32)
    hops = np.full((2, 2), 3, np.float32)
    # per pixel: both fit (within noise), a missed, b missed, only a seen
    a_misfit = np.array([[1e-5, 0.02], [0, 0]], np.float32)
    b_misfit = np.array([[0, 0], [0.02, 0]], np.float32)
    b_hops = hops.copy()
    b_hops[1, 1] = np.inf
    colour, cost = mix(a, _cost(hops, a_misfit), b, _cost(b_hops, b_misfit))
    assert abs(colour[0, 0, 0] - 150) < 1  # a misfit within the footage's noise tells nothing
    assert colour[0, 1, 0] > 190 and colour[1, 0, 0] < 110  # the one that missed counts little
    assert colour[1, 1, 0] == 100 and cost[1, 1] == 3 and np.isfinite(cost).all()
    # seen nearer in time still weighs more when both fit
    none = np.zeros((2, 2), np.float32)
    near, _ = mix(a, _cost(np.ones((2, 2), np.float32), none), b, _cost(hops, none))
    assert near[0, 0, 0] == pytest.approx(125)


def test_what_does_not_fit_the_region_s_surroundings_is_not_carried_in(alley, monkeypatch):
    # a pan where, until frame 8, something nearer the camera (a textured board, fixed on screen)
    # covers the region and around it: carried on with the background's motion it would be pushed
    # into the frames after it has gone, where nothing around the region looks like it
    truth = _pan(alley, 12)
    mask = _box(truth[0].shape, 150, 100, 250, 200)
    board = np.ascontiguousarray(truth[0][80:220, 120:280][::-1, ::-1])
    frames = [t.copy() for t in truth]
    for f in frames[:8]:
        f[80:220, 120:280] = board
    frames = _painted(frames, [mask] * 12)
    placed = range(9, 12)

    def made():
        return np.mean([psnr(o, truth[i], mask) for o, i in zip(_run(frames, [mask] * 12, placed), placed)])

    ours = made()
    monkeypatch.setattr("server.engines.classical.inpaint._MISFIT_LIMIT", np.float32(np.inf))
    trusting = made()
    assert ours > trusting + 3  # trusting every pass carries the board's texture in


def _grainy_pan(alley: np.ndarray, frames: int, sigma: float, seed: int = 3):
    """The pan over a softened still, each frame with its own grain (as a camera's or a codec's):
    the clean frames and the grainy ones."""
    rng = np.random.default_rng(seed)
    clean = [f.astype(np.float32) for f in _pan(cv2.GaussianBlur(alley, (0, 0), 2), frames)]
    grainy = [np.clip(np.rint(c + rng.normal(0, sigma, c.shape)), 0, 255).astype(np.uint8) for c in clean]
    return clean, grainy


def test_carried_grain_is_smoothed(alley):
    # a carried pixel holds the grain of the frame it was seen in, not this frame's: the error
    # against the clean picture is that grain, unless what lies within the footage's own grain
    # (measured around the region) is smoothed
    sigma = 6.0
    clean, grainy = _grainy_pan(alley, 24, sigma)
    mask = _box(grainy[0].shape, 150, 100, 250, 200)
    frames = _painted(grainy, [mask] * 24)
    placed = range(6, 18)
    out = _run(frames, [mask] * 24, placed)
    for o, i in zip(out, placed):
        assert np.array_equal(o[~mask], frames[i][~mask])
    error = np.sqrt(np.mean([np.square(o[mask].astype(np.float32) - clean[i][mask]).mean()
                             for o, i in zip(out, placed)]))
    assert error < 0.9 * sigma  # unsmoothed, the error is about the grain itself


def test_the_membrane_fill_has_no_pyramid_creases():
    from server.engines.classical.propagate import membrane, push_pull

    # a smooth (harmonic) picture: its membrane fill is itself, so what is left is the fill's error
    y, x = np.mgrid[0:120, 0:160].astype(np.float32)
    saddle = 0.004 * (x - 80) * (y - 60)
    img = np.stack([60 + 0.8 * x + 0.5 * y + saddle, 120 + 0.3 * x - 0.4 * y, 200 - 0.5 * x + saddle / 2], -1)
    known = np.ones((120, 160), bool)
    known[30:90, 50:110] = False

    def rms(out):
        return np.sqrt(np.mean(np.square(out - img)[~known]))

    filled = membrane(img, known)
    assert np.array_equal(filled[known], img[known])
    assert rms(filled) < 0.75 * rms(push_pull(img, known.astype(np.float32)))


def test_a_smooth_picture_no_frame_shows_is_filled_smoothly(alley):
    # a still shot of a smooth picture (a sky) under a still region: all fill, which should follow
    # the picture's slow change across the region
    still = cv2.GaussianBlur(alley[40:340, 20:420], (0, 0), 12)
    rng = np.random.default_rng(1)
    truth = [np.clip(still + rng.normal(0, 1, still.shape), 0, 255).astype(np.uint8) for _ in range(8)]
    mask = _box(still.shape, 150, 100, 250, 200)
    out = _run(_painted(truth, [mask] * 8), [mask] * 8, range(8))
    # a floor that push-pull's fill falls below
    assert np.mean([psnr(o, t, mask) for o, t in zip(out, truth)]) > 24


def test_a_slow_pan_keeps_what_it_reveals(alley):
    # 0.6 px a frame: each frame reveals a fraction of a pixel at the region's sides, which a frame
    # carried on must keep although its sampling takes in part of what was never seen
    truth = [cv2.warpAffine(alley, np.float32([[1, 0, -0.6 * i - 20], [0, 1, -40]]), (400, 300),
                            flags=cv2.INTER_CUBIC) for i in range(30)]
    mask = _box(truth[0].shape, 150, 100, 250, 200)
    placed = range(10, 20)
    out = _run(_painted(truth, [mask] * 30), [mask] * 30, placed)
    sides = mask.copy()
    sides[:, 160:240] = False  # the 10 columns each side that frames 0..9 and 20..29 show
    assert np.mean([psnr(o, truth[i], sides) for o, i in zip(out, placed)]) > 31



def test_a_post_no_frame_shows_is_continued_through_the_region():
    # a still shot of a wall (a gentle gradient) with a post and a rail crossing a still region:
    # no frame shows what the region hides, and the fill continues both through it, not a blur
    ys, xs = np.mgrid[0:300, 0:400].astype(np.float32)
    wall = np.stack([120 + 0.2 * xs, 110 + 0.1 * ys, 100 + 0.1 * (xs + ys) / 2], axis=2)
    wall[:, 185:215] = (60, 40, 20)  # the post
    wall[100:112, :] = (230, 230, 220)  # the rail
    rng = np.random.default_rng(2)
    truth = [np.clip(wall + rng.normal(0, 1, wall.shape), 0, 255).astype(np.uint8) for _ in range(8)]
    mask = _box(wall.shape, 150, 40, 250, 200)
    out = _run(_painted(truth, [mask] * 8), [mask] * 8, range(8))
    post, rail = (slice(120, 190), slice(190, 210)), (slice(103, 109), slice(155, 180))
    miss = {name: np.mean([np.abs(o[part].astype(np.float32) - t[part]).mean() for o, t in zip(out, truth)])
            for name, part in (("post", post), ("rail", rail))}
    # limits that the smooth (membrane) fill alone, blurring the post and rail away, misses by far
    assert miss["post"] < 35 and miss["rail"] < 40
    assert np.mean([psnr(o, t, mask) for o, t in zip(out, truth)]) > 19
