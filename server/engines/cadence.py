"""Repeated-frame cadence: when made frames should repeat a neighbour instead of moving.

Much footage repeats frames in a regular pattern: animation drawn on twos or threes, silent film
transferred to video (chaplin.mp4: 17 film frames a second on 25 video frames), pulldown and other
frame-rate conversions that duplicate rather than blend. A gap in such footage is not filled by
evenly spaced motion: a missing frame that was a repeat must repeat its neighbour, or the motion
changes cadence right where the edit is (and the made frame matches nothing that was shot).

Such a pattern is what sampling a source at a lower rate gives: video frame ``k`` shows source
picture ``floor(ratio * k + phase)``. The repeats seen in the context frames on both sides of a
gap (consecutive frames with no visible change) pin down ``ratio`` and ``phase``; when the
patterns that fit them agree on which source picture each missing frame shows, the gap's frames
are timed by source picture instead of by video frame. Footage with fewer than two repeats in its
context, or whose repeats fit no such pattern (a still moment, a slow fade), keeps even timing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from fractions import Fraction

import cv2
import numpy as np

from server.engines import flow as fl

TINY_SIDE = 160  # long side of the copies compared for repeats
# a repeat: no 3x3 block of any channel of the tiny copy changes by more than this (8-bit levels).
# Measured on the shared clips: repeats (re-encoded duplicates, chaplin's film grain included)
# mostly stay <= 5; the smallest real changes are ~10 (bikes), the OTIO debugger's counter 31
REPEAT_LEVEL = 6.0
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


def gap_times(before: Sequence[np.ndarray], after: Sequence[np.ndarray], frames: int) -> list[Fraction] | None:
    """Times (0 = ``before[-1]``, 1 = ``after[0]``) of the ``frames`` frames between them, following
    the repeated-frame cadence of the context; None when there is no cadence to follow (even
    timing). ``before`` and ``after`` are full frames of the same shot, in display order."""
    if frames <= 0 or len(before) + len(after) < 2 + MIN_REPEATS:
        return None
    # the few pairs next to the gap first: footage with no repeat there has no cadence worth
    # following, and most footage stops here at the cost of a few tiny copies
    near = min(NEAR_PAIRS + 1, len(before)), min(NEAR_PAIRS + 1, len(after))
    tiny_before = [tiny_copy(f) for f in before[-near[0]:]]
    tiny_after = [tiny_copy(f) for f in after[:near[1]]]
    if not any(is_repeat(x, y) for tiny in (tiny_before, tiny_after) for x, y in zip(tiny, tiny[1:])):
        return None
    tiny_before = [tiny_copy(f) for f in before[:-near[0]]] + tiny_before
    tiny_after += [tiny_copy(f) for f in after[near[1]:]]
    seen_before = [is_repeat(x, y) for x, y in zip(tiny_before, tiny_before[1:])]
    seen_after = [is_repeat(x, y) for x, y in zip(tiny_after, tiny_after[1:])]
    if sum(seen_before) + sum(seen_after) < MIN_REPEATS:
        return None
    return cadence_times(seen_before, seen_after, is_repeat(tiny_before[-1], tiny_after[0]), frames)


def cadence_times(seen_before: Sequence[bool], seen_after: Sequence[bool], ends_repeat: bool,
                  frames: int) -> list[Fraction] | None:
    """The timing of ``frames`` missing frames from the repeats seen around them.

    ``seen_before[i]``: context frame i before the gap repeats frame i + 1 (the last one is the
    gap's first end, ``a``); ``seen_after`` likewise after the gap (its first frame is ``b``);
    ``ends_repeat``: ``a`` and ``b`` show the same picture. Every sampling pattern
    ``floor(ratio * k + phase)`` that reproduces all of these is a candidate; the timing most of
    them share (:data:`AGREEMENT`) wins, else None."""
    # video frame positions: a at 0, the gap 1..frames, b at frames + 1
    first = -len(seen_before)
    positions = np.arange(first, frames + 1 + len(seen_after) + 1)
    source = np.floor(_RATIOS[:, None, None] * positions + _PHASES[None, :, None])
    repeats = source[..., 1:] == source[..., :-1]  # pair (k, k + 1) repeats
    b_at = frames + 1 - first  # b's index in positions
    fits = np.ones(repeats.shape[:2], bool)
    for k, seen in enumerate(seen_before):
        fits &= repeats[..., k] == seen
    for k, seen in enumerate(seen_after):
        fits &= repeats[..., b_at + k] == seen
    a_at = -first
    fits &= (source[..., b_at] == source[..., a_at]) == ends_repeat
    if not fits.any():
        return None
    steps = source[fits][:, a_at:b_at + 1] - source[fits][:, a_at:a_at + 1]  # pictures since a
    timing, count = Counter(map(tuple, steps.astype(int))).most_common(1)[0]
    if count < AGREEMENT * len(steps):
        return None
    span = timing[-1]
    if span == 0:  # a and b are the same picture: so is everything between
        return [Fraction(0)] * frames
    return [Fraction(s, span) for s in timing[1:-1]]
