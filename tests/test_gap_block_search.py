"""Gap fill's wide block search: motion beyond the dense flow's reach, where the flow fails its
round trip on most pixels, is found by a coarse-to-fine block search and interpolated when the
shot's own held-back frames are remade better that way; never across a cut between shots alike
in colour and motion, nor without context to check against."""

from __future__ import annotations

from fractions import Fraction

import cv2
import numpy as np

from server.engines import flow as fl
from server.engines.base import EngineJob
from server.engines.classical import ClassicalEngine, blocks, scene
from tests.frames import psnr

W, H = 640, 360
SPEED = 40  # pixels a frame: 80 between the ends of a 1-frame gap
BLUR = 20  # half length of the motion blur (pixels)


def _job() -> EngineJob:
    return EngineJob(rate=Fraction(25))


def _scene(seed: int, frames: int) -> np.ndarray:
    """A wide soft picture (blurred random colour) for a camera to pan over."""
    rng = np.random.default_rng(seed)
    noise = rng.uniform(0, 1, (H + 40, W + SPEED * frames + 4 * BLUR, 3)).astype(np.float32)
    picture = cv2.GaussianBlur(noise, (0, 0), 6.0)
    picture = (picture - picture.min()) / (picture.max() - picture.min())
    return 30 + 200 * picture


def _fast_pan(seed: int, frames: int = 17) -> list[np.ndarray]:
    """A fast, slightly rolling pan, each frame blurred by the camera's motion along a slant (a
    phone's long exposure): the dense flow fails its round trip nearly everywhere."""
    picture = _scene(seed, frames)
    length = 2 * BLUR + 1
    kernel = np.zeros((length, length), np.float32)
    dx, dy = BLUR * np.cos(1.2), BLUR * np.sin(1.2)
    cv2.line(kernel, (int(BLUR - dx), int(BLUR - dy)), (int(BLUR + dx), int(BLUR + dy)), 1.0, 1)
    kernel /= kernel.sum()
    cy = picture.shape[0] / 2
    out = []
    for k in range(frames):
        cx = 2 * BLUR + W / 2 + SPEED * k
        move = cv2.getRotationMatrix2D((cx, cy), 0.3 * k, 1.0)
        move[:, 2] += (W / 2 - cx, H / 2 - cy)
        frame = cv2.filter2D(cv2.warpAffine(picture, move, (W, H)), -1, kernel)
        out.append(np.clip(frame, 0, 255).astype(np.uint8))
    return out


def _dissolve(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    return cv2.addWeighted(a, 1 - t, b, t, 0)


INNER = np.s_[40:-40, 100:-100]  # away from the borders that only one end saw


def test_motion_beyond_the_flows_reach_is_found_by_the_block_search():
    frames = _fast_pan(7)
    before, truth, after = frames[:8], frames[8], frames[9:]
    engine = ClassicalEngine()
    size = fl.interp_size(truth.shape)
    pair = engine._gap_flow(fl.small_rgb(before[-1], size), fl.small_rgb(after[0], size))
    assert pair.inconsistent >= scene.MAX_INCONSISTENT  # the flow (and its retries) fail
    job, stages = _job(), []
    job.progress = lambda done, stage: stages.append(stage)
    made = list(engine.fill_gap(before, after, 1, job))[0]
    assert "block motion search" in stages[-1]
    dissolve = _dissolve(before[-1], after[0], 0.5)
    # far above what the flow's frames that gap fill made before the block search gained
    assert psnr(made[INNER], truth[INNER]) > psnr(dissolve[INNER], truth[INNER]) + 20


def test_a_cut_between_alike_shots_is_not_bridged_by_the_block_search():
    # two fast pans over different pictures of one kind: the colours agree and the context on
    # each side shows motion that the block search follows, but the ends are unrelated pictures,
    # which the block fields explain far worse than the shot's own frames the same distance apart
    before, after = _fast_pan(7)[:8], _fast_pan(8)[9:]
    a, b = before[-1], after[0]
    size = fl.interp_size(a.shape)
    assert scene.hist_distance(fl.small_rgb(a, size), fl.small_rgb(b, size)) < scene.MAX_HIST_DISTANCE
    job, stages = _job(), []
    job.progress = lambda done, stage: stages.append(stage)
    list(ClassicalEngine().fill_gap(before, after, 1, job))
    assert "block motion search" not in stages[-1]


def test_without_context_to_remake_the_block_search_is_not_used():
    frames = _fast_pan(7)
    job, stages = _job(), []
    job.progress = lambda done, stage: stages.append(stage)
    list(ClassicalEngine().fill_gap(frames[6:8], frames[9:11], 1, job))
    assert "block motion search" not in stages[-1]


def test_the_block_field_reaches_a_wide_shift():
    picture = cv2.cvtColor(_scene(3, 4).astype(np.uint8), cv2.COLOR_RGB2GRAY)
    a = np.ascontiguousarray(picture[60:330, 100:580])
    b = np.ascontiguousarray(picture[40:310, 145:625])  # a's content 45 px left and 20 px down
    field = blocks.block_field(a, b)
    inner = field[40:-40, 80:-80]
    assert abs(float(np.median(inner[..., 0])) + 45) < 0.5
    assert abs(float(np.median(inner[..., 1])) - 20) < 0.5
