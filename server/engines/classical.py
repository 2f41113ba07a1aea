"""The classical engine: optical flow and image warping on the CPU, no model weights.

- gap fill: bidirectional flow interpolation, the motion through each pixel at time t chosen
  among candidates by how well the two ends agree once warped (as MEMC does), each pixel's path
  bent by how the shot moves just beyond each end (:class:`MotionCurve`: speeding up, slowing
  down), with an occlusion-aware blend, where each pixel falls back towards a cross-dissolve
  when motion does not explain the two ends (changing graphics, flashes); the whole gap
  dissolves across a cut or when it is too long for one flow; footage that repeats frames in a
  cadence (animation on twos, film on video) has its made frames timed by picture, repeats
  exact (:mod:`.cadence`);
- extension: the last flow field continued with damped constant velocity, scaled by the share
  of it that best predicted the shot's own last context frames (backtest), so jitter and
  still shots hold the frame instead of drifting; a still camera with little moving is an exact
  freeze; a cadence is continued picture by picture;
- outpaint: a background built from past and upcoming frames aligned by global motion, and a
  smooth spatial fill (push-pull) where the camera never showed anything;
- generate: an honest placeholder slate (see :mod:`server.engines.slate`).

Flow is computed on a small 8-bit greyscale copy; only ``cv2.remap``/``cv2.warpAffine`` ever
touch the full-depth frames, so uint16 input stays uint16 with its precision.
"""

from __future__ import annotations

import math
import os
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Sequence, Sized
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction

import cv2
import numpy as np

from server.engines import cadence
from server.engines import flow as fl
from server.engines.base import Availability, Engine, EngineJob, OutpaintLayout
from server.engines.slate import slates

# Gap-fill decision thresholds, measured on same-shot pairs and cuts in the test clips: same-shot
# pairs flow could bridge stayed below all three, cuts had >=0.95 inconsistent pixels.
_MAX_INCONSISTENT = 0.6  # fraction of pixels failing the forward-backward check
_MAX_RESIDUAL_RATIO = 0.8  # warped difference / plain difference: flow must explain the change
_MAX_HIST_DISTANCE = 0.4  # Bhattacharyya distance of hue/saturation histograms
# gap fill only gives up on flow as a whole across a cut; elsewhere each pixel decides (see
# Interpolator), so large motion that flow gets mostly right is still interpolated
_CUT_INCONSISTENT = 0.9
_CUT_RESIDUAL_RATIO = 0.95
_FB_SLACK = 0.0  # forward-backward error (small pixels) still counted as fully consistent


def _check_frames(frames: Sequence[np.ndarray], what: str) -> None:
    if not frames:
        raise ValueError(f"{what}: no frames given")
    first = frames[0]
    for f in frames:
        if f.ndim != 3 or f.shape[2] != 3 or f.dtype not in (np.uint8, np.uint16):
            raise ValueError(f"{what}: frames must be (H, W, 3) uint8 or uint16, got {f.shape} {f.dtype}")
        if f.shape != first.shape or f.dtype != first.dtype:
            raise ValueError(f"{what}: frames differ in size or dtype ({f.shape} {f.dtype} vs "
                             f"{first.shape} {first.dtype})")


