"""Retiming between the model's rate and the timeline's: pictures between two model pictures.

Context frames are resampled onto the model's slots, and the frames that land on the timeline are
read back off the slots, by the classical engine's flow interpolator (a dissolve where flow cannot
bridge two pictures, exactly as the classical engine does).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from server.engines import flow as fl
from server.engines.classical.interpolate import Interpolator, PairFlow
from server.engines.diffusers.canvas import from_unit, to_unit

EPS = 1e-6


class Retimer:
    """Pictures between two model pictures; the last pair's flow is kept, as frames are read in order."""

    def __init__(self) -> None:
        self._key: tuple[int, int] | None = None
        self._at = None

    def between(self, a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
        if t <= EPS or a is b:
            return a
        if t >= 1 - EPS:
            return b
        if self._key != (id(a), id(b)):
            self._key, self._at = (id(a), id(b)), self._interpolator(a, b)
        return self._at(t)

    @staticmethod
    def _interpolator(a: np.ndarray, b: np.ndarray):
        a16, b16 = from_unit(a, np.uint16), from_unit(b, np.uint16)
        pair = PairFlow.measure(a16, b16, fl.FlowEstimator("fast"), fl.work_size(a16.shape))
        if pair.bridgeable:
            interp = Interpolator(a16, b16, pair)
            return lambda t: to_unit(interp.at(t))
        # flow cannot bridge these two pictures (a cut, or too much motion): a dissolve, as classical does
        af, bf = a.astype(np.float32), b.astype(np.float32)
        return lambda t: ((1 - t) * af + t * bf).astype(np.float16)


def sample(frames: Sequence[np.ndarray], q: float, retimer: Retimer) -> np.ndarray:
    """The picture at fractional index ``q`` of evenly spaced ``frames`` (clamped to the ends)."""
    q = min(max(q, 0.0), len(frames) - 1)
    lo = int(math.floor(q + EPS))
    if q - lo <= EPS or lo >= len(frames) - 1:
        return frames[min(lo, len(frames) - 1)]
    return retimer.between(frames[lo], frames[lo + 1], q - lo)
