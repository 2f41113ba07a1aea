"""Extension: a shot continued past its last frame by the motion it showed last.

The last flow field is continued with damped constant velocity, scaled by the share of it that
best predicted the shot's own last context frames (a backtest), so jitter and still shots hold the
frame instead of drifting, and a win too small to tell from noise holds it too; a still camera
with little moving is an exact freeze; a shot that repeats frames in a cadence is continued
picture by picture (:mod:`server.engines.cadence`), and so is a picture that repeats on a cadence
under a camera that moves every frame (the camera's move continued every frame).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

import cv2
import numpy as np

from server.engines import cadence
from server.engines import flow as fl
from server.engines.classical import extension_stray, propagate, scene
from server.engines.classical.guided import guided_filter
from server.engines.classical.scene import PairFlow


class Extension:
    """The new frames after the last of ``ctx`` (in time order), up to ``frames`` of them.

    Measures on construction; :meth:`frame` makes each new frame. ``rate``: frames a second (None
    or 0: 24); ``half_life``: seconds over which the extrapolated motion halves."""

    def __init__(self, ctx: Sequence[np.ndarray], frames: int, rate: Fraction | float | None,
                 flow_quality: str, half_life: float):
        self.last = ctx[-1]
        rate = float(rate) if rate else 24.0
        # a shot that repeats frames in a cadence moves by pictures, not by frames: motion is
        # measured between its distinct pictures, and each new frame shows the picture its
        # cadence says (0 pictures on: the last one again)
        found = cadence.extension_pictures(ctx, frames)
        if found:
            self.ahead, pictures = found
            rate *= (len(pictures) - 1) / (len(ctx) - 1)  # pictures a second
            ctx = pictures
        else:
            self.ahead = list(range(1, frames + 1))
        self.content_ahead = self.ahead  # pictures on for what moves in the picture (not the camera)
        self.motion: Motion | None = None
        self._small_last: np.ndarray | None = None  # the last frame at the motion's size, float
        self._grey_last: np.ndarray | None = None  # its grey, in 8-bit levels
        self._flat_last: np.ndarray | None = None  # how flat it is there (extension_stray.flat_last)
        self.gain = 0.0  # the share of the measured motion that the backtest chose
        self.doubt = 1.0  # the share of the freeze's backtest error that this motion left
        self.local_doubt: np.ndarray | None = None  # the same around each spot of the last frame
        self.decay = 0.5 ** (1.0 / max(half_life * rate, 1e-3))
        self.content_decay = self.decay
        content = False
        if len(ctx) >= 2:
            estimator, size = fl.FlowEstimator(flow_quality), fl.work_size(self.last.shape)
            ends = [fl.small_rgb(f, size) for f in ctx[-2:]]
            velocity = _velocity(ends[1], ends[0], estimator)
            # not across a cut, and not a still shot: continue the last step's motion
            if velocity is not None and not _is_still(velocity):
                small = [fl.small_rgb(f, size) for f in ctx[:-2]] + ends
                steps = _steps(small, estimator, velocity)
                repeats = None if found else _content_repeats(small[-len(steps) - 1:], steps, frames)
                if repeats is not None:
                    # the camera moves every frame but the picture in front of it changes on a
                    # cadence (film or animation under a handheld or added camera move): what
                    # moves in the picture is continued picture by picture
                    self.content_ahead, share, seen = repeats
                    content = True
                    self.content_decay = 0.5 ** (1.0 / max(half_life * rate * share, 1e-3))
                else:
                    seen = None
                self.gain, self.doubt, self.local_doubt = _motion_gain(small, steps, _camera_still(velocity),
                                                                       seen)
                if self.gain > 0:
                    content_velocity = None if seen is None else _content_velocity(steps, seen, len(steps))
                    self.motion = Motion(self.gain * velocity, _scaled(self.gain, content_velocity))
        self.stage = "extrapolating motion" if self.motion else "holding the frame (no motion to continue)"
        if found:
            self.stage += ", on the footage's repeated-frame cadence"
        elif content and self.motion:
            self.stage += ", the picture on its repeated-frame cadence under the camera's move"

    def frame(self, k: int) -> np.ndarray:
        """The ``k``-th new frame (1: the one right after the last context frame)."""
        p, q = self.ahead[k - 1], self.content_ahead[k - 1]
        if self.motion is None or (p == 0 and q == 0):
            return self.last.copy()
        disp, unsolved = self.motion.inverted(_travel(self.decay, p), _travel(self.content_decay, q))
        made = fl.warp_full(self.last, disp)
        self._soften(made, disp, unsolved)
        return made

    def _soften(self, made: np.ndarray, disp: np.ndarray, unsolved: np.ndarray | None) -> None:
        """``made`` gets a low-pass of its own moved picture where its structure is not to be
        trusted: where the moved picture has no inverse (``unsolved``, small scale, 0..1: the wake
        a mover leaves, where the warp draws stretched swirls), and where edges moved onto a spot
        the last frame shows flat by a motion the backtest did not fully bear out
        (:func:`extension_stray.softening`). The area keeps its colours, loses that structure, and
        changes smoothly from frame to frame (a fill from the surroundings would bring a mover's
        colours in and take content where the inversion is only uncertain). The wake's low-pass
        is a guided filter (:mod:`.guided`) led by the last frame: a plain one as wide ramps the
        strong edges the moved picture carries through the wake (a treeline the motion carried on
        past where the real camera turned back) across ground that the last frame, and mostly the
        real ones, show flat; led, those edges stand where the last frame has them, in the moved
        picture's colours, and the flat ground beyond them stays flat. The change is made at
        the motion's size and added to ``made`` upscaled: one resize and one add."""
        h, w = disp.shape[:2]
        # the stray measures are in 8-bit levels; the change stays in the frame's own
        level = np.float32(255.0 / 65535.0 if self.last.dtype == np.uint16 else 1.0)
        if self._small_last is None:
            self._small_last = cv2.resize(self.last, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)
            self._grey_last = cv2.cvtColor(self._small_last, cv2.COLOR_RGB2GRAY) * level
            self._flat_last = extension_stray.flat_last(self._grey_last, self.last.shape[1])
        moved = fl.remap(self._small_last, disp)
        low = _blurred(moved, extension_stray.BLUR)
        strayed = extension_stray.softening(
            self._flat_last, cv2.cvtColor(moved, cv2.COLOR_RGB2GRAY) * level, cv2.cvtColor(low, cv2.COLOR_RGB2GRAY) * level,
            self._doubt_at(disp), fl.speed(disp))
        if unsolved is None and strayed is None:
            return
        change = 0.0
        if unsolved is not None:
            # the wake's swirls are wider than a stray edge: the wider low-pass there
            wide = guided_filter(moved, self._grey_last, round(_WAKE_REACH * _UNSOLVED_SMOOTH), _WAKE_EPS)
            change = cv2.multiply(cv2.subtract(wide, moved), cv2.merge([unsolved] * 3))
            if strayed is not None:
                strayed = strayed * (1.0 - unsolved)  # the unsolved area's own fill comes first
        if strayed is not None:
            change = change + cv2.multiply(cv2.subtract(low, moved), cv2.merge([strayed] * 3))
        if made.dtype == np.uint8:
            change = np.rint(change).astype(np.int16)  # whole levels: cheaper to upscale and add than floats
        H, W = made.shape[:2]
        cv2.add(made, cv2.resize(change, (W, H), interpolation=cv2.INTER_LINEAR), dst=made,
                dtype=cv2.CV_8U if made.dtype == np.uint8 else cv2.CV_16U)

    def _doubt_at(self, disp: np.ndarray) -> float | np.ndarray:
        """The backtest's doubt for each pixel of a made frame (small scale): the shot's, or where
        the motion predicted the spot it moves the pixel from worse than the shot as a whole,
        that spot's (a turn or a reversal that only part of the picture showed)."""
        if self.local_doubt is None:
            return self.doubt
        local = cv2.min(fl.remap(self.local_doubt, disp), 1.0)
        return cv2.max(local, self.doubt)