def _dissolve(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    return cv2.addWeighted(a, 1.0 - t, b, t, 0.0)


def _blend(a: np.ndarray, b: np.ndarray, wa: np.ndarray, wb: np.ndarray | None = None) -> np.ndarray:
    """``a * wa + b * wb`` per pixel (``wb`` defaults to ``1 - wa``), in the frames' dtype."""
    if wb is None:
        wb = 1.0 - wa
    if a.dtype == np.uint8:
        return cv2.blendLinear(a, b, wa, wb)
    out = cv2.blendLinear(a.astype(np.float32), b.astype(np.float32), wa, wb)
    return cv2.multiply(out, 1.0, dtype=cv2.CV_16U)  # rounds and saturates


@dataclass
class PairFlow:
    """Flow both ways between two frames (small scale) and how well it explains them."""

    ga: np.ndarray  # the small greyscale copies flow was computed on
    gb: np.ndarray
    fwd: np.ndarray  # a -> b
    bwd: np.ndarray  # b -> a
    err_a: np.ndarray  # forward-backward error at a's pixels
    err_b: np.ndarray
    inconsistent: float
    residual_ratio: float
    hist_distance: float

    @classmethod
    def measure(cls, a: np.ndarray, b: np.ndarray, estimator: fl.FlowEstimator,
                size: tuple[int, int]) -> PairFlow:
        return cls.between(fl.small_rgb(a, size), fl.small_rgb(b, size), estimator)

    @classmethod
    def between(cls, sa: np.ndarray, sb: np.ndarray, estimator: fl.FlowEstimator) -> PairFlow:
        """From the small 8-bit RGB copies of the two frames (:func:`flow.small_rgb`)."""
        ga, gb = cv2.cvtColor(sa, cv2.COLOR_RGB2GRAY), cv2.cvtColor(sb, cv2.COLOR_RGB2GRAY)
        fwd, bwd = estimator(ga, gb), estimator(gb, ga)
        err_a, err_b = fl.fb_error(fwd, bwd), fl.fb_error(bwd, fwd)
        # a pixel fails when its round trip misses by >1 px plus 10 % of its motion
        inconsistent = float(np.mean(err_a > 1.0 + 0.1 * cv2.magnitude(fwd[..., 0], fwd[..., 1])))
        _, residual_ratio = _flow_error(ga, gb, fwd)
        return cls(ga, gb, fwd, bwd, err_a, err_b, inconsistent, residual_ratio, _hist_distance(sa, sb))

    @property
    def is_cut(self) -> bool:
        """The two ends are not the same shot (or flow explains none of the change): dissolve."""
        return (self.hist_distance >= _MAX_HIST_DISTANCE or self.inconsistent >= _CUT_INCONSISTENT
                or self.residual_ratio >= _CUT_RESIDUAL_RATIO)

    @property
    def bridgeable(self) -> bool:
        return (self.inconsistent < _MAX_INCONSISTENT and self.residual_ratio < _MAX_RESIDUAL_RATIO
                and self.hist_distance < _MAX_HIST_DISTANCE)


def _flow_error(a: np.ndarray, b: np.ndarray, flow: np.ndarray) -> tuple[np.ndarray, float]:
    """Per pixel, how far ``b`` warped by ``flow`` (a -> b) misses ``a`` (8-bit grey copies, float32
    levels out); and its mean over the unwarped difference's (floored at one level): the share of
    the change between them that flow does not explain."""
    here, there = a.astype(np.float32), b.astype(np.float32)
    err = cv2.absdiff(here, fl.remap(there, flow))
    return err, float(err.mean()) / max(float(cv2.absdiff(here, there).mean()), 1.0)


def _hist_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Colour-distribution distance of two small 8-bit RGB copies (0 same .. 1 disjoint):
    large across a cut."""
    hists = [cv2.calcHist([cv2.cvtColor(f, cv2.COLOR_RGB2HSV)], [0, 1], None, [16, 8], [0, 180, 0, 256])
             for f in (a, b)]
    return float(cv2.compareHist(hists[0], hists[1], cv2.HISTCMP_BHATTACHARYYA))


class MotionCurve:
    """The path of each pixel through a gap, bent by how the shot moves just outside it.

    Two end frames only show where a pixel starts and ends, so interpolation moves it at an even
    pace on a straight line. Real motion speeds up, slows down and turns (handheld cameras, things
    thrown, cars braking); the context frame beyond each end shows how fast each pixel arrives at
    ``a`` and leaves ``b``. The cubic through the pixel's positions one frame before ``a``, at ``a``,
    at ``b`` and one frame after ``b`` (the Lagrange form) gives its position at each time in
    between; :meth:`bend` is that position's offset from the straight line. It is the bidirectional
    form of quadratic video interpolation (Xu et al., NeurIPS 2019). Measured on the shared clips
    (8 positions per clip): +0.46 dB at 1 frame, +0.44 at 3 (handheld cockatoo +2.0 / +2.0).

    Nothing bends unless both ends show motion: not when an end's neighbour repeats it (a repeat
    shows no motion), nor when flow does not explain the change to a neighbour, or explains one
    far worse than the other (a cut, a flash). A pixel that its end's flow does not match well
    (occlusion, noise) bends by less."""

    _CONFIDENCE_LEVEL = 16.0  # local flow error (8-bit levels) at which an end's pixel counts ~37 %
    # one frame's motion at each end says little about the middle of a long gap, where the cubic's
    # weights grow to ~0.9 (7-frame gaps): capped, realshort's 7-frame gaps went from -1.24 to
    # -0.57 dB against the straight line; 1- and 3-frame gaps (weights <= 1/6 and 0.4) are unchanged
    _MAX_WEIGHT = 0.4

    def __init__(self, before_a: np.ndarray, a: np.ndarray, b: np.ndarray, after_b: np.ndarray,
                 small_a: np.ndarray, small_b: np.ndarray, span: int, flow_quality: str):
        """Starts measuring how ``a``'s pixels arrive from ``before_a`` and how ``b``'s leave for
        ``after_b``, on the second core (1080p: ~10 ms a gap, hidden behind the measurement of the
        gap's own flow); :meth:`bend` waits for it. ``small_a``/``small_b``: the ends' copies that
        the gap's flow is measured on; ``span``: frames from ``a`` to ``b`` (the gap plus one)."""
        self.span = span
        self._ends = _SECOND_CORE.submit(self._measure, before_a, a, small_a, b, small_b, after_b,
                                         fl.FlowEstimator(flow_quality))

    @classmethod
    def _measure(cls, before_a: np.ndarray, a: np.ndarray, small_a: np.ndarray, b: np.ndarray,
                 small_b: np.ndarray, after_b: np.ndarray,
                 estimator: fl.FlowEstimator) -> tuple[np.ndarray, np.ndarray] | None:
        """Both ends' motion (:meth:`_end_motion`), or None. Both or neither: one end alone bent
        the SMPTE pattern's 3-frame gaps by 0.7 dB (a cut or a change of graphics beyond one end
        puts the other's measure in doubt too)."""
        arriving = cls._end_motion(a, small_a, before_a, estimator, -1.0)
        leaving = cls._end_motion(b, small_b, after_b, estimator, 1.0) if arriving else None
        if leaving is None:
            return None
        (arriving, arriving_error), (leaving, leaving_error) = arriving, leaving
        # flow between neighbouring frames of one shot leaves about the same error at both ends
        # (within 2.1x on the shared clips); a cut or a flash beyond one end leaves ~100x more
        if max(arriving_error, leaving_error) > 3.0 * min(arriving_error, leaving_error) + 2.0:
            return None
        return arriving, leaving

    @classmethod
    def _end_motion(cls, end: np.ndarray, small_end: np.ndarray, neighbour: np.ndarray,
                    estimator: fl.FlowEstimator, sign: float) -> tuple[np.ndarray, float] | None:
        """Per small pixel of ``end``, its motion over one frame forward in time (the flow to
        ``neighbour`` times ``sign``: -1 for the frame before, +1 for the frame after) and the
        confidence in it, as (dx, dy, confidence, 0) (OpenCV remaps 4 channels ~3x faster than 2
        or 3); and the mean error the flow leaves. None when there is no motion to measure."""
        # a repeated frame shows no motion (and the step across it shows two frames' worth)
        if cadence.is_repeat(cadence.tiny_copy(end), cadence.tiny_copy(neighbour)):
            return None
        size = (small_end.shape[1], small_end.shape[0])
        here, there = (cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in (small_end, fl.small_rgb(neighbour, size)))
        flow = estimator(here, there)
        err, residual_ratio = _flow_error(here, there, flow)
        if residual_ratio >= _MAX_RESIDUAL_RATIO:
            return None  # flow does not explain the change: a cut, a flash
        confidence = np.exp(-np.square(cv2.GaussianBlur(err, (0, 0), 2.0) / cls._CONFIDENCE_LEVEL))
        fx, fy = cv2.split(flow)
        return cv2.merge([sign * fx, sign * fy, confidence, np.zeros_like(confidence)]), float(err.mean())

    @property
    def bends(self) -> bool:
        """Both ends show motion, so the path bends (waits for the measurement)."""
        return self._ends.result() is not None

    def steady_motions(self, t: float) -> list[np.ndarray]:
        """The a->b motion at time ``t`` of each end's own motion kept up across the gap, each
        taken where that motion puts the pixel at its end: candidates for the motion search (right
        where the gap's own flow fails, as with fast motion: bikes +1.0 dB at 1 frame, +0.1 dB on
        the shared clips); none when the ends show no motion."""
        ends = self._ends.result()
        if ends is None:
            return []
        motions = []
        for end, back in ((ends[0], -t), (ends[1], 1 - t)):  # from time t to a, and to b
            here = self.span * cv2.merge(cv2.split(end)[:2])
            # one fixed-point step: the motion of the pixel that it carries to this one
            motions.append(self.span * cv2.merge(cv2.split(fl.remap(end, back * here))[:2]))
        return motions

    def bend(self, v: np.ndarray, ft0: np.ndarray, ft1: np.ndarray, t: float) -> np.ndarray | None:
        """Offset (small pixels) from the straight line, at time ``t``, of the pixels that the
        straight line samples from ``a`` at ``ft0`` and from ``b`` at ``ft1`` (motion ``v``, a->b);
        None where the ends show no motion to bend it by."""
        ends = self._ends.result()
        if ends is None:
            return None
        n = self.span
        s = t * n  # frames since a
        k = (n + 1) * (n + 2)
        # the Lagrange weights of the frames beyond each end (nodes -1, 0, n, n + 1): >= 0 for the
        # one before a, <= 0 for the one after b. The cubic reproduces a straight line exactly, so
        # only each end's departure from the mean pace v / n bends it (planes: see flow.remap_planes)
        pace_x, pace_y = cv2.split(v / n)
        bend_x = bend_y = 0.0
        for end, at, weight in ((ends[0], ft0, s * (s - n) * (s - n - 1) / k),
                                (ends[1], ft1, s * (s + 1) * (s - n) / k)):
            dx, dy, confidence, _ = cv2.split(fl.remap(end, at))
            confidence *= np.float32(np.clip(weight, -self._MAX_WEIGHT, self._MAX_WEIGHT))
            bend_x = bend_x + confidence * (dx - pace_x)
            bend_y = bend_y + confidence * (dy - pace_y)
        return cv2.merge([bend_x, bend_y])


# one helper thread for work that overlaps the main flow measurement (OpenCV releases the GIL)
_SECOND_CORE = ThreadPoolExecutor(max_workers=1, thread_name_prefix="classical-engine")


def _second_core_after_fork() -> None:
    # a forked child inherits the executor but not its thread: work given to it would never run
    global _SECOND_CORE
    _SECOND_CORE = ThreadPoolExecutor(max_workers=1, thread_name_prefix="classical-engine")


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(after_in_child=_second_core_after_fork)

_rgba_owner = threading.local()  # token of the Interpolator whose RGBA ends are in this thread's scratch


class Interpolator:
    """Frames between ``a`` (t=0) and ``b`` (t=1) from one pair of flow fields.

    Each pixel falls back towards a plain dissolve where motion does not explain the two ends
    better than no motion does (flashes, changing graphics, flow that locked onto noise): the two
    ends warped to time t must agree better than the unwarped ends do, else the flow there is
    scaled down to nothing and the blend weights return to (1 - t, t)."""

    _ABS = 16.0
    _SIGMA = 2.0  # smoothing (small pixels) of the per-pixel agreement measures

    def __init__(self, a: np.ndarray, b: np.ndarray, pair: PairFlow, curve: MotionCurve | None = None):
        """``curve``: how the motion bends through the gap (None: a straight line at an even pace)."""
        self.a, self.b, self.pair, self.curve = a, b, pair, curve
        self.f01, self.f10 = cv2.split(pair.fwd), cv2.split(pair.bwd)  # as planes (see flow.remap_planes)
        self.full = (a.shape[1], a.shape[0])
        # confidence of each end's pixels: low where the round trip fails (occluded in the other end)
        self.conf_a = np.exp(-np.square(np.maximum(pair.err_a - _FB_SLACK, 0)))
        self.conf_b = np.exp(-np.square(np.maximum(pair.err_b - _FB_SLACK, 0)))
        self.ga, self.gb = pair.ga.astype(np.float32), pair.gb.astype(np.float32)
        self.zero_err = cv2.GaussianBlur(cv2.absdiff(self.ga, self.gb), (0, 0), self._SIGMA)
        self.a4: np.ndarray | None = None
        self.b4: np.ndarray | None = None
        self._token = object()

    # symmetric motion search at time t: candidate a->b motions per pixel, scored by how well the
    # two ends agree once warped along them (the block-matching criterion of MEMC, which needs no
    # ground truth); measured on the shared clips, +0.22 dB (1 frame) and +0.27 dB (3 frames)
    _MATCH_SIGMA = 1.5  # smoothing (small pixels) of the matching cost: a soft block of ~4 px
    _SHIFTS = (4,)  # neighbours' motions tried (small pixels each way); (2, 4, 8) measured the same

    def _match_cost(self, v: np.ndarray, t: float) -> np.ndarray:
        """Smoothed |a(x - t v) - b(x + (1 - t) v)| per small pixel for the a->b motion ``v``."""
        # a 7-px kernel (2 sigma each way) scores the same as the default 13-px one at half the cost
        return cv2.GaussianBlur(cv2.absdiff(fl.remap(self.ga, -t * v), fl.remap(self.gb, (1 - t) * v)),
                                (7, 7), self._MATCH_SIGMA)

    def motion_at(self, t: float) -> np.ndarray:
        """Per small pixel at time t, the a->b motion through it, chosen among candidates: the
        linear combination of the two flows (Jiang et al., Super SloMo), each flow followed back
        to its source pixel (fixed-point inversion: right on the moving side of a motion boundary
        where the linear combination blurs the two motions), each end's own motion kept up across
        the gap (when there is a :class:`MotionCurve`), then the best neighbours' motions (one
        PatchMatch-style propagation step). The first candidate wins ties."""
        f01, f10 = self.pair.fwd, self.pair.bwd
        ft0 = (-(1 - t) * t) * f01 + (t * t) * f10
        ft1 = ((1 - t) ** 2) * f01 + (-t * (1 - t)) * f10
        best = ft1 - ft0
        cost = self._match_cost(best, t)
        p0, p1 = cv2.split(ft0), cv2.split(ft1)
        for _ in range(2):  # x = p + t f01(p) and x = q + (1 - t) f10(q), solved for p and q (3: same)
            p0 = [-t * c for c in fl.remap_planes(self.f01, *p0)]
            p1 = [-(1 - t) * c for c in fl.remap_planes(self.f10, *p1)]
        cands = [cv2.merge(fl.remap_planes(self.f01, *p0)), -cv2.merge(fl.remap_planes(self.f10, *p1))]
        if self.curve is not None:
            cands += self.curve.steady_motions(t)
        for v in cands:
            self._keep_better(best, cost, v, t)
        for d in self._SHIFTS:
            for dx, dy in ((d, 0), (-d, 0), (0, d), (0, -d)):
                self._keep_better(best, cost, np.roll(best, (dy, dx), (0, 1)), t)
        return best

    def _keep_better(self, best: np.ndarray, cost: np.ndarray, v: np.ndarray, t: float) -> None:
        c = self._match_cost(v, t)
        better = cv2.compare(c, cost, cv2.CMP_LT)
        cv2.copyTo(c, better, cost)  # in place (cv2 masks are ~10x faster than np.copyto's where)
        cv2.copyTo(v, better, best)

    def weights(self, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Small flows from time t back to each end, and the weight of ``a`` per small pixel.
        (Splatting the flows forward to time t measured +0.17 dB for ~4 ms a frame: not kept.)"""
        v = self.motion_at(t)
        ft0, ft1 = -t * v, (1 - t) * v
        bend = self.curve.bend(v, ft0, ft1, t) if self.curve is not None else None
        if bend is not None:
            ft0 -= bend
            ft1 -= bend
        # an end whose sample lies outside its frame (picture moving in across the border) gets no
        # weight: +0.03 dB at 1 frame, +0.04 dB at 3 (Big Buck Bunny's pan +0.37)
        ca = fl.remap(self.conf_a, ft0, cv2.BORDER_CONSTANT)
        cb = fl.remap(self.conf_b, ft1, cv2.BORDER_CONSTANT)
        wa = (1 - t) * ca + 1e-4
        wb = t * cb + 1e-4
        weight_a = wa / (wa + wb)
        # where both ends see the spot, warping must make them agree better than not warping
        flow_err = cv2.absdiff(fl.remap(self.ga, ft0), fl.remap(self.gb, ft1)) * np.minimum(ca, cb)
        flow_err = cv2.GaussianBlur(flow_err, (0, 0), self._SIGMA)
        trust = np.clip(2.0 - 2.0 * flow_err / (self.zero_err + 1.0), 0.0, 1.0)
        trust *= np.clip(2.0 - flow_err / (0.5 * self._ABS), 0.0, 1.0)
        ft0 *= trust[..., None]
        ft1 *= trust[..., None]
        weight_a = trust * weight_a + (1.0 - trust) * (1.0 - t)
        return ft0, ft1, weight_a

    def at(self, t: float) -> np.ndarray:
        ft0, ft1, weight_a = self.weights(t)
        # OpenCV remaps 4 channels about twice as fast as 3 (a vectorised path): the conversion
        # is paid once per gap (into this thread's reused buffers, redone only if another
        # interpolator used them meanwhile), and each warped frame goes back to 3 channels for
        # the blend (which is the other way round)
        if getattr(_rgba_owner, "token", None) is not self._token or self.a4 is None:
            shape = (*self.a.shape[:2], 4)
            self.a4, self.b4 = (cv2.cvtColor(f, cv2.COLOR_RGB2RGBA, dst=fl.scratch(f"interp.{k}4", shape, f.dtype))
                                for k, f in (("a", self.a), ("b", self.b)))
            _rgba_owner.token = self._token
        fw, fh = self.full
        warped = []
        for k, (f, flow) in enumerate(((self.a4, ft0), (self.b4, ft1))):
            w4 = fl.warp_full(f, flow, dst=fl.scratch(f"interp.w4{k}", f.shape, f.dtype),
                              map_name="interp.map")
            warped.append(cv2.cvtColor(w4, cv2.COLOR_RGBA2RGB, dst=fl.scratch(
                f"interp.w{k}", self.a.shape, self.a.dtype)))
        # both weights upsampled from the small map (cheaper than 1 - w on the full frame), into
        # reused buffers
        weights = [cv2.resize(w, self.full, dst=fl.scratch(f"interp.wt{k}", (fh, fw)),
                              interpolation=cv2.INTER_LINEAR)
                   for k, w in enumerate((weight_a, 1.0 - weight_a))]
        return _blend(*warped, *weights)


class ClassicalEngine(Engine):
    """CPU engine built on OpenCV; deterministic (no randomness, so the seed changes nothing)."""

    name = "classical"
    model = ""
    generate_is_placeholder = True

    def __init__(self, flow_quality: str = "fast", max_flow_gap: int = 12,
                 extend_half_life: float = 0.5, outpaint_lookahead: int = 16):
        """``flow_quality``: "fast" or "high" (DIS medium, ~4x slower). ``max_flow_gap``: longer gaps
        are dissolved. ``extend_half_life``: seconds over which extrapolated motion halves.
        ``outpaint_lookahead``: how many upcoming frames outpainting may borrow border content from."""
        fl.FlowEstimator(flow_quality)  # validates the name now rather than mid-job
        self.flow_quality = flow_quality
        self.max_flow_gap = max_flow_gap
        self.extend_half_life = extend_half_life
        self.outpaint_lookahead = outpaint_lookahead

    def availability(self) -> Availability:
        return Availability(True, f"CPU, OpenCV {cv2.__version__}",
                            {"threads": cv2.getNumThreads(), "flow_quality": self.flow_quality})

    # -- gap fill ---------------------------------------------------------------------------

    def fill_gap(self, before: Sequence[np.ndarray], after: Sequence[np.ndarray], frames: int,
                 job: EngineJob) -> Iterator[np.ndarray]:
        """Interpolate between ``before[-1]`` and ``after[0]``. The frame beyond each end bends the
        motion's path through the gap (:class:`MotionCurve`); the further context frames set the
        timing when the footage repeats frames in a regular cadence (see
        :mod:`server.engines.cadence`)."""
        _check_frames([*before, *after], "fill_gap")
        if frames < 0:
            raise ValueError(f"fill_gap: frames must be >= 0, got {frames}")
        return self._fill_gap(before, after, frames, job)

    def _fill_gap(self, before: Sequence[np.ndarray], after: Sequence[np.ndarray], frames: int,
                  job: EngineJob) -> Iterator[np.ndarray]:
        if frames == 0:
            return
        job.check_cancel()
        a, b = before[-1], after[0]
        times = cadence.gap_times(before, after, frames)  # None: no cadence, even timing
        followed = times is not None
        if times is None:
            times = [Fraction(i + 1, frames + 1) for i in range(frames)]
        interp = None
        between = any(0 < t < 1 for t in times)
        if between and frames <= self.max_flow_gap:
            size = fl.work_size(a.shape, fl.INTERP_SIDE)
            small_a, small_b = fl.small_rgb(a, size), fl.small_rgb(b, size)
            # the context frame beyond each end shows how the motion bends through the gap (a
            # cadence's repeats show no such thing: its pictures are timed instead)
            curve = None
            if not followed and len(before) >= 2 and len(after) >= 2:
                curve = MotionCurve(before[-2], a, b, after[1], small_a, small_b, frames + 1, self.flow_quality)
            pair = PairFlow.between(small_a, small_b, fl.FlowEstimator(self.flow_quality))
            if not pair.is_cut:
                interp = Interpolator(a, b, pair, curve)
        stage = None
        for i, t in enumerate(times):
            job.check_cancel()
            if t in (0, 1):
                yield (a if t == 0 else b).copy()
            else:
                yield interp.at(float(t)) if interp else _dissolve(a, b, float(t))
            # named after the first frame, when whether the motion's curve bends is known
            stage = stage or self._gap_stage(between, interp, followed)
            job.progress((i + 1) / frames, stage)

    @staticmethod
    def _gap_stage(between: bool, interp: Interpolator | None, followed: bool) -> str:
        """What made a gap's frames, in the words the job's progress shows."""
        if not between:
            return "repeating the end frames (the footage's repeated-frame cadence)"
        if interp is None:
            return "cross-dissolving (flow cannot bridge the gap)"
        if followed:
            return "interpolating (optical flow) on the footage's repeated-frame cadence"
        if interp.curve is not None and interp.curve.bends:
            return "interpolating (optical flow), each pixel's path bent by the motion beyond the gap"
        return "interpolating (optical flow)"

    # -- extension --------------------------------------------------------------------------

    def extend(self, context: Sequence[np.ndarray], frames: int, side: str,
               job: EngineJob) -> Iterator[np.ndarray]:
        _check_frames(context, "extend")
        if side not in ("head", "tail"):
            raise ValueError(f"extend: side must be 'head' or 'tail', got {side!r}")
        if frames < 0:
            raise ValueError(f"extend: frames must be >= 0, got {frames}")
        # a head extension is a tail extension of the reversed shot, emitted farthest frame first
        ctx = list(context) if side == "tail" else list(reversed(context))
        steps = range(1, frames + 1) if side == "tail" else range(frames, 0, -1)
        return self._extend(ctx, steps, job)

    def _extend(self, ctx: list[np.ndarray], steps: Iterable[int], job: EngineJob) -> Iterator[np.ndarray]:
        steps = list(steps)
        if not steps:
            return
        job.check_cancel()
        last = ctx[-1]
        rate = float(job.rate) if job.rate else 24.0
        # a shot that repeats frames in a cadence moves by pictures, not by frames: motion is
        # measured between its distinct pictures, and each new frame shows the picture its
        # cadence says (0 pictures on: the last one again)
        found = cadence.extension_pictures(ctx, max(steps))
        if found:
            ahead, pictures = found
            rate *= (len(pictures) - 1) / (len(ctx) - 1)  # pictures a second
            ctx = pictures
        else:
            ahead = list(range(1, max(steps) + 1))
        motion = None
        self.last_extend_gain = 0.0  # what the backtest chose (for tests and diagnostics)
        if len(ctx) >= 2:
            estimator, size = fl.FlowEstimator(self.flow_quality), fl.work_size(last.shape)
            pair = PairFlow.measure(last, ctx[-2], estimator, size)
            velocity = cv2.GaussianBlur(-pair.fwd, (0, 0), 2.0)
            # not across a cut, and not a still shot: continue the last step's motion
            if pair.bridgeable and not _is_still(velocity):
                gain = _motion_gain(ctx, estimator, size, _camera_still(velocity))
                self.last_extend_gain = gain
                if gain > 0:
                    motion = _Motion(gain * velocity)
        decay = 0.5 ** (1.0 / max(self.extend_half_life * rate, 1e-3))
        stage = "extrapolating motion" if motion else "holding the frame (no motion to continue)"
        if found:
            stage += ", on the footage's repeated-frame cadence"
        for n, k in enumerate(steps, 1):
            job.check_cancel()
            p = ahead[k - 1]
            if motion is None or p == 0:
                yield last.copy()
            else:
                # pictures' worth of motion after p pictures, each moving `decay` times the one before
                travel = decay * (1 - decay ** p) / (1 - decay) if decay < 1 else float(p)
                yield fl.warp_full(last, motion.backward(travel))
            job.progress(n / len(steps), stage)

    # -- outpaint ---------------------------------------------------------------------------

    def outpaint(self, frames: Iterable[np.ndarray], layout: OutpaintLayout,
                 job: EngineJob) -> Iterator[np.ndarray]:
        cw, ch = layout.canvas
        iw, ih = layout.inner
        ox, oy = layout.offset
        if not (0 <= ox and 0 <= oy and ox + iw <= cw and oy + ih <= ch and iw > 0 and ih > 0):
            raise ValueError(f"outpaint: picture {layout.inner} at {layout.offset} does not fit "
                             f"the canvas {layout.canvas}")
        total = len(frames) if isinstance(frames, Sized) else None
        return _Outpainter(layout, self.outpaint_lookahead, self.flow_quality).run(frames, job, total)

    # -- generate ---------------------------------------------------------------------------

    def generate(self, frames: int, size: tuple[int, int], job: EngineJob,
                 reference: np.ndarray | None = None, dtype: type = np.uint8) -> Iterator[np.ndarray]:
        if np.dtype(dtype) not in (np.uint8, np.uint16):
            raise ValueError(f"generate: dtype must be uint8 or uint16, got {dtype}")
        if frames < 0 or size[0] <= 0 or size[1] <= 0:
            raise ValueError(f"generate: bad request: {frames} frames of {size}")
        return slates(frames, size, job, reference, np.dtype(dtype).type)


_GAINS = (0.0, 0.25, 0.5, 0.75, 1.0)
# most past steps the motion extrapolation is tried on: 6 (of the 7 that 8 context frames give)
# tests horizons up to 5 frames, closer to the 8+ an extension runs; on the shared clips it halved
# the worst static-shot loss against a freeze (-1.76 -> -0.97 dB) and changed no moving case
_BACKTESTS = 6


def _velocity(newer: np.ndarray, older: np.ndarray, estimator: fl.FlowEstimator,
              size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-frame motion of ``newer``'s pixels (small scale, smoothed) and ``newer``'s small grey
    copy; None across a cut."""
    pair = PairFlow.measure(newer, older, estimator, size)
    if not pair.bridgeable:
        return None
    return cv2.GaussianBlur(-pair.fwd, (0, 0), 2.0), pair.ga


_STILL_AREA = 0.15  # a still camera with less than this share of the picture moving is a still shot
_STILL_SPEED = 0.5  # small pixels a frame: slower is still (a camera's at its farthest corner)


# a still camera's backtest win over the freeze must be significant: its mean over the past steps
# at least this many standard errors (t-statistic). On the shared clips chaplin's (an irregular
# old-film cadence, a fifth of the picture moving) reached ~1.5 and lost -0.97 dB to the freeze;
# 1.5 to 3.0 gave the same results, and no moving case changed
_SIGNIFICANCE = 2.0


def _camera_still(velocity: np.ndarray) -> bool:
    """The affine (camera) part of the motion moves no corner of the picture by
    :data:`_STILL_SPEED` or more."""
    motion = _Motion(velocity)
    h, w = velocity.shape[:2]
    corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], float).T
    return float(np.abs((motion.step - np.eye(3)) @ corners).max()) < _STILL_SPEED


