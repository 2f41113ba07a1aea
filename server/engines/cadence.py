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
    if is_repeat(a, b):
        return True
    a, b = cv2.GaussianBlur(a, (0, 0), 1.0), cv2.GaussianBlur(b, (0, 0), 1.0)
    (dx, dy), _ = cv2.phaseCorrelate(cv2.cvtColor(a, cv2.COLOR_RGB2GRAY), cv2.cvtColor(b, cv2.COLOR_RGB2GRAY))
    if max(abs(dx), abs(dy)) > SHAKE_SIDE:
        return False
    h, w = a.shape[:2]
    # each moved half way, so both are resampled alike (a resampled copy is softer than one not)
    there, back = (cv2.warpAffine(f, np.float32([[1, 0, sx], [0, 1, sy]]), (w, h), flags=cv2.INTER_LINEAR)
                   for f, sx, sy in ((a, dx / 2, dy / 2), (b, -dx / 2, -dy / 2)))
    edge = int(np.ceil(SHAKE_SIDE)) + 1  # what the move brought in at the borders
    return float(cv2.blur(cv2.absdiff(there, back), (3, 3))[edge:-edge, edge:-edge].max()) <= SHAKEN_REPEAT_LEVEL


class _Repeats:
    """Which consecutive frames of a list repeat, with each tiny copy made once, when first asked;
    ``shaken``: a picture moved as a whole by a hand's shake counts as a repeat."""

    def __init__(self, frames: Sequence[np.ndarray], shaken: bool = False):
        self.frames = frames
        self._tiny: dict[int, np.ndarray] = {}
        self._same = is_shaken_repeat if shaken else is_repeat

    def tiny(self, i: int) -> np.ndarray:
        if i not in self._tiny:
            self._tiny[i] = tiny_copy(self.frames[i])
        return self._tiny[i]

    def at(self, i: int) -> bool:
        """Frame ``i + 1`` repeats frame ``i``."""
        return self._same(self.tiny(i), self.tiny(i + 1))

    def near(self, at_end: bool) -> bool:
        """A repeat among the :data:`NEAR_PAIRS` pairs at the end (or start) of the list: footage
        with none there has no cadence worth following, and most footage stops at this cost."""
        n = len(self.frames) - 1
        pairs = range(max(0, n - NEAR_PAIRS), n) if at_end else range(min(NEAR_PAIRS, n))
        return any(self.at(i) for i in pairs)

    def all(self) -> list[bool]:
        return [self.at(i) for i in range(len(self.frames) - 1)]


def gap_times(before: Sequence[np.ndarray], after: Sequence[np.ndarray], frames: int,
              shaken: bool = False) -> list[Fraction] | None:
    """Times (0 = ``before[-1]``, 1 = ``after[0]``) of the ``frames`` frames between them, following
    the repeated-frame cadence of the context; None when there is no cadence to follow (even
    timing). ``before`` and ``after`` are full frames of the same shot, in display order.
    ``shaken``: a picture moved as a whole counts as a repeat (:func:`is_shaken_repeat`; handheld
    footage of a cadence), for footage whose exact repeats show no cadence (a pan's steps would
    count too, so exact repeats are asked first)."""
    if frames <= 0 or len(before) + len(after) < 2 + MIN_REPEATS:
        return None
    rb, ra = _Repeats(before, shaken), _Repeats(after, shaken)
    if not (rb.near(at_end=True) or ra.near(at_end=False)):
        return None
    seen_before, seen_after = rb.all(), ra.all()
    if sum(seen_before) + sum(seen_after) < MIN_REPEATS:
        return None
    ends_repeat = (is_shaken_repeat if shaken else is_repeat)(rb.tiny(len(before) - 1), ra.tiny(0))
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
    seen = rc.all()
    if sum(seen) < MIN_REPEATS:
        return None
    steps = _fitting_steps(seen, [], None, frames)
    if not len(steps):
        return None
    ahead = list(Counter(map(tuple, steps)).most_common(1)[0][0])
    distinct = [f for f, repeated in zip(context, [*seen, False]) if not repeated]
    return ahead, distinct


def _fitting_steps(seen_before: Sequence[bool], seen_after: Sequence[bool], ends_repeat: bool | None,
                   ahead: int) -> np.ndarray:
    """Every sampling pattern ``floor(ratio * k + phase)`` that reproduces the repeats seen, as the
    pictures it shows past ``a`` (the last frame before) at each of the ``ahead`` frames after it:
    an (n, ahead) int array. ``seen_after`` starts at frame ``ahead`` (``b``); ``ends_repeat``:
    whether ``a`` and ``b`` show the same picture (None: not seen)."""
    first = -len(seen_before)  # video frame positions: a at 0
    positions = np.arange(first, ahead + len(seen_after) + 1)
    source = np.floor(_RATIOS[:, None, None] * positions + _PHASES[None, :, None])
    repeats = source[..., 1:] == source[..., :-1]  # pair (k, k + 1) repeats
    a_at, b_at = -first, ahead - first
    fits = np.ones(repeats.shape[:2], bool)
    for k, seen in enumerate(seen_before):
        fits &= repeats[..., k] == seen
    for k, seen in enumerate(seen_after):
        fits &= repeats[..., b_at + k] == seen
    if ends_repeat is not None:
        fits &= (source[..., b_at] == source[..., a_at]) == ends_repeat
    return (source[fits][:, a_at + 1:b_at + 1] - source[fits][:, a_at:a_at + 1]).astype(int)