def _travel(decay: float, steps: int) -> float:
    """Frames' worth of motion after ``steps`` steps, each moving ``decay`` times the one before."""
    return decay * (1 - decay ** steps) / (1 - decay) if decay < 1 else float(steps)


_GAINS = (0.0, 0.25, 0.5, 0.75, 1.0)
# small pixels over which the backtest's errors are compared around each spot for its local doubt,
# and the squared error (8-bit levels squared) added to the freeze's there for each backtest (whose
# errors count over their horizon, as the shot's do), about grain's: where the freeze is near exact
# too, a ratio of two noises is no doubt (and the ratio is never 0 / 0)
_LOCAL_SIGMA = 12.0
_LOCAL_FLOOR = 4.0
# most past steps the motion extrapolation is tried on: 6 (of the 7 that 8 context frames give)
# tests horizons up to 5 frames, closer to the 8+ an extension runs
_BACKTESTS = 6


def _velocity(newer: np.ndarray, older: np.ndarray, estimator: fl.FlowEstimator) -> np.ndarray | None:
    """Per-frame motion of ``newer``'s pixels (from the two frames' small RGB copies, smoothed);
    None across a cut."""
    pair = PairFlow.between(newer, older, estimator)
    if not pair.bridgeable:
        return None
    return cv2.GaussianBlur(-pair.fwd, (0, 0), 2.0)


