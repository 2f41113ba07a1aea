"""Repeated-frame cadence: when made frames should repeat a neighbour instead of moving.

Much footage repeats frames in a regular pattern: animation drawn on twos or threes, silent film
transferred to video (17 film frames a second on 25 video frames), pulldown and other
frame-rate conversions that duplicate rather than blend. A gap in such footage is not filled by
evenly spaced motion: a missing frame that was a repeat must repeat its neighbour, or the motion
changes cadence right where the edit is (and the made frame matches nothing that was shot).

Such a pattern is what sampling a source at a lower rate gives: video frame ``k`` shows source
picture ``floor(ratio * k + phase)``. The repeats seen in the context frames on both sides of a
gap (consecutive frames with no visible change) pin down ``ratio`` and ``phase``; when the
patterns that fit them agree on which source picture each missing frame shows, the gap's frames
are timed by source picture instead of by video frame. An extension likewise continues the
pattern, with motion measured between distinct pictures (a repeat is not a still picture, and the
step after it is not one frame's motion). Footage with fewer than two repeats in its context, or
whose repeats fit no such pattern (a still moment, a slow fade), keeps even timing. Handheld
footage of such a cadence repeats each picture moved by the hand's shake: gap fill, where the
exact repeats show no cadence, asks again with a picture moved as a whole counted as a repeat.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from fractions import Fraction
from functools import lru_cache

import cv2
import numpy as np

from server.engines import flow as fl

TINY_SIDE = 160  # long side of the copies compared for repeats
# a repeat: no 3x3 block of any channel of the tiny copy changes by more than this (8-bit levels):
# above what re-encoding and film grain change in a duplicated frame, below the smallest real
# change between two pictures (bench/RESULTS.md has the levels measured)
REPEAT_LEVEL = 6.0
# a repeat under a hand's shake (gap fill): the same picture moved as a whole by up to SHAKE_SIDE
# tiny pixels; both copies blurred (sigma 1) and moved onto each other by the shift phase
# correlation finds, a level set between such repeats (<= 8) and distinct pictures (>= 20) of
# shaken film (bench/RESULTS.md)
SHAKE_SIDE = 2.0
SHAKEN_REPEAT_LEVEL = 12.0
MIN_REPEATS = 2  # repeats the context must show before a cadence is followed
# pairs next to the gap (each side) among which a repeat must show before the rest are looked at:
# a cadence that repeats a frame at least every third frame always shows one there (animation on
# twos or threes, silent film at 16-20 fps); sparser repeats rarely pin down the gap's timing
NEAR_PAIRS = 3
AGREEMENT = 2 / 3  # share of the fitting patterns that must agree on the gap's timing
_RATIOS = np.linspace(0.25, 1.0, 151)  # source pictures per video frame (0.25: animation on fours)
_PHASES = (np.arange(100) + 0.5) / 100
# the most consecutive repeats a pattern shows (3 at a quarter picture a frame): a context with
# more (a still or slow picture) fits none, which most footage shows well before every pair is asked
LONGEST_RUN = int(np.ceil(1 / _RATIOS[0])) - 1


def tiny_copy(frame: np.ndarray) -> np.ndarray:
    """Small float32 RGB copy (long side :data:`TINY_SIDE`, 8-bit levels) for repeat checks:
    strided, then averaged channel by channel, so a 1080p frame costs ~0.1 ms."""
    h, w = frame.shape[:2]
    scale = min(1.0, TINY_SIDE / max(h, w))
    size = (max(4, round(w * scale)), max(4, round(h * scale)))
    step = max(1, int(1 / scale) // 2)
    strided = fl.to_8bit(frame[::step, ::step])
    return np.dstack([cv2.resize(strided[..., c], size, interpolation=cv2.INTER_AREA)
                      for c in range(3)]).astype(np.float32)


def is_repeat(a: np.ndarray, b: np.ndarray) -> bool:
    """Two tiny copies show the same picture: nowhere does anything change visibly."""
    return float(cv2.blur(cv2.absdiff(a, b), (3, 3)).max()) <= REPEAT_LEVEL


def is_shaken_repeat(a: np.ndarray, b: np.ndarray) -> bool:
    """Two tiny copies show the same picture, or one moved as a whole by a hand's shake (at most
    :data:`SHAKE_SIDE` tiny pixels each way)."""
    return is_repeat(a, b) or _is_moved_repeat(_Soft(a), _Soft(b))


class _Soft:
    """What the shaken test compares of one tiny copy, made once for both pairs a frame is in:
    the copy blurred (sigma 1), its grey and its lowest and highest levels within the reach of
    a half shake."""

    def __init__(self, tiny: np.ndarray):
        self.rgb = cv2.GaussianBlur(tiny, (0, 0), 1.0)
        self.grey = cv2.cvtColor(self.rgb, cv2.COLOR_RGB2GRAY)
        reach = 2 * int(np.ceil(SHAKE_SIDE / 2)) + 1
        kernel = np.ones((reach, reach), np.uint8)
        self.low, self.high = cv2.erode(self.rgb, kernel), cv2.dilate(self.rgb, kernel)


def _is_moved_repeat(a: _Soft, b: _Soft) -> bool:
    """The moved half of :func:`is_shaken_repeat` (the exact test already failed)."""
    edge = int(np.ceil(SHAKE_SIDE)) + 1  # what the move brought in at the borders
    # each copy moved by at most SHAKE_SIDE / 2 (bilinear) stays between its own lowest and
    # highest levels around, so where those ranges are far apart no shift can make the copies
    # agree: most distinct pictures stop here, before the phase correlation (a thousandth of a
    # level over: the resampling's float rounding)
    apart = cv2.max(cv2.max(cv2.subtract(a.low, b.high), cv2.subtract(b.low, a.high)), 0.0)
    if float(cv2.blur(apart, (3, 3))[edge:-edge, edge:-edge].max()) > SHAKEN_REPEAT_LEVEL + 1e-3:
        return False
    (dx, dy), _ = cv2.phaseCorrelate(a.grey, b.grey)
    if max(abs(dx), abs(dy)) > SHAKE_SIDE:
        return False
    h, w = a.rgb.shape[:2]
    # each moved half way, so both are resampled alike (a resampled copy is softer than one not)
    there, back = (cv2.warpAffine(f, np.float32([[1, 0, sx], [0, 1, sy]]), (w, h), flags=cv2.INTER_LINEAR)
                   for f, sx, sy in ((a.rgb, dx / 2, dy / 2), (b.rgb, -dx / 2, -dy / 2)))
    return float(cv2.blur(cv2.absdiff(there, back), (3, 3))[edge:-edge, edge:-edge].max()) <= SHAKEN_REPEAT_LEVEL


class _Repeats:
    """Which consecutive frames of a list repeat, each tiny copy and each pair's answer found once,
    when first asked; ``exact``: the same frames' exact repeats, whose tiny copies and answers
    this one reuses, counting as a repeat also a picture moved as a whole by a hand's shake."""

    def __init__(self, frames: Sequence[np.ndarray], exact: _Repeats | None = None):
        self.frames = frames
        self.exact = exact
        self._tiny: dict[int, np.ndarray] = {} if exact is None else exact._tiny
        self._soft: dict[int, _Soft] = {}
        self._at: dict[int, bool] = {}

    def tiny(self, i: int) -> np.ndarray:
        if i not in self._tiny:
            self._tiny[i] = tiny_copy(self.frames[i])
        return self._tiny[i]

    def soft(self, i: int) -> _Soft:
        if i not in self._soft:
            self._soft[i] = _Soft(self.tiny(i))
        return self._soft[i]

    def at(self, i: int) -> bool:
        """Frame ``i + 1`` repeats frame ``i``."""
        if i not in self._at:
            if self.exact is None:
                self._at[i] = is_repeat(self.tiny(i), self.tiny(i + 1))
            else:
                self._at[i] = self.exact.at(i) or _is_moved_repeat(self.soft(i), self.soft(i + 1))
        return self._at[i]

    def near(self, at_end: bool) -> bool:
        """A repeat among the :data:`NEAR_PAIRS` pairs at the end (or start) of the list: footage
        with none there has no cadence worth following, and most footage stops at this cost."""
        n = len(self.frames) - 1
        pairs = range(max(0, n - NEAR_PAIRS), n) if at_end else range(min(NEAR_PAIRS, n))
        return any(self.at(i) for i in pairs)

    def all(self, from_end: bool) -> list[bool] | None:
        """Every pair's answer; None as soon as more than :data:`LONGEST_RUN` repeats in a row
        show, asking from the end (or start) of the list."""
        n = len(self.frames) - 1
        run = 0
        for i in (range(n - 1, -1, -1) if from_end else range(n)):
            run = run + 1 if self.at(i) else 0
            if run > LONGEST_RUN:
                return None
        return [self.at(i) for i in range(n)]


