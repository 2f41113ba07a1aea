"""Gap fill's per-shot self-check: which way of moving pixels through a gap suits this shot.

Whether the motion beyond each end predicts the path through the gap (:class:`MotionCurve`) is
a property of the footage: a throw or a braking car keeps its pace from one frame to the next, a
hand's shake or a film cadence under video frames does not, and the frame beyond each end then
shows only the shake. No rule about the picture tells them apart, but the shot's own context
frames do: stretches of real frames on each side of the gap, as long as the gap where the context
allows, are held back and remade from their ends both ways, on the small copies gap fill's flow is
measured on (at half their size), and the way that remakes the real frames better is used in the
gap. Every such stretch the context holds is remade, not only the one nearest the gap: one
stretch's verdict is as often chance (a dropped frame, a jolt) as the shot's way of moving."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from server.engines import flow as fl
from server.engines.classical.interpolate import Interpolator, MotionCurve, blend
from server.engines.classical.scene import PairFlow

# share of the error at the pixels the curve changes by which the way the check does not default
# to must win: remaking a few frames measures the two within a few per cent of each other by chance
CLEAR_WIN = 0.03
# levels (mean over the channels) by which the two ways' errors at a pixel must differ for it to
# count: where they agree (still or flat areas, pixels the curve does not move), they say nothing
# about which way suits the shot, and only dilute the margin
_DIFFERENT = 0.5


def _stretches(before: Sequence[np.ndarray], after: Sequence[np.ndarray],
               frames: int) -> tuple[list[tuple[Sequence[np.ndarray], int]], bool]:
    """Runs of real context frames to remake, each with how many frames it holds back: a frame
    beyond each end, the two ends, and up to ``frames`` held back between them, every such run on
    each side that has room; and whether some side holds back as many frames as the gap has."""
    out, covered = [], False
    for side in (before, after):
        held = min(frames, len(side) - 4)
        if held < 1:
            continue
        covered = covered or held == frames
        out += [(side[start:start + held + 4], held) for start in range(len(side) - held - 3)]
    return out, covered


def check_size(shape: tuple[int, ...]) -> tuple[int, int]:
    """(width, height) the context frames are remade at: half gap fill's flow size each way, so
    the check costs a fraction of the gap's own frames (it remakes as many, twice over)."""
    w, h = fl.interp_size(shape)
    return fl.work_size(shape, max(w, h) // 2)


def curve_wins(before: Sequence[np.ndarray], after: Sequence[np.ndarray], frames: int,
               flow_quality: str) -> bool | None:
    """Whether bending the path by the motion beyond each end suits this shot, by how the two ways
    remake held-back context frames (every stretch of :func:`_stretches`), scored where the two
    ways' errors differ (absolute error of the small RGB copies, the mean over the channels). When the context
    holds back as many frames as the gap has, the curve is kept unless the straight path remakes
    them clearly better (by :data:`CLEAR_WIN`); when it holds back fewer, the check does not see
    the gap's long middle, where the curve bends most, and the curve must win clearly itself.
    None when there is no stretch to remake (or only across a cut, or the curve bends on none), so
    the caller keeps its default."""
    size = check_size(before[-1].shape)
    # each context frame's small copy, made once for the overlapping stretches
    runs, covered = _stretches(*([fl.small_rgb(f, size) for f in side] for side in (before, after)), frames)
    errors = np.zeros(2)
    checked = False
    estimator = fl.FlowEstimator(flow_quality)
    for copies, held in runs:
        a, b = copies[1], copies[held + 2]
        pair = PairFlow.between(a, b, estimator)
        if pair.is_cut:
            continue
        curve = MotionCurve(copies[0], a, b, copies[-1], a, b, held + 1, flow_quality)
        if not curve.bends:
            continue
        checked = True
        ways = [Interpolator(a, b, pair, way) for way in (curve, None)]
        for i in range(held):
            error = []
            for interp in ways:
                # as Interpolator.at, at the small size (its full-size buffers stay as they are)
                ft0, ft1, weight_a = interp.weights((i + 1) / (held + 1))
                made = blend(fl.remap(a, ft0), fl.remap(b, ft1), weight_a)
                error.append(cv2.absdiff(made, copies[i + 2]).astype(np.float32).mean(axis=2))
            telling = cv2.absdiff(error[0], error[1]) > _DIFFERENT
            errors += [float(e[telling].sum()) for e in error]
    if not checked:
        return None
    if covered:
        return bool(errors[0] <= (1.0 + CLEAR_WIN) * errors[1])
    return bool(errors[0] < (1.0 - CLEAR_WIN) * errors[1])