def _is_still(velocity: np.ndarray) -> bool:
    """A locked-off shot where little moves (talking heads, a gesture, film grain and gate weave):
    its extension is the exact last frame. A still camera keeps the background exact either way,
    and extrapolating a few local movers (limbs, faces, which turn and reverse) for several frames
    lost to the freeze on the shared clips (the OTIO counter and a Big Buck Bunny close-up went
    from -0.15 and -0.60 dB to exactly 0; the backtest below cannot tell on so few pixels); a
    still camera with a large moving area (traffic, a crowd) still extrapolates."""
    mag = cv2.magnitude(velocity[..., 0], velocity[..., 1])
    area = float(np.mean(mag > _STILL_SPEED))
    return area < _STILL_AREA and _camera_still(velocity)


def _motion_gain(ctx: list[np.ndarray], estimator: fl.FlowEstimator, size: tuple[int, int],
                 still_camera: bool = False) -> float:
    """How much of the measured motion to continue (0 = hold the frame), chosen by trying it on
    the shot's own past: from each of the last few context frames, the motion measured there is
    extrapolated over the frames that really followed it, at each gain in :data:`_GAINS`, and the
    gain that predicts them best wins. Steady pans and moving objects keep the full motion; jitter
    (handheld shake that reverses), flow locked onto noise or changing graphics, and static shots
    get little or none, so an extension is never visibly worse than a freeze frame. Under a
    ``still_camera`` the freeze is exact for everything but the movers, so the chosen gain must
    beat it consistently across the past steps (:data:`_SIGNIFICANCE`), not just in their sum:
    a gesture that reverses or an irregular cadence wins some steps and loses others. With fewer
    than three context frames there is nothing to test on, and the motion is kept."""
    if len(ctx) < 3:
        return 1.0
    grey = [cv2.cvtColor(fl.small_rgb(f, size), cv2.COLOR_RGB2GRAY).astype(np.float32) for f in ctx]
    errors = np.zeros(len(_GAINS))
    ratios = []  # per backtest, each gain's error relative to the freeze's
    tested = 0
    for back in range(2, min(_BACKTESTS + 1, len(ctx) - 1) + 1):
        # frame -back continues to -1 (back - 1 steps) with the motion measured from -back-1 to -back
        measured = _velocity(ctx[-back], ctx[-back - 1], estimator, size)
        if measured is None:
            break
        velocity, _ = measured
        horizon = back - 1
        row = np.zeros(len(_GAINS))
        for i, gain in enumerate(_GAINS):
            if gain == 0:
                pred = grey[-back]
            else:
                pred = fl.remap(grey[-back], _Motion(gain * velocity).backward(float(horizon)))
            row[i] = float(np.mean(np.square(pred - grey[-1])))
        errors += row / horizon
        ratios.append(row / max(row[0], 1e-6))
        tested += 1
    if not tested:
        return 1.0
    best = int(np.argmin(errors))
    if still_camera and best and tested >= 3:
        # a still camera: the motion of what moves in it must beat the freeze consistently across
        # the backtests, not by chance (irregular cadences, a gesture that reverses)
        gains = 1.0 - np.array(ratios)[:, best]
        if gains.mean() < _SIGNIFICANCE * gains.std(ddof=1) / math.sqrt(tested):
            return 0.0
    return float(_GAINS[best])