def _steps(small: Sequence[np.ndarray], estimator: fl.FlowEstimator, last: np.ndarray) -> list[np.ndarray]:
    """The velocities of the last steps of the context (its small RGB copies; ``last``: the last
    step's, measured already), oldest first: as many as the backtest uses (:data:`_BACKTESTS` +
    1), back to the first cut."""
    steps = [last]
    for back in range(2, min(_BACKTESTS + 1, len(small) - 1) + 1):
        measured = _velocity(small[-back], small[-back - 1], estimator)
        if measured is None:
            break
        steps.insert(0, measured)
    return steps


def _content_repeats(small: Sequence[np.ndarray], steps: list[np.ndarray],
                     frames: int) -> tuple[list[int], float, list[bool]] | None:
    """When the picture repeats on a cadence under a moving camera: each new frame's pictures on
    for what moves in the picture (:func:`cadence.extension_pictures`), the share of frames that
    show a new picture, and which of the ``steps`` (one between each two of the context's small
    RGB copies, ``small``) repeat the picture. The context is held still on the last frame's
    camera (each frame moved by the camera's measured steps since it), so a repeated picture
    shows as a repeat; None when the camera moves too far to compare what stays in view, or when
    there is no cadence."""
    if len(small) < 1 + cadence.MIN_REPEATS:
        return None
    h, w = small[-1].shape[:2]
    corners = _corners(h, w)
    matrices = [np.eye(3)]  # each frame's camera to the last frame's, newest first

    def held(first: int) -> list[np.ndarray] | None:
        """The frames from ``first`` on, held on the last frame's camera, without the edges that
        the camera's move brought in; None when it moves too far to compare."""
        while len(matrices) < len(small) - first:
            matrices.append(matrices[-1] @ _camera_step(steps[-len(matrices)]))
        border = math.ceil(max(float(np.abs(m @ corners - corners).max()) for m in matrices)) + 2
        if border > min(w, h) // 4:
            return None
        return [np.ascontiguousarray(cv2.warpAffine(small[i], matrices[len(small) - 1 - i][:2], (w, h),
                                                    borderMode=cv2.BORDER_REPLICATE)[border:h - border, border:w - border])
                for i in range(first, len(small))]

    # as cadence.extension_pictures: no repeat among the last few pairs, no cadence to follow
    # (most footage stops here, before the older frames are moved)
    near = max(0, len(small) - 1 - cadence.NEAR_PAIRS)
    last = held(near)
    tiny = [cadence.tiny_copy(f) for f in last or []]
    if not any(cadence.is_repeat(a, b) for a, b in zip(tiny, tiny[1:])):
        return None
    frames_held = held(0)
    if frames_held is None:
        return None
    tiny = [cadence.tiny_copy(f) for f in frames_held]
    seen = [cadence.is_repeat(a, b) for a, b in zip(tiny, tiny[1:])]
    found = cadence.extension_pictures(frames_held, frames) if sum(seen) >= cadence.MIN_REPEATS else None
    if not found:
        return None
    ahead, distinct = found
    return ahead, (len(distinct) - 1) / (len(small) - 1), seen


