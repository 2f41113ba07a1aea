"""Gap fill's per-shot self-check: which way of moving pixels through a gap suits this shot.

Whether the motion beyond each end predicts the path through the gap (:class:`MotionCurve`) is
a property of the footage: a throw or a braking car keeps its pace from one frame to the next, a
hand's shake or a film cadence under video frames does not, and the frame beyond each end then
shows only the shake. No rule about the picture tells them apart, but the shot's own context
frames do: a stretch of real frames on each side of the gap, as long as the gap where the context
allows, is held back and remade from its ends both ways, on the small copies gap fill's flow is
measured on (at half their size), and the way that remakes the real frames better is used in the gap."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from server.engines import flow as fl
from server.engines.classical.interpolate import Interpolator, MotionCurve, blend
from server.engines.classical.scene import PairFlow

# share of the straight path's error the curve must save to be used when the check remakes fewer
# frames than the gap has: remaking a few frames measures the two within a few per cent of each
# other by chance, and the gap's long middle, where the curve bends most, is not among them
CLEAR_WIN = 0.05


def _stretches(before: Sequence[np.ndarray], after: Sequence[np.ndarray],
               frames: int) -> tuple[list[Sequence[np.ndarray]], bool]:
    """Runs of real context frames to remake: a frame beyond each end, the two ends, and up to
    ``frames`` held back between them, the run nearest the gap on each side that has room; and
    whether some run holds back as many frames as the gap has."""
    out, covered = [], False
    for side, nearest_last in ((before, True), (after, False)):
        held = min(frames, len(side) - 4)
        if held < 1:
            continue
        covered = covered or held == frames
        out.append(side[len(side) - held - 4:] if nearest_last else side[:held + 4])
    return out, covered


def check_size(shape: tuple[int, ...]) -> tuple[int, int]:
    """(width, height) the context frames are remade at: half gap fill's flow size each way, so
    the check costs a fraction of the gap's own frames (it remakes as many, twice over)."""
    w, h = fl.interp_size(shape)
    return fl.work_size(shape, max(w, h) // 2)


def curve_wins(before: Sequence[np.ndarray], after: Sequence[np.ndarray], frames: int,
               flow_quality: str) -> bool | None:
    """Whether bending the path by the motion beyond each end suits this shot, by how the two ways
    remake held-back context frames (the mean absolute error of the small RGB copies, over every
    stretch of :func:`_stretches`). Where a stretch holds back as many frames as the gap has, the
    check remakes what the gap will do, and the curve (what the frames beyond the ends show) is
    kept unless the straight path remakes them better; where the context holds back fewer, the
    curve must win clearly (by :data:`CLEAR_WIN`). None when the context has no stretch to remake
    (or only across a cut, or the curve bends on none), so the caller keeps its default."""
    runs, covered = _stretches(before, after, frames)
    errors = np.zeros(2)
    checked = False
    estimator = fl.FlowEstimator(flow_quality)
    size = check_size(before[-1].shape)
    for run in runs:
        small = [fl.small_rgb(f, size) for f in run]
        held = len(small) - 4
        a, b = small[1], small[held + 2]
        pair = PairFlow.between(a, b, estimator)
        if pair.is_cut:
            continue
        curve = MotionCurve(small[0], a, b, small[-1], a, b, held + 1, flow_quality)
        if not curve.bends:
            continue
        checked = True
        for k, way in enumerate((curve, None)):
            interp = Interpolator(a, b, pair, way)
            for i in range(held):
                # as Interpolator.at, at the small size (its full-size buffers stay as they are)
                ft0, ft1, weight_a = interp.weights((i + 1) / (held + 1))
                made = blend(fl.remap(a, ft0), fl.remap(b, ft1), weight_a)
                errors[k] += float(cv2.absdiff(made, small[i + 2]).mean())
    if not checked:
        return None
    if covered:
        return bool(errors[0] <= errors[1])
    return bool(errors[0] < (1.0 - CLEAR_WIN) * errors[1])