class _Motion:
    """The motion of the last frame's pixels per frame (small scale), split into a global affine
    part (the camera: extrapolated exactly, as an affine map) and a smooth residual (things moving:
    inverted by fixed-point iteration), with the total travel capped so that fast motion settles
    instead of smearing the picture off the frame."""

    _MAX_SHIFT = 0.15  # cap on extrapolated travel, as a share of the frame diagonal
    _DEAD_ZONE = 0.1  # small pixels per frame: slower motion is held still (full motion from 2x this)

    def __init__(self, velocity: np.ndarray):
        h, w = velocity.shape[:2]
        self.grid = fl.grid(h, w)
        step = max(4, min(h, w) // 32)
        src = self.grid[step // 2::step, step // 2::step].reshape(-1, 2)
        matrix, _ = cv2.estimateAffine2D(src, src + velocity[step // 2::step, step // 2::step].reshape(-1, 2),
                                         method=cv2.RANSAC, ransacReprojThreshold=1.0)
        self.step = np.eye(3) if matrix is None else np.vstack([matrix, [0, 0, 1]])
        camera = self._affine_field(self.step)
        self.residual = velocity - camera
        # motion below the noise floor is no motion: resampling a still picture by a fraction
        # of a pixel only blurs it (a still camera and still parts of the picture stay exact)
        if float(np.abs(camera).max()) < self._DEAD_ZONE:
            self.step = np.eye(3)
            self.residual = velocity
        mag = cv2.magnitude(self.residual[..., 0], self.residual[..., 1])
        self.residual = self.residual * np.clip(mag / self._DEAD_ZONE - 1.0, 0.0, 1.0)[..., None]
        p95 = float(np.percentile(cv2.magnitude(velocity[..., 0], velocity[..., 1]), 95))
        self.max_travel = self._MAX_SHIFT * math.hypot(h, w) / max(p95, 1e-3)

    def _affine_field(self, matrix: np.ndarray) -> np.ndarray:
        """Displacement ``matrix @ x - x`` at every pixel."""
        return (self.grid @ (matrix[:2, :2] - np.eye(2)).T.astype(np.float32)
                + matrix[:2, 2].astype(np.float32))

    def backward(self, travel: float) -> np.ndarray:
        """Backward displacement for the frame ``travel`` frames of motion after the last one."""
        travel = self.max_travel * math.tanh(travel / self.max_travel)  # ~travel at first, then capped
        camera = np.eye(3) + travel * (self.step - np.eye(3))
        back = self._affine_field(np.linalg.inv(camera))  # where the camera move came from, exactly
        disp = back - travel * fl.remap(self.residual, back)
        for _ in range(2):  # x = p + travel * residual(p), solved for p
            disp = back - travel * fl.remap(self.residual, disp)
        return disp


# -- outpainting machinery ------------------------------------------------------------------

def _global_motion(prev: np.ndarray, cur: np.ndarray, estimator: fl.FlowEstimator) -> np.ndarray | None:
    """3x3 similarity transform taking ``prev``'s pixel coordinates to ``cur``'s (small greyscale
    frames), fitted with RANSAC to the dense flow on a grid; None when it does not hold."""
    flow = estimator(prev, cur)
    h, w = prev.shape
    step = max(4, min(h, w) // 24)
    ys, xs = np.mgrid[step // 2:h:step, step // 2:w:step]
    src = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float32)
    dst = src + flow[ys.ravel(), xs.ravel()]
    matrix, inliers = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=1.0)
    if matrix is None or inliers is None or inliers.mean() < 0.3:
        return None
    return np.vstack([matrix, [0, 0, 1]])


# a camera move must explain the change between two frames at least this much better than
# holding still: on the SMPTE pattern the fit found 0.1-0.3 small px "moves" at the encoder's
# key frames, which shifted the border of a still shot (flicker 0.006 where the original's is 0)
_EXPLAINS = 0.97


def _explains(matrix: np.ndarray, prev: np.ndarray, cur: np.ndarray) -> bool:
    """``prev`` moved by ``matrix`` matches ``cur`` clearly better than ``prev`` held still."""
    h, w = prev.shape
    m = max(2, min(h, w) // 20)  # away from the edges, where the warp has nothing to bring in
    moved = cv2.warpPerspective(prev, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    inner = (slice(m, h - m), slice(m, w - m))
    held = float(cv2.absdiff(prev, cur)[inner].mean())
    return float(cv2.absdiff(moved, cur)[inner].mean()) < _EXPLAINS * held


def _push_pull(img: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Fill where ``known`` (0..1 weights) is 0 with a smooth extension of the known pixels: average
    down a pyramid until everything has data, then interpolate back up (a membrane-like fill)."""
    if known.min() >= 1:
        return img
    h, w = known.shape
    premultiplied = img * known[..., None]
    if min(h, w) < 4:
        mean = premultiplied.reshape(-1, 3).sum(0) / max(float(known.sum()), 1e-6)
        return np.broadcast_to(mean, img.shape).astype(np.float32)
    weight = cv2.pyrDown(known)
    colour = cv2.pyrDown(premultiplied) / np.maximum(weight, 1e-6)[..., None]
    coarse = _push_pull(colour, np.minimum(weight * 4, 1.0))  # any known child makes the parent known
    up = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR)
    return premultiplied + up * (1 - known[..., None])


def _translate(x: float, y: float) -> np.ndarray:
    return np.array([[1, 0, x], [0, 1, y], [0, 0, 1]], float)


class _Outpainter:
    """Streams outpainted frames, holding a few upcoming frames to borrow content from.

    A running canvas (colour, coverage, age in frames) follows the camera: each frame it is moved
    by the global motion (a similarity transform estimated on small copies), the new picture is
    pasted in, and upcoming frames (log-spaced up to ``lookahead`` ahead) overwrite the spots
    they saw more recently than the canvas did. What was never seen gets a smooth push-pull fill
    that is blended with the previous frame's (motion-compensated) fill so it does not flicker.
    Only the border strips around the picture are ever warped or composed.
    """

    _FILL_SIDE = 256  # long side of the canvas copy the spatial fill is computed on
    _FILL_MEMORY = 0.8  # share of the previous frame's spatial fill that is kept
    # ...and under a steady camera (no picture corner moving _STEADY_SHIFT small px a frame or
    # more), where what lies beyond the picture changes least: chaplin's pillarboxed film (gate
    # weave, brightness flicker) flickered 0.16 in the border against its bars' 0.09 at 0.8;
    # 0.95 for every shot cost moving ones 0.3 dB
    _FILL_MEMORY_STEADY = 0.95
    _STEADY_SHIFT = 1.0
    # mean change (8-bit levels) of the picture's outer ring below which the edge is not changing
    # (encoder noise): a still test pattern then keeps a bit-exact border
    _EDGE_NOISE = 0.25

    def __init__(self, layout: OutpaintLayout, lookahead: int, flow_quality: str):
        cw, ch = self.canvas = layout.canvas
        iw, ih = self.inner_size = layout.inner
        ox, oy = layout.offset
        self.inner = (slice(oy, oy + ih), slice(ox, ox + iw))
        rects = [(0, 0, cw, oy), (0, oy + ih, cw, ch), (0, oy, ox, oy + ih), (ox + iw, oy, cw, oy + ih)]
        self.strips = [(slice(y0, y1), slice(x0, x1)) for x0, y0, x1, y1 in rects if x1 > x0 and y1 > y0]
        self.small = fl.work_size((ih, iw))
        self.estimator = fl.FlowEstimator(flow_quality)
        self.inner_to_canvas = _translate(ox, oy)
        self.small_to_canvas = self.inner_to_canvas @ np.diag([iw / self.small[0], ih / self.small[1], 1.0])
        self.offsets = [j for j in (1, 2, 4, 8, 16, 32, 64) if j <= lookahead]
        scale = min(1.0, self._FILL_SIDE / max(cw, ch))
        self.fill_size = (max(4, round(cw * scale)), max(4, round(ch * scale)))
        self.fill_scale = np.diag([self.fill_size[0] / cw, self.fill_size[1] / ch, 1.0])
        self.cover_mask = np.full((ih, iw), 255, np.uint8)
        # double-buffered running canvas: float32 RGBA, colour premultiplied by coverage (which
        # runs up to the frames' full scale, like the alpha of cv2's RGB2RGBA), and age in frames;
        # the picture area is pasted in each frame and is always of age 0
        self.layers = [np.zeros((ch, cw, 4), np.float32) for _ in range(2)]
        self.ages = [np.full((ch, cw), np.inf, np.float32) for _ in range(2)]
        for age in self.ages:
            age[self.inner] = 0
        self.warped: np.ndarray | None = None  # scratch for upcoming frames, in their dtype
        self.covered = np.zeros((ch, cw), np.uint8)
        self.prev_small: np.ndarray | None = None

    def _warp_strips(self, src: np.ndarray, matrix: np.ndarray, dst: np.ndarray,
                     flags: int = cv2.INTER_LINEAR, fill: float = 0.0) -> None:
        """``dst = src`` moved by ``matrix`` (src -> canvas coordinates), on the border strips only."""
        for ys, xs in self.strips:
            cv2.warpPerspective(src, _translate(-xs.start, -ys.start) @ matrix,
                                (xs.stop - xs.start, ys.stop - ys.start), dst=dst[ys, xs], flags=flags,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=(fill,) * 4)

    def _motion(self, prev_small: np.ndarray, cur_small: np.ndarray) -> tuple[np.ndarray | None, bool]:
        """prev -> cur transform in canvas coordinates (None across a cut: nothing carries over),
        and whether the camera measurably held steady."""
        if _hist_distance(prev_small, cur_small) > _MAX_HIST_DISTANCE:
            return None, False
        gray = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in (prev_small, cur_small)]
        m = _global_motion(gray[0], gray[1], self.estimator)
        if m is None:
            return np.eye(3), False  # too little structure to tell: assume a still camera
        h, w = gray[0].shape
        corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], float).T
        shift = np.abs((m - np.eye(3)) @ corners).max()
        steady = shift < self._STEADY_SHIFT
        if shift < _Motion._DEAD_ZONE or not _explains(m, *gray):
            return np.eye(3), steady  # sub-pixel jitter of the estimate, not a camera move: hold still
        return self.small_to_canvas @ m @ np.linalg.inv(self.small_to_canvas), steady

    def run(self, frames: Iterable[np.ndarray], job: EngineJob, total: int | None) -> Iterator[np.ndarray]:
        source = iter(frames)
        horizon = self.offsets[-1] if self.offsets else 0
        # buffered frames: (frame, small RGB copy, canvas transform from the previous frame)
        buf: deque[tuple[np.ndarray, np.ndarray, np.ndarray | None]] = deque()
        fill_prev: np.ndarray | None = None  # last frame's spatial fill, moved with the camera
        dtype = None
        index = 0
        exhausted = False
        while True:
            job.check_cancel()
            while not exhausted and len(buf) <= horizon:
                frame = next(source, None)
                if frame is None:
                    exhausted = True
                    break
                dtype = dtype or frame.dtype
                self._validate(frame, dtype)
                small = fl.small_rgb(frame, self.small)
                buf.append((frame, small, *(self._motion(buf[-1][1], small) if buf else (None, False))))
            if not buf:
                return
            frame, _, motion, steady = buf[0]
            layer, age = self._advance(motion)
            if motion is None or fill_prev is None:
                fill_prev = None
            else:
                small_motion = self.fill_scale @ motion @ np.linalg.inv(self.fill_scale)
                fill_prev = cv2.warpPerspective(fill_prev, small_motion, self.fill_size,
                                                borderMode=cv2.BORDER_REPLICATE)
            np.copyto(layer[self.inner], cv2.cvtColor(frame, cv2.COLOR_RGB2RGBA), casting="unsafe")
            self._borrow_upcoming(buf, layer, age)
            memory = self._FILL_MEMORY_STEADY if steady else self._FILL_MEMORY
            out, fill_prev = self._compose(layer, fill_prev, frame, self._edge_change(buf[0][1]), memory)
            yield out
            buf.popleft()
            index += 1
            if total:
                job.progress(index / total, "outpainting")

    def _validate(self, frame: np.ndarray, dtype: np.dtype) -> None:
        iw, ih = self.inner_size
        if frame.shape != (ih, iw, 3) or frame.dtype != dtype or dtype not in (np.uint8, np.uint16):
            raise ValueError(f"outpaint: frames must be ({ih}, {iw}, 3) uint8/uint16 like the first, "
                             f"got {frame.shape} {frame.dtype}")

    def _advance(self, motion: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Move the running canvas with the camera into the other buffer (or clear it after a cut).
        Colour stays premultiplied by coverage, so edges that resampling blends with the unseen
        outside remain correct once divided by it."""
        self.layers.reverse()
        self.ages.reverse()
        layer, age = self.layers[0], self.ages[0]
        if motion is None:
            for ys, xs in self.strips:
                layer[ys, xs] = 0
                age[ys, xs] = np.inf
            return layer, age
        self._warp_strips(self.layers[1], motion, layer)
        self._warp_strips(self.ages[1], motion, age, cv2.INTER_NEAREST, np.inf)
        for ys, xs in self.strips:
            age[ys, xs] += 1
        return layer, age

    def _borrow_upcoming(self, buf: deque, layer: np.ndarray, age: np.ndarray) -> None:
        """Write upcoming frames onto the canvas where they saw a spot more recently than it has."""
        chain = np.eye(3)  # canvas coordinates of frame j -> of the current frame
        placed: list[tuple[int, np.ndarray]] = []
        for j in range(1, len(buf)):
            motion = buf[j][2]
            if motion is None:
                break  # a cut: later frames belong to another shot
            chain = chain @ np.linalg.inv(motion)
            if j in self.offsets:
                placed.append((j, chain @ self.inner_to_canvas))
        for j, matrix in placed:  # nearest first: a later (farther) frame only fills older spots
            frame = buf[j][0]
            if self.warped is None or self.warped.dtype != frame.dtype:
                self.warped = np.zeros((self.canvas[1], self.canvas[0], 3), frame.dtype)
            self._warp_strips(frame, matrix, self.warped)
            self._warp_strips(self.cover_mask, matrix, self.covered)
            top = np.iinfo(frame.dtype).max
            for ys, xs in self.strips:
                better = (self.covered[ys, xs] == 255) & (age[ys, xs] > j)
                part = layer[ys, xs]
                part[..., :3][better] = self.warped[ys, xs][better]
                part[..., 3][better] = top
                age[ys, xs][better] = j

    def _edge_change(self, small: np.ndarray) -> float:
        """Mean absolute change (0..1) since the previous frame of the picture's outer ring (small
        8-bit copy): how much the border next to it may change without flickering more than the
        footage does."""
        ring = np.ones(small.shape[:2], bool)
        ring[2:-2, 2:-2] = False
        prev, self.prev_small = self.prev_small, small
        if prev is None or prev.shape != small.shape:
            return 1.0
        change = float(np.abs(small[ring].astype(np.float32) - prev[ring]).mean())
        return 0.0 if change < self._EDGE_NOISE else change / 255.0

    def _compose(self, layer: np.ndarray, fill_prev: np.ndarray | None, frame: np.ndarray,
                 edge_change: float, memory: float) -> tuple[np.ndarray, np.ndarray]:
        """The output frame: seen colour, else the spatial fill; the picture itself bit-exact.
        The fill follows the new frame's at most ``1 - memory`` a frame, and no faster than the
        picture's own edge changes (a still shot gets a still border)."""
        top = float(np.iinfo(frame.dtype).max)
        small = cv2.resize(layer, self.fill_size, interpolation=cv2.INTER_AREA)
        fill = _push_pull(small[..., :3] * (top / np.maximum(small[..., 3:], 1e-3)),
                          (small[..., 3] > 0.99 * top).astype(np.float32))
        if fill_prev is not None:
            step = float(np.abs(fill - fill_prev).mean()) / top
            share = min(1 - memory, edge_change / max(step, 1e-6))
            fill = (1 - share) * fill_prev + share * fill
        out = np.empty((self.canvas[1], self.canvas[0], 3), frame.dtype)
        depth = cv2.CV_8U if frame.dtype == np.uint8 else cv2.CV_16U
        up = np.linalg.inv(self.fill_scale)
        for ys, xs in self.strips:
            size = (xs.stop - xs.start, ys.stop - ys.start)
            # the small fill upsampled straight into the strip (sampled as cv2.resize would)
            centre = _translate(0.5 * up[0, 0] - 0.5 - xs.start, 0.5 * up[1, 1] - 0.5 - ys.start) @ up
            colour = cv2.warpAffine(fill, centre[:2], size, flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_REPLICATE)
            part = layer[ys, xs]
            cover = cv2.extractChannel(part, 3)
            seen = cv2.divide(cv2.cvtColor(part, cv2.COLOR_RGBA2RGB), cv2.merge([cover] * 3), scale=top)
            cv2.copyTo(seen, cv2.compare(cover, top / 2, cv2.CMP_GT), colour)
            cv2.multiply(colour, 1.0, dst=out[ys, xs], dtype=depth)  # rounds and saturates
        out[self.inner] = frame
        return out, fill


def build_engine(**options) -> ClassicalEngine:
    """Build the engine; options it does not know (meant for other engines) are ignored."""
    known = {"flow_quality", "max_flow_gap", "extend_half_life", "outpaint_lookahead"}
    return ClassicalEngine(**{k: v for k, v in options.items() if k in known})