def _content_velocity(steps: list[np.ndarray], seen: list[bool] | None, upto: int) -> np.ndarray:
    """The velocity of what moves in the picture at the end of ``steps[:upto]``: that of the last
    step that showed a new picture (``seen``: which steps repeat it)."""
    for i in range(upto - 1, -1, -1):
        if not seen[i]:
            return steps[i]
    return steps[upto - 1]


def _scaled(gain: float, velocity: np.ndarray | None) -> np.ndarray | None:
    return None if velocity is None else gain * velocity


_STILL_AREA = 0.15  # a still camera with less than this share of the picture moving is a still shot
_STILL_SPEED = 0.5  # small pixels a frame: slower is still (a camera's at its farthest corner)


# a still camera's backtest win over the freeze must be significant: its mean over the past steps
# at least this many standard errors (t-statistic); an irregular cadence or a gesture that
# reverses wins some steps by chance
_SIGNIFICANCE = 2.0


# the chosen motion's backtest error must be at least this share below the freeze's: a partly
# followed motion that barely wins draws its edges between where they were and where they went
_MARGIN = 0.1


def _camera_still(velocity: np.ndarray) -> bool:
    """The affine (camera) part of the motion moves no corner of the picture by
    :data:`_STILL_SPEED` or more."""
    corners = _corners(*velocity.shape[:2])
    return float(np.abs((_camera_step(velocity) - np.eye(3)) @ corners).max()) < _STILL_SPEED


def _corners(h: int, w: int) -> np.ndarray:
    """The picture's corners as homogeneous columns (3, 4)."""
    return np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], float).T


