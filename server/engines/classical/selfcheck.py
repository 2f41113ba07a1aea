"""Gap fill's per-shot self-check: which way of moving pixels through a gap suits this shot.

Whether the motion beyond each end predicts the path through the gap (:class:`MotionCurve`) is
a property of the footage: a throw or a braking car keeps its pace from one frame to the next, a
hand's shake or a film cadence under video frames does not, and the frame beyond each end then
shows only the shake. No rule about the picture tells them apart, but the shot's own context
frames do: a stretch of real frames on each side of the gap, as long as the gap where the context
allows, is held back and remade from its ends both ways, on the small copies gap fill's flow is
measured on (at half their size), and the way that remakes the real frames better is used in the
gap. When the stretches nearest the gap cannot tell the two ways apart, every other stretch the
context holds is remade too: one stretch's near-tie is as often chance (a dropped frame, a jolt)
as the shot's way of moving."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from server.engines import flow as fl
from server.engines.classical.interpolate import Interpolator, MotionCurve
from server.engines.classical.scene import PairFlow

# share of the straight path's error the curve must save to be used when the check remakes fewer
# frames than the gap has: remaking a few frames measures the two within a few per cent of each
# other by chance, and the gap's long middle, where the curve bends most, is not among them
CLEAR_WIN = 0.05
# within this share of each other the stretches nearest the gap cannot tell the two ways apart,
# and the others are remade too
NEAR_TIE = 0.03
# levels (mean over the channels) by which the two ways' errors at a pixel must differ for it to
# count: where they agree (still or flat areas, pixels the curve does not move) they say nothing
# about which way suits the shot, and only dilute the shares above
_DIFFERENT = 0.5


def stretches(before: Sequence[np.ndarray], after: Sequence[np.ndarray],
               frames: int) -> tuple[list[tuple[int, range, bool]], bool]:
    """Runs of real context frames to remake, as (side: 0 before, 1 after; the run's frame
    indices; whether it is the run nearest the gap on its side): a frame beyond each end, the two
    ends, and up to ``frames`` held back between them, every such run on each side that has room;
    and whether some side holds back as many frames as the gap has."""
    runs, covered = [], False
    for k, side in enumerate((before, after)):
        held = min(frames, len(side) - 4)
        if held < 1:
            continue
        covered = covered or held == frames
        nearest = len(side) - held - 4 if k == 0 else 0
        runs += [(k, range(s, s + held + 4), s == nearest) for s in range(len(side) - held - 3)]
    return runs, covered


def check_size(shape: tuple[int, ...], gap_size: tuple[int, int] | None = None) -> tuple[int, int]:
    """(width, height) the context frames are remade at: half gap fill's flow size each way
    (``gap_size``, else :func:`flow.interp_size`'s), so the check costs a fraction of the gap's
    own frames (it remakes as many, twice over)."""
    w, h = gap_size or fl.interp_size(shape)
    return fl.work_size(shape, max(w, h) // 2)


def _remade_errors(run: Sequence[np.ndarray], flow_quality: str) -> np.ndarray | None:
    """The summed absolute error (small RGB copies, the mean over the channels) of the run's
    held-back frames remade with the curve and without it, at the pixels where the two differ;
    None across a cut, or where the curve does not bend."""
    held = len(run) - 4
    a, b = run[1], run[held + 2]
    pair = PairFlow.between(a, b, fl.FlowEstimator(flow_quality))
    if pair.is_cut:
        return None
    curve = MotionCurve(run[0], a, b, run[-1], a, b, held + 1, flow_quality)
    if not curve.bends:
        return None
    ways = [Interpolator(a, b, pair, way) for way in (curve, None)]
    errors = np.zeros(2)
    for i in range(held):
        error = []
        for interp in ways:
            made = interp.small_at((i + 1) / (held + 1))
            error.append(cv2.absdiff(made, run[i + 2]).astype(np.float32).mean(axis=2))
        telling = cv2.absdiff(error[0], error[1]) > _DIFFERENT
        errors += [float(e[telling].sum()) for e in error]
    return errors


def curve_wins(before: Sequence[np.ndarray], after: Sequence[np.ndarray], frames: int,
               flow_quality: str, gap_size: tuple[int, int] | None = None) -> bool | None:
    """Whether bending the path by the motion beyond each end suits this shot, by how the two ways
    remake held-back context frames (:func:`_remade_errors`, summed over the stretches nearest
    the gap, and over every stretch of :func:`stretches` when those are within
    :data:`NEAR_TIE`). Where a stretch holds back as many frames as the gap has, the check remakes
    what the gap will do, and the curve (what the frames beyond the ends show) is kept unless the
    straight path remakes them better; where the context holds back fewer, the curve must win
    clearly (by :data:`CLEAR_WIN`) on the nearest stretches. None when the context has no stretch
    to remake (or only across a cut, or the curve bends on none), so the caller keeps its
    default. ``gap_size``: the size the gap's own flow is measured at (:func:`check_size`)."""
    runs, covered = stretches(before, after, frames)
    size = check_size(before[-1].shape, gap_size)
    sides = (before, after)
    small: tuple[dict, dict] = ({}, {})  # each context frame's small copy, made once when needed

    def summed(nearest: bool) -> np.ndarray | None:
        found = None
        for k, indices, is_nearest in runs:
            if is_nearest != nearest:
                continue
            for i in indices:
                if i not in small[k]:
                    small[k][i] = fl.small_rgb(sides[k][i], size)
            errors = _remade_errors([small[k][i] for i in indices], flow_quality)
            if errors is not None:
                found = errors if found is None else found + errors
        return found

    errors = summed(True)
    if errors is None:
        return None
    if errors[1] == 0:  # the two ways remake the same frames: nothing tells them apart
        return covered
    if not covered:
        return bool(errors[0] < (1.0 - CLEAR_WIN) * errors[1])
    if abs(1.0 - errors[0] / errors[1]) <= NEAR_TIE:
        more = summed(False)
        if more is not None:
            errors = errors + more
    return bool(errors[0] <= errors[1])
