"""The frame interpolator: pictures between two frames of a shot, from one pair of flow fields.

Shared by the classical engine's gap fill and the diffusers engine's retiming. The motion through
each pixel at time t is chosen among candidates by how well the two ends agree once warped along
it (as MEMC does), optionally bent by how the shot moves just beyond each end
(:class:`MotionCurve`: speeding up, slowing down), with an occlusion-aware blend, where each pixel
falls back towards a cross-dissolve when motion does not explain the two ends (changing graphics,
flashes), and structure that the flow carried to where neither end shows any gives way to a
low-pass copy of the made frame (:mod:`.stray`). Only OpenCV's remap, resize, blur and blend ever
touch the full-depth frames, so uint16 stays uint16.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

from server.engines import cadence
from server.engines import flow as fl
from server.engines.classical import scene, stray
from server.engines.classical.guided import guided_filter
from server.engines.classical.scene import PairFlow

FB_SLACK = 0.0  # forward-backward error (small pixels) still counted as fully consistent


def blend(a: np.ndarray, b: np.ndarray, wa: np.ndarray, wb: np.ndarray | None = None) -> np.ndarray:
    """``a * wa + b * wb`` per pixel (``wb`` defaults to ``1 - wa``), in the frames' dtype."""
    if wb is None:
        wb = 1.0 - wa
    if a.dtype == np.uint8:
        return cv2.blendLinear(a, b, wa, wb)
    out = cv2.blendLinear(a.astype(np.float32), b.astype(np.float32), wa, wb)
    return cv2.multiply(out, 1.0, dtype=cv2.CV_16U)  # rounds and saturates


