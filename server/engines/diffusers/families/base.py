"""What every family's conditioner is given and must provide."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class WindowCall:
    """One window for the pipeline, in model pictures (float16 in [0, 1], the model canvas).

    ``images[i]`` is None where the whole frame is to be made; ``masks[i]`` (uint8, 255: paint here) is
    None where the whole picture is kept. ``pad_before``/``pad_after`` more frames to make sit beyond
    the ends (the frame-count rule), and are dropped from what is returned."""

    images: list[np.ndarray | None]
    masks: list[np.ndarray | None]
    pad_before: int
    pad_after: int
    width: int
    height: int
    prompt: str
    negative_prompt: str
    steps: int
    guidance: float
    seed: int
    reference: np.ndarray | None = None  # a reference picture on the model canvas
    on_step: Callable[[int], None] = lambda step: None  # after each denoising step (may raise Canceled)


class Conditioner(ABC):
    """One family's way of running a window; see :mod:`server.engines.diffusers.families`."""

    family = ""

    @abstractmethod
    def check_inputs(self, call: WindowCall, native: Any) -> None:
        """Raise ValueError for a window the model cannot take (a bug upstream, named precisely)."""

    @abstractmethod
    def __call__(self, pipe: Any, call: WindowCall, native: Any) -> np.ndarray:
        """The frames made for ``call``'s slots: (frames, height, width, 3) float32 in [0, 1]."""

    @abstractmethod
    def step_cache(self, threshold: float) -> Any:
        """A step cache safe for this family's transformer: ``.apply(transformer)``, ``.remove()``,
        ``.hits``/``.misses``."""

    @abstractmethod
    def warmup_inputs(self, pipe: Any, width: int, height: int, frames: int) -> dict:
        """Keyword arguments for one transformer call of this window shape (compiling at load)."""
