"""Frames of a file decoded on demand, in any order: the random-access sequences an inpaint engine
is given (:class:`server.engines.base.InpaintShot`), for the shot and for a video matte.

A miss decodes the aligned block of positions around it (up to :data:`BLOCK`, fewer for large
frames) through one :class:`server.media_io.FrameReader`, opened at the first miss and kept open:
a block after the last one decodes on without a seek; a block before it seeks back to the keyframe
before it and decodes forward from there, and the frames of the sequence decoded on that way are
kept too, the nearest to the block first, as many as the byte budget holds beside the block (so the
next blocks back are already there: a walk backwards through a long GOP decodes it about once, not
once a block). An engine walking the shot forwards or backwards thus decodes each frame about once a
pass; the most recently used frames are kept up to a byte budget, at least two blocks.
:meth:`LazyFrames.close` (or ``with``) closes the file; a LazyFrames nobody holds any more closes it too.
Each access hands out a copy: an engine may paint into what it got without changing what the next
access sees.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Callable, Sequence

import numpy as np

from server import media_io

#: the most positions decoded together on a miss
BLOCK = 32
MIN_BLOCK = 4
#: bytes of decoded frames kept by default (at least two blocks are kept whatever their size)
DEFAULT_BUDGET = 512 << 20


class LazyFrames(Sequence, media_io.Closing):
    """``len(indices)`` frames: position ``i`` is media frame ``indices[i]`` of ``media`` at
    ``dtype``, passed through ``convert`` (a resize, a threshold) once when decoded."""

    def __init__(self, media: str, indices: Sequence[int], dtype: type, frame_bytes: int,
                 convert: Callable[[np.ndarray], np.ndarray] = lambda frame: frame, budget: int | None = None):
        """``frame_bytes``: the size of a converted frame, which sets the block (two fit the budget);
        ``budget``: :data:`DEFAULT_BUDGET` as it is when the sequence is made, unless given."""
        budget = DEFAULT_BUDGET if budget is None else budget
        self.media, self.indices, self.dtype = media, tuple(indices), dtype
        self._convert, self._budget = convert, budget
        self.block = block_for(frame_bytes, budget)
        self._room = max(2 * self.block, budget // max(1, frame_bytes))  # frames the budget holds
        self._shown = sorted(set(self.indices))
        self._kept: OrderedDict[int, np.ndarray] = OrderedDict()  # media index -> converted frame
        self._bytes = 0
        self._reader: media_io.FrameReader | None = None
        self._closed_decoded = 0
        self._last: int | None = None  # the media index the reader decoded last
        self.decoded = 0  # frames converted and kept so far (what a cache is for: tests and logs read it)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, position):
        if isinstance(position, slice):
            return [self[i] for i in range(*position.indices(len(self)))]
        if not isinstance(position, (int, np.integer)) or isinstance(position, bool):
            raise TypeError(f"frame positions are whole numbers, not {type(position).__name__}")
        if position < 0:
            position += len(self)
        if not 0 <= position < len(self):
            raise IndexError(f"frame {position} of a shot of {len(self)} frames")
        index = self.indices[position]
        if index not in self._kept:
            self._decode_block(position // self.block * self.block)
        self._kept.move_to_end(index)
        return self._kept[index].copy()

    @property
    def media_decoded(self) -> int:
        """Frames of the media decoded so far, those passed over on the way to a kept one included."""
        return self._closed_decoded + (self._reader.decoded if self._reader is not None else 0)

    def _decode_block(self, start: int) -> None:
        # once each, in media order (a reversed retime still decodes forward)
        wanted = sorted({i for i in self.indices[start:start + self.block] if i not in self._kept})
        if self._reader is None:
            self._reader = media_io.FrameReader(self.media, self.dtype)
        if self._last is None or wanted[0] < self._last:  # a seek back (or the first): not decoding on
            wanted = self._on_the_way(wanted) + wanted
        for index, frame in zip(wanted, self._reader.frames(wanted)):
            self._keep(index, self._convert(frame))
            self._last = index
            self.decoded += 1

    def _on_the_way(self, wanted: list[int]) -> list[int]:
        """The frames of the sequence, not kept, that reading ``wanted`` decodes before its first (from
        the keyframe a seek back lands on): the nearest to it that the budget holds beside ``wanted``."""
        assert self._reader is not None
        room = self._room - len(wanted)
        if room <= 0:
            return []
        shown = self._shown[bisect_left(self._shown, self._reader.start_for(wanted[0])):
                            bisect_left(self._shown, wanted[0])]
        return [i for i in shown if i not in self._kept][-room:]

    def close(self) -> None:
        """Close the media file; a later miss opens it again."""
        if self._reader is not None:
            self._closed_decoded += self._reader.decoded
            self._reader.close()
            self._reader, self._last = None, None

    def _keep(self, index: int, frame: np.ndarray) -> None:
        self._kept[index] = frame
        self._bytes += frame.nbytes
        while self._bytes > self._budget and len(self._kept) > 2 * self.block:
            _, dropped = self._kept.popitem(last=False)
            self._bytes -= dropped.nbytes


def block_for(frame_bytes: int, budget: int = DEFAULT_BUDGET) -> int:
    """Positions decoded together: :data:`BLOCK`, fewer when two blocks of such frames overrun the budget."""
    return max(MIN_BLOCK, min(BLOCK, budget // max(1, 2 * frame_bytes)))


def kept_bytes(frame_bytes: int, frames: int, budget: int = DEFAULT_BUDGET) -> int:
    """The most a :class:`LazyFrames` of ``frames`` frames of ``frame_bytes`` each holds (for job estimates)."""
    return min(frames * frame_bytes, max(budget, 2 * block_for(frame_bytes, budget) * frame_bytes) + frame_bytes)
