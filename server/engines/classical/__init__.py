"""The classical engine: optical flow and image warping on the CPU, no model weights.

- gap fill: the frame interpolator (:mod:`.interpolate`), each pixel's path bent by how the shot
  moves just beyond each end where remade context frames show that this helps (:mod:`.selfcheck`);
  motion beyond the flow's reach searched again from the camera's move and with the finer flow;
  the whole gap dissolves across a cut or when it is too long for one flow; footage that repeats
  frames in a cadence (animation on twos, film on video) has its made frames timed by picture,
  repeats exact, or moved along the camera's path where a hand's shake moves the footage's own
  repeats (:mod:`server.engines.cadence`);
- extension: the last motion continued, as much of it as predicted the shot's own past
  (:mod:`.extrapolate`);
- outpaint: a background from past and upcoming frames aligned by global motion, a smooth fill
  where the camera never showed anything (:mod:`.outpaint`);
- generate: an honest placeholder slate (see :mod:`server.engines.slate`).

Flow is computed on a small 8-bit greyscale copy; only ``cv2.remap``/``cv2.warpAffine`` ever
touch the full-depth frames, so uint16 input stays uint16 with its precision.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence, Sized
from fractions import Fraction

import cv2
import numpy as np

from server.engines import cadence
from server.engines import flow as fl
from server.engines.base import Availability, Engine, EngineJob, InpaintShot, OutpaintLayout
from server.engines.classical import blocks, selfcheck
from server.engines.classical.extrapolate import Extension
from server.engines.classical.interpolate import Interpolator, MotionCurve
from server.engines.classical.outpaint import Outpainter
from server.engines.classical.scene import DEAD_ZONE, MAX_INCONSISTENT, PairFlow
from server.engines.slate import slates

# small pixels a frame under which motion is slow: fractions of the coarse flow's pixel, which
# the finer flow resolves (faster motion it reaches no better; see flow.INTERP_SLOW_SIDE)
SLOW_PACE = 0.5

# the diffusers engine's retiming imports the interpolator and its flow measure from here
__all__ = ["ClassicalEngine", "Interpolator", "MotionCurve", "PairFlow", "build_engine"]


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
        # None: no cadence, even timing. Handheld footage of a cadence: its repeats are each moved
        # by the hand's shake, and a missing repeat shows its picture where the camera's path is
        # at that frame
        times, shaken = cadence.gap_timing(before, after, frames)
        path = _camera_path(a, b) if shaken else None
        followed = times is not None
        if times is None:
            times = [Fraction(i + 1, frames + 1) for i in range(frames)]
        interp = searched = None
        between = any(0 < t < 1 for t in times)
        if between and frames <= self.max_flow_gap:
            size = fl.interp_size(a.shape)
            small_a, small_b = fl.small_rgb(a, size), fl.small_rgb(b, size)
            pair = self._gap_flow(small_a, small_b)
            finer = fl.interp_size(a.shape, slow=not pair.is_cut and _slow(pair, frames))
            if finer != size:
                size = finer
                small_a, small_b = fl.small_rgb(a, size), fl.small_rgb(b, size)
                pair = self._gap_flow(small_a, small_b)
            # (a cadence's timing has its own frames to follow: its gaps keep the flow's way)
            searched = None if followed else self._searched_pair(before, after, frames, pair,
                                                                 small_a, small_b, size)
            if searched is not None or not pair.is_cut:
                # the context frame beyond each end shows how the motion bends through the gap (a
                # cadence's repeats show no such thing: its pictures are timed instead)
                curve = None
                if not followed and len(before) >= 2 and len(after) >= 2:
                    curve = MotionCurve(before[-2], a, b, after[1], small_a, small_b, frames + 1,
                                        self.flow_quality)
                # whether this shot's path bends as the motion beyond the ends says (a hand's shake
                # and a film cadence do not): remade context frames tell (the block search's
                # check remade them with the curve already)
                if (searched is None and curve is not None and curve.bends
                        and selfcheck.curve_wins(before, after, frames, self.flow_quality, size) is False):
                    curve = None
                interp = Interpolator(a, b, pair if searched is None else searched, curve, frames + 1)
        stage = None
        for i, t in enumerate(times):
            job.check_cancel()
            if t in (0, 1):
                end = a if t == 0 else b
                if path is None:
                    yield end.copy()
                else:
                    yield _moved(end, path * float(Fraction(i + 1, frames + 1) - t))
            else:
                yield interp.at(float(t)) if interp else _dissolve(a, b, float(t))
            # named after the first frame, when whether the motion's curve bends is known
            stage = stage or self._gap_stage(between, interp, followed, searched is not None)
            job.progress((i + 1) / frames, stage)

    def _gap_flow(self, small_a: np.ndarray, small_b: np.ndarray) -> PairFlow:
        """The flow across a gap between the ends' small copies. Motion beyond the flow's reach
        fails its round trip as a cut does: a pair whose flow fails it on too many pixels
        (:data:`scene.MAX_INCONSISTENT`) is measured again, from the camera's move and with the
        finer, wider search of the "high" flow, and of those that are no cut the one that passes
        the round trip on the most pixels is kept. Ends whose colours say a cut are measured from
        the camera's move too: a camera move found between them says one shot (costly, so only
        where the plain flow fails or the colours differ)."""
        estimator = fl.FlowEstimator(self.flow_quality)
        pair = PairFlow.between(small_a, small_b, estimator)
        # (flow that explains too little is not too slow)
        if pair.inconsistent < MAX_INCONSISTENT and not pair.cut_by_colours:
            return pair
        again = [PairFlow.aligned(small_a, small_b, estimator)]
        if self.flow_quality != "high" and not pair.cut_by_colours:  # (its colours would say a cut again)
            again.append(PairFlow.between(small_a, small_b, fl.FlowEstimator("high")))
        for other in again:
            if other is not None and not other.is_cut and (pair.is_cut or other.inconsistent < pair.inconsistent):
                pair = other
        return pair

    def _searched_pair(self, before: Sequence[np.ndarray], after: Sequence[np.ndarray], frames: int,
                       pair: PairFlow, small_a: np.ndarray, small_b: np.ndarray,
                       size: tuple[int, int]) -> PairFlow | None:
        """The motion of a wide block search (:mod:`.blocks`) where the flow failed its round trip
        on most pixels and the ends are no cut by colours (:attr:`PairFlow.cut_by_colours`),
        if the shot's held-back context frames are remade better with it than the way the
        flow's measure leads to (its frames, or the dissolve across what it takes for a cut);
        else None. Costly, so only where the flow failed."""
        if pair.inconsistent < MAX_INCONSISTENT or pair.cut_by_colours:
            return None
        searched = blocks.block_pair(small_a, small_b, pair.camera_move_found)
        if blocks.blocks_win(before, after, frames, searched, size, self.flow_quality,
                             None if pair.is_cut else self._gap_flow):
            return searched
        return None

    @staticmethod
    def _gap_stage(between: bool, interp: Interpolator | None, followed: bool, searched: bool) -> str:
        """What made a gap's frames, in the words the job's progress shows."""
        if not between:
            return "repeating the end frames (the footage's repeated-frame cadence)"
        if interp is None:
            return "cross-dissolving (flow cannot bridge the gap)"
        if searched:
            return "interpolating (block motion search: motion beyond the optical flow's reach)"
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
        self.last_extend_gain = 0.0  # what the backtest chose (for tests and diagnostics)
        extension = Extension(ctx, max(steps), job.rate, self.flow_quality, self.extend_half_life)
        self.last_extend_gain = extension.gain
        for n, k in enumerate(steps, 1):
            job.check_cancel()
            yield extension.frame(k)
            job.progress(n / len(steps), extension.stage)

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
        return Outpainter(layout, self.outpaint_lookahead, self.flow_quality).run(frames, job, total)

    # -- inpaint ----------------------------------------------------------------------------

    def inpaint(self, shot: InpaintShot, job: EngineJob) -> Iterator[np.ndarray]:
        from server.engines.classical.inpaint import inpaint_shot

        return inpaint_shot(shot, job, self.flow_quality)

    # -- generate ---------------------------------------------------------------------------

    def generate(self, frames: int, size: tuple[int, int], job: EngineJob,
                 reference: np.ndarray | None = None, dtype: type = np.uint8) -> Iterator[np.ndarray]:
        if np.dtype(dtype) not in (np.uint8, np.uint16):
            raise ValueError(f"generate: dtype must be uint8 or uint16, got {dtype}")
        if frames < 0 or size[0] <= 0 or size[1] <= 0:
            raise ValueError(f"generate: bad request: {frames} frames of {size}")
        return slates(frames, size, job, reference, np.dtype(dtype).type)


def _camera_path(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The whole picture's shift (dx, dy) from ``a`` to ``b`` in full-size pixels, by phase
    correlation of the small grey copies (blurred a little, as the shaken repeats are compared)."""
    size = fl.interp_size(a.shape)
    grey = [cv2.GaussianBlur(cv2.cvtColor(fl.small_rgb(f, size), cv2.COLOR_RGB2GRAY).astype(np.float64),
                             (0, 0), 1.0) for f in (a, b)]
    shift, _ = cv2.phaseCorrelate(grey[0], grey[1])
    return np.array(shift) * (a.shape[1] / size[0])


def _moved(frame: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """``frame`` moved as a whole by ``shift`` (dx, dy) pixels; a copy under the flow's dead zone."""
    if float(np.abs(shift).max()) < DEAD_ZONE:
        return frame.copy()
    h, w = frame.shape[:2]
    return cv2.warpAffine(frame, np.float32([[1, 0, shift[0]], [0, 1, shift[1]]]), (w, h),
                          flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def _slow(pair: PairFlow, frames: int) -> bool:
    """Most of the picture moves, slowly: the median pixel's motion across the gap is above the
    flow's own jitter (:data:`scene.DEAD_ZONE`), its pace under :data:`SLOW_PACE` a frame."""
    motion = float(np.median(fl.speed(pair.fwd)))
    return DEAD_ZONE < motion < SLOW_PACE * (frames + 1)


def build_engine(**options) -> ClassicalEngine:
    """Build the engine; options it does not know (meant for other engines) are ignored."""
    known = {"flow_quality", "max_flow_gap", "extend_half_life", "outpaint_lookahead"}
    return ClassicalEngine(**{k: v for k, v in options.items() if k in known})
