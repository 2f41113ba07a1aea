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
    guidance_2: float | None = None  # the low-noise expert's guidance (two-expert models); None: as guidance
    reference: np.ndarray | None = None  # a reference picture on the model canvas
    on_step: Callable[[int], None] = lambda step: None  # after each denoising step (may raise Canceled)


    @property
    def frames(self) -> int:
        return self.pad_before + len(self.images) + self.pad_after


def check_window(family: str, call: WindowCall, native: Any) -> None:
    """The checks every family makes: one mask a picture, the frame-count rule, the grid, the limits."""
    if len(call.masks) != len(call.images):
        raise ValueError(f"{family}: {len(call.images)} pictures but {len(call.masks)} masks")
    if (call.frames - 1) % native.temporal or call.frames > native.max_frames:
        raise ValueError(f"{family}: a window of {call.frames} frames; this model takes {native.temporal}k+1 frames, "
                         f"at most {native.max_frames}")
    if call.width % native.multiple or call.height % native.multiple:
        raise ValueError(f"{family}: {call.width}x{call.height} is off the model's {native.multiple}-pixel grid")
    if call.width > native.limit_width or call.height > native.limit_height:
        raise ValueError(f"{family}: {call.width}x{call.height} is larger than the model covers "
                         f"({native.limit_width}x{native.limit_height})")


def step_callback(call: WindowCall) -> Callable:
    """``callback_on_step_end`` for a pipeline: reports each step (and may raise Canceled)."""
    def on_step_end(pipe, step, timestep, callback_kwargs):
        call.on_step(step)
        return callback_kwargs

    return on_step_end


def picture(image: np.ndarray):
    """A model picture (float16 in [0, 1]) as the RGB PIL image pipelines take."""
    from PIL import Image

    from server.engines.diffusers.canvas import from_unit

    return Image.fromarray(from_unit(image, np.uint8))


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
