"""The small interface every engine implements.

Frames are numpy arrays shaped (height, width, 3), RGB, ``uint8`` for 8-bit sources and
``uint16`` (full 0..65535 scale) for deeper ones. An engine keeps the dtype it is given, so
a 10-bit source never passes through 8 bits. Operations are generators that yield finished
frames in time order, one at a time, so the caller can encode as they come, report progress
and stop early; an engine checks :meth:`EngineJob.check_cancel` between frames (or steps).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np


def resize_frame(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A frame at ``size`` (width, height), dtype kept: area averaging to shrink, cubic to enlarge."""
    if (frame.shape[1], frame.shape[0]) == tuple(size):
        return frame
    import cv2  # only rendering needs OpenCV, not the interface

    shrink = frame.shape[1] > size[0] or frame.shape[0] > size[1]
    return cv2.resize(frame, tuple(size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)


class Canceled(Exception):
    """The job was canceled; whatever was being written must be thrown away."""


class EngineUnavailable(RuntimeError):
    """An engine cannot run here; ``reason`` says why (missing package, no GPU, no model)."""

    def __init__(self, engine: str, reason: str):
        super().__init__(reason)
        self.engine = engine
        self.reason = reason


@dataclass(frozen=True)
class Availability:
    usable: bool
    reason: str  # why not, or what it will run on
    details: dict[str, Any] = field(default_factory=dict)  # e.g. models found


@dataclass
class EngineJob:
    """What every operation needs besides its frames: the words, the seed, the clock, the controls."""

    rate: Fraction  # the timeline rate the frames are made for
    prompt: str = ""
    negative_prompt: str = ""
    seed: int = 0
    options: dict[str, Any] = field(default_factory=dict)  # engine-specific (steps, guidance, …)
    on_progress: Callable[[float, str], None] = lambda fraction, stage: None
    cancel_event: threading.Event = field(default_factory=threading.Event)
    # a folder on the output's disk for what an engine puts aside on long shots (so the job's disk
    # check counts it and a memory-backed /tmp is never filled); None: the system's temp folder
    scratch_dir: str | None = None
    _reported: float = field(default=0.0, repr=False)
    _stage: str = field(default="rendering", repr=False)

    def check_cancel(self) -> None:
        if self.cancel_event.is_set():
            raise Canceled()

    def progress(self, fraction: float, stage: str | None = None) -> None:
        """Report progress; never backwards (engine steps and encoded frames both report), and
        under the last stage named when none is given."""
        self._reported = max(self._reported, min(max(fraction, 0.0), 1.0))
        self._stage = stage or self._stage
        self.on_progress(self._reported, self._stage)


@dataclass(frozen=True)
class OutpaintLayout:
    """Where the source picture sits on the new canvas, in pixels (already scaled to fit)."""

    canvas: tuple[int, int]  # (width, height) of the output
    inner: tuple[int, int]  # (width, height) of the picture on the canvas
    offset: tuple[int, int]  # (x, y) of the picture's top-left corner on the canvas


@dataclass(frozen=True)
class InpaintShot:
    """Inpaint: the frames of the shot an engine may look at, the matte of each, and which of them
    the result covers. ``frames`` and ``masks`` are random-access sequences (``len``, ``[i]``)
    decoded on demand, so a long shot is never held whole."""

    frames: Sequence[np.ndarray]  # the shot in time order, at the job's size and depth
    # bool (height, width) per frame of ``frames``: True = replace. A sequence with a ``shape``
    # attribute (height, width) vouches that every mask is bool of that shape, so an engine need
    # not decode them all to check
    masks: Sequence[np.ndarray]
    placed: range  # indices into ``frames`` the result covers, in order


class Engine(ABC):
    """One way of making frames. ``name`` goes into the media metadata and job record."""

    name: str = "engine"
    model: str = ""  # the model that made the frames, if any ("" for non-learned engines)

    @abstractmethod
    def availability(self) -> Availability:
        """Whether this engine can run here, and why not."""

    @abstractmethod
    def fill_gap(self, before: Sequence[np.ndarray], after: Sequence[np.ndarray], frames: int,
                 job: EngineJob) -> Iterator[np.ndarray]:
        """Make ``frames`` frames bridging ``before`` (last frames before the gap, in time order)
        and ``after`` (first frames after it, in time order)."""

    @abstractmethod
    def extend(self, context: Sequence[np.ndarray], frames: int, side: str,
               job: EngineJob) -> Iterator[np.ndarray]:
        """Continue a shot by ``frames`` frames. ``context`` is in time order: the last frames of the
        shot for ``side == "tail"``, the first frames for ``"head"``. Output is in time order too
        (for a head extension, the earliest new frame comes first and the last one touches the shot)."""

    @abstractmethod
    def outpaint(self, frames: Iterable[np.ndarray], layout: OutpaintLayout,
                 job: EngineJob) -> Iterator[np.ndarray]:
        """For each input frame (already scaled to ``layout.inner``), yield one canvas-sized frame
        with the picture at ``layout.offset`` and the border painted in, stable over time."""

    @abstractmethod
    def generate(self, frames: int, size: tuple[int, int], job: EngineJob,
                 reference: np.ndarray | None = None, dtype: type = np.uint8) -> Iterator[np.ndarray]:
        """Make ``frames`` frames of ``size`` (width, height) from the prompt (and reference image)."""

    @abstractmethod
    def inpaint(self, shot: InpaintShot, job: EngineJob) -> Iterator[np.ndarray]:
        """For each index in ``shot.placed``, yield that frame with its masked pixels replaced (what
        the prompt asks for, or what the region hides when it is empty); every pixel outside the
        mask exactly as in the source."""

    #: True when :meth:`generate` only makes a stand-in (a slate), to be re-rendered by a real model.
    generate_is_placeholder: bool = False