def _camera_step(velocity: np.ndarray) -> np.ndarray:
    """The camera's step in ``velocity`` (small pixels a frame): the affine map fitted to it
    (3x3); the identity when that moves no pixel by :data:`scene.DEAD_ZONE` (the noise floor: a
    still camera stays exact)."""
    h, w = velocity.shape[:2]
    step = max(4, min(h, w) // 32)
    src = fl.grid(h, w)[step // 2::step, step // 2::step].reshape(-1, 2)
    matrix, _ = cv2.estimateAffine2D(src, src + velocity[step // 2::step, step // 2::step].reshape(-1, 2),
                                     method=cv2.RANSAC, ransacReprojThreshold=1.0)
    if matrix is None:
        return np.eye(3)
    camera = np.vstack([matrix, [0, 0, 1]])
    # an affine move is largest at a corner of the pixel grid
    moved = float(np.abs((camera - np.eye(3)) @ _corners(h - 1, w - 1)).max())
    return camera if moved >= scene.DEAD_ZONE else np.eye(3)


def _is_still(velocity: np.ndarray) -> bool:
    """A locked-off shot where little moves (talking heads, a gesture, film grain and gate weave):
    its extension is the exact last frame. A still camera keeps the background exact either way,
    and a few local movers (limbs, faces, which turn and reverse) extrapolated for several frames
    lose to the freeze, on too few pixels for the backtest to tell; a still camera with a large
    moving area (traffic, a crowd) still extrapolates."""
    mag = fl.speed(velocity)
    area = float(np.mean(mag > _STILL_SPEED))
    return area < _STILL_AREA and _camera_still(velocity)


def _motion_gain(small: Sequence[np.ndarray], steps: list[np.ndarray], still_camera: bool = False,
                 seen: list[bool] | None = None) -> tuple[float, float, np.ndarray | None]:
    """How much of the measured motion to continue (0 = hold the frame), the doubt: the share
    of the freeze's error left at that gain (1 when the frame is held), and the same share around
    each spot of the last frame (small scale; None when the frame is held or nothing was tested):
    a turn that only part of the picture shows leaves more there. Chosen by trying it on
    the shot's own past (``small``: the context's small RGB copies): from each of the last few
    context frames, the motion measured there (``steps``: the context's last steps' velocities,
    oldest first) is extrapolated over the
    frames that really followed it, at each gain in :data:`_GAINS`, and the gain that predicts
    them best wins. Steady pans and moving objects keep the full motion; jitter (handheld shake
    that reverses), flow locked onto noise or changing graphics, and static shots get little or
    none, so an extension is never visibly worse than a freeze frame. Under a ``still_camera``
    the freeze is exact for everything but the movers, so the chosen gain must beat it
    consistently across the past steps (:data:`_SIGNIFICANCE`), not just in their sum: a gesture
    that reverses or an irregular cadence wins some steps and loses others. ``seen``: which steps
    repeat the picture under the camera's move (:func:`_content_repeats`), whose content then
    moves picture by picture. With fewer than three context frames there is nothing to test on,
    and the motion is kept, in full doubt."""
    if len(small) < 3:
        return 1.0, 1.0, None
    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY).astype(np.float32) for f in small]
    errors = np.zeros(len(_GAINS))
    ratios = []  # per backtest, each gain's error relative to the freeze's
    # each gain's squared errors per pixel, summed over the backtests as ``errors`` is, each over
    # its horizon
    squares = [np.float32(0.0)] * len(_GAINS)
    tested = 0
    for back in range(2, min(_BACKTESTS + 1, len(small) - 1, len(steps)) + 1):
        # frame -back continues to -1 (back - 1 steps) with the motion measured from -back-1 to -back
        velocity, upto = steps[-back], len(steps) - back + 1
        content = None if seen is None else _content_velocity(steps, seen, upto)
        horizon = back - 1
        pictures = horizon if seen is None else horizon - sum(seen[upto:])
        row = np.zeros(len(_GAINS))
        for i, gain in enumerate(_GAINS):
            if gain == 0:
                pred = grey[-back]
            else:
                motion = Motion(gain * velocity, _scaled(gain, content))
                pred = fl.remap(grey[-back], motion.backward(float(horizon), float(pictures)))
            square = np.square(pred - grey[-1])
            row[i] = float(np.mean(square))
            squares[i] = squares[i] + square / np.float32(horizon)
        errors += row / horizon
        ratios.append(row / max(row[0], 1e-6))
        tested += 1
    if not tested:
        return 1.0, 1.0, None
    best = int(np.argmin(errors))
    if not best:
        return 0.0, 1.0, None
    if errors[best] > (1.0 - _MARGIN) * errors[0]:
        return 0.0, 1.0, None  # a win this small is within what the measure's own noise gives
    if still_camera and tested >= 3:
        # a still camera: the motion of what moves in it must beat the freeze consistently across
        # the backtests, not by chance (irregular cadences, a gesture that reverses)
        gains = 1.0 - np.array(ratios)[:, best]
        if gains.mean() < _SIGNIFICANCE * gains.std(ddof=1) / math.sqrt(tested):
            return 0.0, 1.0, None
    local = cv2.GaussianBlur(squares[best], (0, 0), _LOCAL_SIGMA) / (
        cv2.GaussianBlur(squares[0], (0, 0), _LOCAL_SIGMA) + np.float32(_LOCAL_FLOOR * tested))
    return float(_GAINS[best]), float(errors[best] / max(errors[0], 1e-9)), local


# small pixels: an inverted motion that misses its own equation by more than this is unsolved
_UNSOLVED = 0.5
_UNSOLVED_BLEND = 3.0  # small pixels over which the smooth field takes over around it
_UNSOLVED_SMOOTH = 8.0  # small pixels: the smooth field's blur, and the reach of the picture's low-pass there
_WAKE_REACH = 2.0  # the wake's guided filter's box radius, in _UNSOLVED_SMOOTH
# the last frame's variance (8-bit levels²) under which a box of the wake counts as flat: only
# its clear structure leads the wake's low-pass
_WAKE_EPS = 100.0


class Motion:
    """The motion of the last frame's pixels per frame (small scale), split into a global affine
    part (the camera: extrapolated exactly, as an affine map) and a smooth residual (things moving:
    inverted by fixed-point iteration), with the total travel capped so that fast motion settles
    instead of smearing the picture off the frame. ``content``: the velocity whose residual moves
    the things in the picture, when it is not ``velocity``'s own (a picture repeated on a cadence
    under the camera's move: the last step that showed a new picture)."""

    _MAX_SHIFT = 0.15  # cap on extrapolated travel, as a share of the frame diagonal

    def __init__(self, velocity: np.ndarray, content: np.ndarray | None = None):
        h, w = velocity.shape[:2]
        self.step, self.residual = self._split(velocity)
        if content is not None:
            self.residual = self._split(content)[1]
        self.moving = bool(self.residual.any())  # anything moving besides the camera
        p95 = float(np.percentile(fl.speed(velocity), 95))
        self.max_travel = self._MAX_SHIFT * math.hypot(h, w) / max(p95, 1e-3)

    @staticmethod
    def _split(velocity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The camera's affine step and the residual motion of ``velocity``."""
        camera_step = _camera_step(velocity)
        residual = velocity - propagate.motion_field(camera_step, velocity.shape[:2])
        # motion below the noise floor (scene.DEAD_ZONE) is no motion: still parts of the picture
        # stay exact; residual motion counts in full from twice it
        mag = fl.speed(residual)
        return camera_step, residual * np.clip(mag / scene.DEAD_ZONE - 1.0, 0.0, 1.0)[..., None]

    def _capped(self, travel: float) -> float:
        return self.max_travel * math.tanh(travel / self.max_travel)  # ~travel at first, then capped

    def backward(self, travel: float, content_travel: float | None = None) -> np.ndarray:
        """Backward displacement for the frame ``travel`` frames of motion after the last one
        (``content_travel``: pictures' worth of the residual's, when it moves by pictures)."""
        return self.inverted(travel, content_travel)[0]

    def inverted(self, travel: float, content_travel: float | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """:meth:`backward`'s displacement, and where it has no solution: a weight 0..1 at the
        motion's size, 1 in the unsolved area and fading out around it (None: solved everywhere)."""
        travel, moved = self._capped(travel), None if content_travel is None else self._capped(content_travel)
        moved = travel if moved is None else moved
        camera = np.eye(3) + travel * (self.step - np.eye(3))
        # where the camera move came from, exactly
        back = propagate.motion_field(np.linalg.inv(camera), self.residual.shape[:2])
        if not self.moving:
            return back, None
        disp = back - moved * fl.remap(self.residual, back)
        for _ in range(2):  # x = p + moved * residual(p), solved for p
            disp = back - moved * fl.remap(self.residual, disp)
        # where that has no solution (what a mover uncovers, or folds over) the iteration swings
        # between the mover and what is behind it and draws streaks: a smooth field there instead
        miss = disp - (back - moved * fl.remap(self.residual, disp))
        unsolved = (fl.speed(miss) > _UNSOLVED).astype(np.float32)
        if not unsolved.any():
            return disp, None
        weight = cv2.GaussianBlur(unsolved, (0, 0), _UNSOLVED_BLEND)
        disp += weight[..., None] * (_blurred(disp, _UNSOLVED_SMOOTH) - disp)
        return disp, np.minimum(2 * weight, 1.0)


def _blurred(field: np.ndarray, sigma: float) -> np.ndarray:
    """A wide Gaussian blur of a smooth field or picture, at a quarter of its size (~10x cheaper)."""
    h, w = field.shape[:2]
    small = cv2.resize(field, (max(1, w // 4), max(1, h // 4)), interpolation=cv2.INTER_AREA)
    return cv2.resize(cv2.GaussianBlur(small, (0, 0), sigma / 4), (w, h), interpolation=cv2.INTER_LINEAR)