class MotionCurve:
    """The path of each pixel through a gap, bent by how the shot moves just outside it.

    Two end frames only show where a pixel starts and ends, so interpolation moves it at an even
    pace on a straight line. Real motion speeds up, slows down and turns (handheld cameras, things
    thrown, cars braking); the context frame beyond each end shows how fast each pixel arrives at
    ``a`` and leaves ``b``. The cubic through the pixel's positions one frame before ``a``, at ``a``,
    at ``b`` and one frame after ``b`` (the Lagrange form) gives its position at each time in
    between; :meth:`bend` is that position's offset from the straight line. It is the bidirectional
    form of quadratic video interpolation (Xu et al., NeurIPS 2019).

    Nothing bends unless both ends show motion: not when an end's neighbour repeats it (a repeat
    shows no motion), nor when flow does not explain the change to a neighbour, or explains one
    far worse than the other (a cut, a flash). A pixel that its end's flow does not match well
    (occlusion, noise) bends by less."""

    _CONFIDENCE_LEVEL = 16.0  # local flow error (8-bit levels) at which an end's pixel counts ~37 %
    # one frame's motion at each end says little about the middle of a long gap, where the cubic's
    # weights grow to ~0.9 (7-frame gaps); 1- and 3-frame gaps (weights <= 1/6 and 0.4) are under it
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
        """Both ends' motion (:meth:`_end_motion`), or None. Both or neither: a cut or a change of
        graphics beyond one end puts the other's measure in doubt too."""
        arriving = cls._end_motion(a, small_a, before_a, estimator, -1.0)
        leaving = cls._end_motion(b, small_b, after_b, estimator, 1.0) if arriving else None
        if leaving is None:
            return None
        (arriving, arriving_error), (leaving, leaving_error) = arriving, leaving
        # flow between neighbouring frames of one shot leaves about the same error at both ends;
        # a cut or a flash beyond one end leaves far more
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
        err, residual_ratio = scene.flow_error(here, there, flow)
        if residual_ratio >= scene.MAX_RESIDUAL_RATIO:
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
        where the gap's own flow fails, as with fast motion); none when the ends show no motion."""
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
    scaled down to nothing and the blend weights return to (1 - t, t). Where the made frame then
    shows structure that neither end vouches for at a spot both ends show flat (the flow carried
    it there), it gives way to a low-pass copy of itself (:mod:`.stray`)."""

    _ABS = 16.0
    # confidence each end's sample keeps however badly its round trip fails: where neither end's
    # holds (fast motion, blur), the blend keeps time's weights (1 - t, t) rather than an even mix,
    # which jumped from ``a`` to half of each at the first made frame and back at the last
    _CONF_FLOOR = 0.1
    _SIGMA = 2.0  # smoothing (small pixels) of the per-pixel agreement measures

    def __init__(self, a: np.ndarray, b: np.ndarray, pair: PairFlow, curve: MotionCurve | None = None,
                 span: int = 1):
        """``curve``: how the motion bends through the gap (None: a straight line at an even pace);
        ``span``: frames from ``a`` to ``b`` (the gap plus one), which sets how fast things move."""
        self.a, self.b, self.pair, self.curve, self.span = a, b, pair, curve, span
        self.f01, self.f10 = cv2.split(pair.fwd), cv2.split(pair.bwd)  # as planes (see flow.remap_planes)
        self.full = (a.shape[1], a.shape[0])
        # confidence of each end's pixels: low where the round trip fails (occluded in the other end)
        self.conf_a = np.exp(-np.square(np.maximum(pair.err_a - FB_SLACK, 0)))
        self.conf_b = np.exp(-np.square(np.maximum(pair.err_b - FB_SLACK, 0)))
        self.ga, self.gb = pair.ga.astype(np.float32), pair.gb.astype(np.float32)
        self.zero_err = cv2.GaussianBlur(cv2.absdiff(self.ga, self.gb), (0, 0), self._SIGMA)
        # how far the flow can be trusted around each pixel, by its own forward-backward check:
        # low where neither end's pixels survive the round trip (not an occlusion, which one end
        # still sees, but flow that found nothing sound: blur, noise, motion too fast for it)
        seen = cv2.GaussianBlur(np.maximum(self.conf_a, self.conf_b), (0, 0), self._RELIABLE_SIGMA)
        lo, hi = self._RELIABLE_LEVELS
        self.reliable = np.clip((seen - lo) / (hi - lo), 0.0, 1.0)
        self._unsound = 1.0 - self.reliable  # where the flow found nothing sound (stray's measures)
        # how much worse than the chosen motion a smooth one may match and still replace it:
        # little where the flow is reliable, much more where it is not (see _smooth_choice)
        (rel_sure, abs_sure), (rel_unsure, abs_unsure) = self._SMOOTH_SLACK
        self._slack_rel = np.float32(1.0 + rel_unsure) + np.float32(rel_sure - rel_unsure) * self.reliable
        self._slack_abs = np.float32(abs_unsure) + np.float32(abs_sure - abs_unsure) * self.reliable
        self._flat: np.ndarray | None = None  # how flat both ends are (stray.flat_ends), made once
        self._same: np.ndarray | None = None  # full-size mask where a and b are identical (_keep_still)
        self.a4: np.ndarray | None = None
        self.b4: np.ndarray | None = None
        self._token = object()

    # symmetric motion search at time t: candidate a->b motions per pixel, scored by how well the
    # two ends agree once warped along them (the block-matching criterion of MEMC, which needs no
    # ground truth)
    _MATCH_SIGMA = 1.5  # smoothing (small pixels) of the matching cost: a soft block of ~4 px
    _SHIFTS = (4,)  # neighbours' motions tried (small pixels each way)
    _RELIABLE_SIGMA = 4.0  # small pixels over which the forward-backward confidence is pooled
    _RELIABLE_LEVELS = (0.05, 0.3)  # pooled confidence from unreliable (0) to reliable (1)
    # the smooth field replaces the chosen motion where it matches within (relative, absolute
    # levels) of it: (where the flow is reliable, where it is not)
    _SMOOTH_SLACK = ((0.5, 1.0), (2.0, 4.0))
    _SMOOTH_SIGMA = 4.0  # small pixels over which the chosen motions are averaged
    _SMOOTH_LEVEL = 4.0  # matching cost (levels) at which a motion counts ~37 % in that average
    _SMOOTH_PASSES = 1  # a second pass changes little for twice the cost (bench/RESULTS.md)

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
        PatchMatch-style propagation step). The first candidate wins ties. The choice is then made
        smooth where matching cannot tell the candidates apart (:meth:`_smooth_choice`)."""
        f01, f10 = self.pair.fwd, self.pair.bwd
        ft0 = (-(1 - t) * t) * f01 + (t * t) * f10
        ft1 = ((1 - t) ** 2) * f01 + (-t * (1 - t)) * f10
        best = ft1 - ft0
        cost = self._match_cost(best, t)
        p0, p1 = cv2.split(ft0), cv2.split(ft1)
        for _ in range(2):  # x = p + t f01(p) and x = q + (1 - t) f10(q), solved for p and q
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
        return self._smooth_choice(best, t)

    def _smooth_choice(self, best: np.ndarray, t: float) -> np.ndarray:
        """The chosen motion made spatially smooth wherever that costs little in matching.

        Chosen pixel by pixel, the motion flips between candidates wherever the matching cost
        cannot tell them apart (flat or blurred areas, grain, flow that failed), and the made
        frame tears along those flips: map-like patches with thin outlines, different in each
        made frame, so they flicker. The chosen motions averaged around each pixel, each weighed
        by how well it matches (edge-aware: a good match on one side of a motion boundary
        outweighs a poor one across it), replace the choice where they match nearly as well;
        where the flow's own forward-backward check fails, nearly as well is a wider margin.
        Both are scored as whole fields (the search scored each candidate as a block of its own;
        the chosen field's cost also counts its flips). ``best`` is updated in place."""
        cost = self._match_cost(best, t)
        # a kernel reaching 2 sigma each way (as _match_cost's), over the weighted motion and the
        # weight as one 3-channel image (OpenCV blurs 3 channels in one vectorised pass)
        kernel = (4 * round(self._SMOOTH_SIGMA) + 1,) * 2
        for _ in range(self._SMOOTH_PASSES):
            weight = cv2.exp(cost * np.float32(-1.0 / self._SMOOTH_LEVEL))
            dx, dy = cv2.split(best)
            pooled = cv2.GaussianBlur(cv2.merge([dx * weight, dy * weight, weight]), kernel, self._SMOOTH_SIGMA)
            px, py, total = cv2.split(pooled)
            total += np.float32(1e-6)
            smooth = cv2.merge([px / total, py / total])
            c = self._match_cost(smooth, t)
            take = cv2.compare(c, self._slack_rel * cost + self._slack_abs, cv2.CMP_LE)
            cv2.copyTo(c, take, cost)
            cv2.copyTo(smooth, take, best)
        return best

    def _keep_better(self, best: np.ndarray, cost: np.ndarray, v: np.ndarray, t: float) -> None:
        c = self._match_cost(v, t)
        better = cv2.compare(c, cost, cv2.CMP_LT)
        cv2.copyTo(c, better, cost)  # in place (cv2 masks are ~10x faster than np.copyto's where)
        cv2.copyTo(v, better, best)

    def weights(self, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Small flows from time t back to each end, and the weight of ``a`` per small pixel."""
        return self._weights(t, strays=False)[:3]

    def _weights(self, t: float, strays: bool = True) -> tuple[
            np.ndarray, np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None,
            np.ndarray | None]:
        """:meth:`weights`, and (``strays``) how much each small pixel of the made frame is stray
        structure, to give way to a low-pass copy (:func:`stray.stray`) and further to a wider one
        (:func:`stray.fast`), how surely nothing vouches for its place (:func:`stray.lasting`'s
        ``lost``), and the ends' small grey dissolve at ``t`` (which guides those low-pass copies:
        :func:`_soften`); and how surely it stands still (:func:`stray.still`); else None, None."""
        v = self.motion_at(t)
        ft0, ft1 = -t * v, (1 - t) * v
        bend = self.curve.bend(v, ft0, ft1, t) if self.curve is not None else None
        if bend is not None:
            ft0 -= bend
            ft1 -= bend
        # an end whose sample lies outside its frame (picture moving in across the border) gets
        # only the floor's weight: the other end saw that spot
        ca = fl.remap(self.conf_a, ft0, cv2.BORDER_CONSTANT)
        cb = fl.remap(self.conf_b, ft1, cv2.BORDER_CONSTANT)
        wa = (1 - t) * (ca + self._CONF_FLOOR)
        wb = t * (cb + self._CONF_FLOOR)
        weight_a = wa / (wa + wb)
        # where both ends see the spot, warping must make them agree better than not warping
        from_a, from_b = fl.remap(self.ga, ft0), fl.remap(self.gb, ft1)
        flow_err = cv2.GaussianBlur(cv2.absdiff(from_a, from_b) * np.minimum(ca, cb), (0, 0), self._SIGMA)
        trust = np.clip(2.0 - 2.0 * flow_err / (self.zero_err + 1.0), 0.0, 1.0)
        trust *= np.clip(2.0 - flow_err / (0.5 * self._ABS), 0.0, 1.0)
        strayed = kept = None
        if strays:
            # the made frame's small grey copy: the warped samples where the flow is trusted, the
            # dissolve where it is not (as the flows are scaled below, to first order)
            dissolve = cv2.addWeighted(self.ga, 1.0 - t, self.gb, t, 0.0)
            made = trust * (weight_a * from_a + (1.0 - weight_a) * from_b) + (1.0 - trust) * dissolve
            if self._flat is None:  # (checked closer to real edges where the flow found nothing sound)
                self._flat = stray.flat_ends(self.ga, self.gb, self.full[0], lost=self._unsound)
            kept = stray.still(self.ga, self.gb, made, dissolve)
            disagree = stray.disagreement(from_a, from_b)
            first = stray.stray(self._flat, made, disagree, ca, cb, kept)
            # where the flow found nothing sound and the chosen motion is not borne out either
            lost = self._unsound * disagree
            strayed = first, stray.fast(first, v, self.span), lost, dissolve
        ft0 *= trust[..., None]
        ft1 *= trust[..., None]
        weight_a = trust * weight_a + (1.0 - trust) * (1.0 - t)
        return ft0, ft1, weight_a, strayed, kept

    def small_at(self, t: float) -> np.ndarray:
        """The frame at time t for a check that remakes real frames from small copies (this
        interpolator's ends, at its flow's size): :meth:`at`'s warp and blend, without its full-size buffers (which
        stay the gap's own) and without the stray softening."""
        ft0, ft1, weight_a = self.weights(t)
        return blend(fl.remap(self.a, ft0), fl.remap(self.b, ft1), weight_a)

    def at(self, t: float) -> np.ndarray:
        ft0, ft1, weight_a, strays, kept = self._weights(t)
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
        small_width = weight_a.shape[1]
        first, fast, lost, guide = strays
        made = _soften(blend(*warped, *weights), first, stray.BLUR, guide)
        made = _soften(made, fast, stray.FAST_BLUR * small_width, guide)
        softened = cv2.max(first, fast)
        lasting = self._lasting(made, fast, lost)
        if lasting is not None:
            def dissolve(rows: slice, cols: slice) -> np.ndarray:  # only where the bands need it
                return cv2.addWeighted(self.a[rows, cols], 1.0 - t, self.b[rows, cols], t, 0.0)
            made = _soften(made, lasting, stray.LASTING_BLUR * small_width, guide,
                           (dissolve, stray.LASTING_DISSOLVE))
            softened = cv2.max(softened, lasting)
        return self._keep_still(made, kept, softened)

    def _lasting(self, made: np.ndarray, fast: np.ndarray, lost: np.ndarray) -> np.ndarray | None:
        """Where ``made`` (full size, softened) should give way further, to a wider low-pass
        mixed with the ends' dissolve: around fast stray structure (``fast``: :func:`stray.fast`)
        that outlasted both softenings where nothing vouches for its place (``lost``:
        :func:`stray.lasting`); None where there is none. Measured on a small copy of the frame
        only where there is fast stray structure at all."""
        if float(fast.max()) <= stray.LEAST:
            return None
        size = (fast.shape[1], fast.shape[0])
        grey = cv2.cvtColor(fl.small_rgb(made, size), cv2.COLOR_RGB2GRAY).astype(np.float32)
        mask = stray.lasting(fast, lost, grey, self.full[0])
        return mask if float(mask.max()) > stray.LEAST else None

    _KEEP_STILL = 0.5  # stray.still from which a pixel the two ends show identically is kept as is

    def _keep_still(self, frame: np.ndarray, kept: np.ndarray, softened: np.ndarray) -> np.ndarray:
        """``frame`` (full size) with ``a``'s pixels, in place, wherever ``a`` and ``b`` are identical
        pixel for pixel and the made frame's small copy stands still there too (a still chart, a
        title, letterbox bars, an animation's backdrop): the right picture there is theirs,
        exactly. Warping shifts such a picture by the flow's sub-pixel residue near moving things
        and bar edges, which leaves faint lines that flicker from one made frame to the next.
        Where something moves across such pixels between the ends, the made frame departs from
        them and keeps its own; so it does where it gave way to a low-pass (``softened``, small:
        the stray measures), as the exact pixels put back there (a clipped white sky beside the
        softened picture) would cut a hard edge into it."""
        if self._same is None:
            self._same = self._identical_areas()
        if self._same.size == 0:
            return frame
        # the small mask made full size as bytes (a float map's resize costs ~10x more)
        still = cv2.bitwise_and(cv2.compare(kept, self._KEEP_STILL, cv2.CMP_GE),
                                cv2.compare(softened, stray.LEAST, cv2.CMP_LE))
        still = cv2.resize(still, self.full, interpolation=cv2.INTER_NEAREST)
        keep = cv2.bitwise_and(self._same, still)
        return cv2.copyTo(self.a, keep, frame)

    def _identical_areas(self) -> np.ndarray:
        """Full-size mask of the areas ``a`` and ``b`` show identically in every channel, or an
        empty array where there are none. Looked for on the ends' small grey copies first: a
        full-size area of identical pixels makes one there (what is identical stays so when made
        small), so a shot without (any moving or grainy one) costs no full-size comparison."""
        if cv2.countNonZero(_areas(cv2.compare(self.ga, self.gb, cv2.CMP_EQ))) == 0:
            return np.zeros((0, 0), np.uint8)
        same = _areas(cv2.inRange(cv2.absdiff(self.a, self.b), (0,) * 3, (0,) * 3))
        return same if cv2.countNonZero(same) else np.zeros((0, 0), np.uint8)