def gap_times(before: Sequence[np.ndarray], after: Sequence[np.ndarray],
              frames: int) -> list[Fraction] | None:
    """Times (0 = ``before[-1]``, 1 = ``after[0]``) of the ``frames`` frames between them, following
    the exact-repeat cadence of the context; None when there is no cadence to follow (even
    timing). ``before`` and ``after`` are full frames of the same shot, in display order. The
    engine asks :func:`gap_timing`, which also counts shaken repeats."""
    return _gap_times(_Repeats(before), _Repeats(after), frames)


def gap_timing(before: Sequence[np.ndarray], after: Sequence[np.ndarray],
               frames: int) -> tuple[list[Fraction] | None, bool]:
    """:func:`gap_times` by exact repeats, else (where they show no cadence) by shaken ones (a
    picture moved as a whole counts as a repeat, :func:`is_shaken_repeat`: handheld footage of a
    cadence), with whether the shaken repeats set it: footage whose exact repeats show a cadence
    follows it, as a pan's steps would count as shaken repeats. The second asking reuses the
    first's tiny copies and answers."""
    rb, ra = _Repeats(before), _Repeats(after)
    times = _gap_times(rb, ra, frames)
    if times is not None:
        return times, False
    times = _gap_times(_Repeats(before, rb), _Repeats(after, ra), frames)
    return times, times is not None


