"""Windows: how a job's model frames (slots) are cut into pipeline calls, and where slots sit in time.

A job is laid out on a *slot* sequence at the model's rate: known slots (context, resampled from
the timeline) and pending slots to make. Requests longer than one window are made in windows of
``4k+1`` frames, each conditioned on ``context`` done slots (known, or made by an earlier window)
on every side where there are any:

- the pending run is made from the side that has done slots (forwards from the shot before it, or
  backwards from the shot after it for a head extension);
- when both sides are done (gap fill) the windows run forwards and the last, *closing* window holds
  the rest of the gap with done slots on both sides, so the fill joins the shot after the gap
  instead of ending in a cut.

Context is counted in model frames: ``context`` slots a side (the model's ``overlap``: at least one
latent group of ``temporal`` frames beyond the first), more when a window has room left over.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from server.engines.diffusers.models import Native

EPS = 1e-6


class Slot:
    """One model frame: its picture (float16, model canvas) and mask (255: paint here)."""

    __slots__ = ("image", "mask", "pending")

    def __init__(self, image: np.ndarray | None = None, mask: np.ndarray | None = None, pending: bool = False):
        self.image, self.mask, self.pending = image, mask, pending


@dataclass(frozen=True)
class Window:
    """Slots ``start:end`` in one pipeline call, with virtual (blank, to-make) frames beyond either end."""

    start: int
    end: int
    pad_before: int = 0
    pad_after: int = 0

    @property
    def frames(self) -> int:
        return self.pad_before + self.end - self.start + self.pad_after


def round_up_frames(n: int, temporal: int) -> int:
    """The smallest ``temporal*k+1`` frame count holding ``n`` frames."""
    return ((max(n, 1) - 1 + temporal - 1) // temporal) * temporal + 1


def frame_buckets(window: int, temporal: int) -> list[int]:
    """Window lengths a compiled transformer is kept to, so that a warm pipeline compiled once per
    shape (``dynamic=False``) does not recompile for every job length: the full window, half and a
    quarter of it, each ``temporal*k+1``."""
    k = (window - 1) // temporal
    return sorted({max(1, math.ceil(k / d)) * temporal + 1 for d in (1, 2, 4)})


def window_length(n: int, temporal: int, buckets: Sequence[int] | None) -> int:
    """The frames a window of ``n`` slots is run at: the next ``4k+1``, or the next bucket."""
    length = round_up_frames(n, temporal)
    if buckets:
        length = min((b for b in buckets if b >= length), default=length)
    return length


def plan_windows(pending: Sequence[bool], window: int, context: int, temporal: int,
                 buckets: Sequence[int] | None = None) -> list[Window]:
    """Windows, in the order to run them, that together make every pending slot (one contiguous run).
    Every window holds up to ``context`` done slots on each side of what it makes where there are any
    (all of them when fewer), and is ``window_length`` frames long: what is left over is taken as more
    context, then as virtual frames at an end of the slots."""
    n = len(pending)
    runs = [i for i in range(n) if pending[i]]
    if not runs:
        return []
    a, b = runs[0], runs[-1] + 1
    if b - a != len(runs):
        raise ValueError("plan_windows: the slots to make must be one run")
    if a == 0 and b < n:  # only the far side is known (a head extension): plan it mirrored
        mirrored = plan_windows(pending[::-1], window, context, temporal, buckets)
        return [Window(n - w.end, n - w.start, w.pad_after, w.pad_before) for w in mirrored]
    context = min(context, (window - 1) // 2)  # a closing window always has room for one new slot
    out = []
    lo = a  # the first slot not made yet: everything before it is done
    while lo < b:
        left, before, after = b - lo, min(context, lo), min(context, n - b)
        if left + before + after <= window:  # the closing window: the rest, seen from both sides
            start, end = lo - before, b + after
            out.append(_closing(start, end, n, window_length(end - start, temporal, buckets)))
            break
        make = window - before
        if after and make >= left:  # it would stop inside the far context: leave the rest to a closing window
            make = left - min(left - 1, window - context - after)
        start, end = lo - before, lo + make
        out.append(_onward(start, end, b - 1 if after else b, window_length(end - start, temporal, buckets)))
        lo = out[-1].end
    return out


def _closing(start: int, end: int, n: int, length: int) -> Window:
    """Grown to ``length`` frames: done slots after and before in turn, then virtual frames at the end."""
    extra = length - (end - start)
    while extra and (end < n or start > 0):
        if end < n:
            end, extra = end + 1, extra - 1
        if extra and start > 0:
            start, extra = start - 1, extra - 1
    return Window(start, end, 0, extra)


def _onward(start: int, end: int, stop: int, length: int) -> Window:
    """Grown to ``length`` frames: done slots before, then slots to make short of ``stop``, then virtual
    frames before the first slot."""
    extra = length - (end - start)
    more = min(extra, start)
    start, extra = start - more, extra - more
    more = min(extra, max(0, stop - end))
    end, extra = end + more, extra - more
    return Window(start, end, extra, 0)


# ------------------------------------------------------------------------------ where slots sit
def slot_step(rate: Fraction | float, native: Native) -> float:
    """Timeline frames per model slot."""
    return float(rate) / native.fps


def context_slots(native: Native) -> int:
    """Done slots a window holds on each side: the model's ``overlap``, and at least the first frame and
    one latent group of ``temporal`` frames; no more than the family can use (``max_context``: Wan 2.2
    TI2V is conditioned on one picture)."""
    wanted = max(native.overlap, native.temporal + 1)
    return wanted if native.max_context is None else min(wanted, native.max_context)


def context_frames(rate: Fraction | float, native: Native) -> int:
    """Timeline frames of context a side the engine wants: enough for :func:`context_slots` model
    frames, whatever the timeline rate."""
    return int(math.ceil((context_slots(native) - 1) * slot_step(rate, native) - EPS)) + 1


def known_slots(frames: int, step: float) -> int:
    """Slots (besides the anchor, the frame next to what is made) that ``frames`` context frames cover."""
    return int(math.floor((frames - 1) / step + EPS))


def gap_intervals(frames: int, step: float) -> tuple[int, float]:
    """Model intervals from the last frame before a gap to the first after it, and the exact timeline
    frames per slot that puts both ends on slots."""
    intervals = max(1, round((frames + 1) / step))
    return intervals, (frames + 1) / intervals