def _areas(mask: np.ndarray) -> np.ndarray:
    """Only the areas of an 8-bit mask (a 3x3 opening): grain leaves scattered pixels equal by
    chance, and an end's grain pasted there into the smoother blend shows as specks."""
    return cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))


def _soften(frame: np.ndarray, mask: np.ndarray, sigma: float, guide: np.ndarray,
            mixed_with: tuple[Callable[[slice, slice], np.ndarray], float] | None = None) -> np.ndarray:
    """``frame`` (full size) given way to its low-pass copy by ``mask`` (small, 0..1), in place
    and returned. The low-pass copy is a guided filter (:mod:`.guided`) of ``sigma`` small pixels'
    reach, guided by ``guide`` (the ends' dissolve, small and grey): locally a linear function of
    the guide, it keeps structure sharp where an end shows it there and is a plain mean where the
    ends are flat. A plain low-pass of the whole area spreads even the strong edges that stand
    where the ends show them into the flat pockets beside them (a treeline into the sky between
    the treetops), which the real frame does not have either. ``mixed_with``: (a
    full-size picture's region by rows and columns, its share), mixed into the low-pass copy
    before the frame gives way to it (made only for the bands blended). Only bands of rows with
    mask pixels over :data:`stray.LEAST`, each as wide as those pixels reach, are blended at full
    size (a full-size blend costs about as much as the interpolation's own); the low-pass copy
    is made once, at the small size, for all of them."""
    hot = cv2.compare(mask, stray.LEAST, cv2.CMP_GT)
    x, y, w, h = cv2.boundingRect(hot)
    if w == 0:
        return frame
    sh, sw = mask.shape
    fh, fw = frame.shape[:2]
    sx, sy = fw / sw, fh / sh
    pad = int(np.ceil(3 * sigma))  # the low-pass reaches this far (small pixels)
    x0, y0, x1, y1 = max(0, x - pad), max(0, y - pad), min(sw, x + w + pad), min(sh, y + h + pad)
    box = frame[round(y0 * sy):round(y1 * sy), round(x0 * sx):round(x1 * sx)]
    size = (x1 - x0, y1 - y0)
    if box.shape[1] > 4 * size[0] and box.shape[0] > 4 * size[1]:  # as flow.small_rgb: two cheap steps
        box = cv2.resize(box, (2 * size[0], 2 * size[1]), interpolation=cv2.INTER_LINEAR)
    low = guided_filter(cv2.resize(box, size, interpolation=cv2.INTER_AREA), guide[y0:y1, x0:x1],
                        max(1, round(_GUIDED_REACH * sigma)), _GUIDED_EPS)
    for top in range(y, y + h, _BAND):
        bottom = min(y + h, top + _BAND)
        cols = np.flatnonzero(hot[top:bottom].any(axis=0))
        if cols.size == 0:
            continue
        left, right = int(cols[0]), int(cols[-1]) + 1
        X0, X1, Y0, Y1 = round(left * sx), round(right * sx), round(top * sy), round(bottom * sy)
        # the band at full size (rounded: the low-pass and the soft mask hide a sub-pixel shift)
        full = (X1 - X0, Y1 - Y0)
        weight = np.ascontiguousarray(mask[top:bottom, left:right])
        band = frame[Y0:Y1, X0:X1]
        toward = cv2.resize(np.ascontiguousarray(low[top - y0:bottom - y0, left - x0:right - x0]), full,
                            interpolation=cv2.INTER_LINEAR)
        if mixed_with is not None:
            picture, share = mixed_with
            toward = cv2.addWeighted(toward, 1.0 - share, picture(slice(Y0, Y1), slice(X0, X1)), share, 0.0)
        frame[Y0:Y1, X0:X1] = blend(
            toward, np.ascontiguousarray(band), cv2.resize(weight, full, interpolation=cv2.INTER_LINEAR),
            cv2.resize(1.0 - weight, full, interpolation=cv2.INTER_LINEAR))
    return frame


_BAND = 8  # small rows in each band that :func:`_soften` blends as one rectangle
_GUIDED_REACH = 1.25  # the guided filter's box radius, in sigmas of the low-pass it stands for
# the guide's variance (8-bit levels²) under which a box counts as flat and the filter as a mean:
# grain and faint shading do not guide, an end's real edge does
_GUIDED_EPS = 25.0