def _gap_times(rb: _Repeats, ra: _Repeats, frames: int) -> list[Fraction] | None:
    if frames <= 0 or len(rb.frames) + len(ra.frames) < 2 + MIN_REPEATS:
        return None
    if not (rb.near(at_end=True) or ra.near(at_end=False)):
        return None
    seen_before = rb.all(from_end=True)
    seen_after = None if seen_before is None else ra.all(from_end=False)
    if seen_after is None or sum(seen_before) + sum(seen_after) < MIN_REPEATS:
        return None
    last = len(rb.frames) - 1
    ends_repeat = (is_repeat(rb.tiny(last), ra.tiny(0))
                   or (rb.exact is not None and _is_moved_repeat(rb.soft(last), ra.soft(0))))
    return cadence_times(seen_before, seen_after, ends_repeat, frames)


def cadence_times(seen_before: Sequence[bool], seen_after: Sequence[bool], ends_repeat: bool,
                  frames: int) -> list[Fraction] | None:
    """The timing of ``frames`` missing frames from the repeats seen around them.

    ``seen_before[i]``: context frame i before the gap repeats frame i + 1 (the last one is the
    gap's first end, ``a``); ``seen_after`` likewise after the gap (its first frame is ``b``);
    ``ends_repeat``: ``a`` and ``b`` show the same picture. The timing most of the fitting
    patterns share (:data:`AGREEMENT`) wins, else None."""
    steps = _fitting_steps(seen_before, seen_after, ends_repeat, frames + 1)
    if not len(steps):
        return None
    timing, count = Counter(map(tuple, steps)).most_common(1)[0]
    if count < AGREEMENT * len(steps):
        return None
    span = timing[-1]  # pictures from a to b
    if span == 0:  # a and b are the same picture: so is everything between
        return [Fraction(0)] * frames
    return [Fraction(s, span) for s in timing[:-1]]


def extension_pictures(context: Sequence[np.ndarray], frames: int) -> tuple[list[int], list[np.ndarray]] | None:
    """For a shot that repeats frames in a regular cadence, extended by ``frames`` after its last
    context frame: how many pictures past the last one each new frame shows (0: it repeats it),
    and the context's distinct pictures (the last frame of each run of repeats, oldest first),
    which is what motion must be measured between. None when there is no cadence to follow.

    Extrapolation has nothing after it to pin the pattern down, so the timing most of the fitting
    patterns share is taken whatever its share: a plausible cadence beats none, which measures a
    repeat as a still picture (a freeze) or a jump of several frames as one frame's motion."""
    if frames <= 0 or len(context) < 1 + MIN_REPEATS:
        return None
    rc = _Repeats(context)
    if not rc.near(at_end=True):
        return None
    seen = rc.all(from_end=True)
    if seen is None or sum(seen) < MIN_REPEATS:
        return None
    steps = _fitting_steps(seen, [], None, frames)
    if not len(steps):
        return None
    ahead = list(Counter(map(tuple, steps)).most_common(1)[0][0])
    distinct = [f for f, repeated in zip(context, [*seen, False]) if not repeated]
    return ahead, distinct


@lru_cache(maxsize=32)
def _sampling(first: int, last: int) -> tuple[np.ndarray, np.ndarray]:
    """The source picture every pattern shows at video frames ``first..last`` and which of
    those frames repeat the one before, made once for each context length (read-only)."""
    positions = np.arange(first, last + 1)
    source = np.floor(_RATIOS[:, None, None] * positions + _PHASES[None, :, None])
    repeats = source[..., 1:] == source[..., :-1]  # pair (k, k + 1) repeats
    source.flags.writeable = repeats.flags.writeable = False
    return source, repeats


def _fitting_steps(seen_before: Sequence[bool], seen_after: Sequence[bool], ends_repeat: bool | None,
                   ahead: int) -> np.ndarray:
    """Every sampling pattern ``floor(ratio * k + phase)`` that reproduces the repeats seen, as the
    pictures it shows past ``a`` (the last frame before) at each of the ``ahead`` frames after it:
    an (n, ahead) int array. ``seen_after`` starts at frame ``ahead`` (``b``); ``ends_repeat``:
    whether ``a`` and ``b`` show the same picture (None: not seen)."""
    first = -len(seen_before)  # video frame positions: a at 0
    source, repeats = _sampling(first, ahead + len(seen_after))
    a_at, b_at = -first, ahead - first
    fits = np.ones(repeats.shape[:2], bool)
    for k, seen in enumerate(seen_before):
        fits &= repeats[..., k] == seen
    for k, seen in enumerate(seen_after):
        fits &= repeats[..., b_at + k] == seen
    if ends_repeat is not None:
        fits &= (source[..., b_at] == source[..., a_at]) == ends_repeat
    return (source[fits][:, a_at + 1:b_at + 1] - source[fits][:, a_at:a_at + 1]).astype(int)
