"""The model picture: the timeline picture fitted into the model's area on its grid, and back.

The model works at its own picture area, on its grid (VAE scale x patch size), never beyond the
size its position table covers. The timeline picture keeps its aspect inside that canvas; the few
grid pixels left over are padding the model fills and that is cropped away.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from server.engines.base import resize_frame
from server.engines.diffusers.models import Native


def _round_to(value: float, multiple: int) -> int:
    return max(multiple, int(round(value / multiple)) * multiple)


def _floor_to(value: float, multiple: int) -> int:
    return max(multiple, int(value // multiple) * multiple)


@dataclass(frozen=True)
class Canvas:
    """The model picture (mw, mh) on the model grid, and the box (x, y, w, h) inside it that shows the
    timeline picture with its aspect kept; the rest (a few pixels at most) is padding the model fills."""

    mw: int
    mh: int
    box: tuple[int, int, int, int]

    @classmethod
    def fit(cls, size: tuple[int, int], native: Native) -> "Canvas":
        w, h = size
        aspect = w / h
        mh = _round_to(math.sqrt(native.width * native.height / aspect), native.multiple)
        mw = _round_to(mh * aspect, native.multiple)
        shrink = min(1.0, native.limit_width / mw, native.limit_height / mh)
        if shrink < 1.0:  # a tall or wide picture at the native area would run off the position table
            mw, mh = _floor_to(mw * shrink, native.multiple), _floor_to(mh * shrink, native.multiple)
        scale = min(mw / w, mh / h)
        bw, bh = min(mw, max(1, round(w * scale))), min(mh, max(1, round(h * scale)))
        return cls(mw, mh, ((mw - bw) // 2, (mh - bh) // 2, bw, bh))

    def pad_mask(self) -> np.ndarray | None:
        """255 where the model must paint the grid padding of a known frame (None: no padding)."""
        x, y, w, h = self.box
        if (w, h) == (self.mw, self.mh):
            return None
        mask = np.full((self.mh, self.mw), 255, np.uint8)
        mask[y:y + h, x:x + w] = 0
        return mask

    def to_model(self, frame: np.ndarray) -> np.ndarray:
        """A timeline frame (uint8/uint16) as a model picture: float16 in [0, 1], grey padding."""
        x, y, w, h = self.box
        out = np.full((self.mh, self.mw, 3), 0.5, np.float16)
        out[y:y + h, x:x + w] = to_unit(resize_frame(frame, (w, h)))
        return out

    def from_model(self, image: np.ndarray, size: tuple[int, int], dtype: type) -> np.ndarray:
        x, y, w, h = self.box
        return from_unit(resize_frame(image[y:y + h, x:x + w].astype(np.float32), size), dtype)


def to_unit(frame: np.ndarray) -> np.ndarray:
    scale = 65535.0 if frame.dtype == np.uint16 else 255.0
    return (frame.astype(np.float32) / scale).astype(np.float16)


def from_unit(img: np.ndarray, dtype: type) -> np.ndarray:
    top = 65535.0 if dtype == np.uint16 else 255.0
    return np.clip(img.astype(np.float32) * top + 0.5, 0, top).astype(dtype)


def check_frames(frames: Sequence[np.ndarray], what: str) -> None:
    if not frames:
        raise ValueError(f"{what}: no frames given")
    for f in frames:
        if f.ndim != 3 or f.shape[2] != 3 or f.dtype not in (np.uint8, np.uint16):
            raise ValueError(f"{what}: frames must be (H, W, 3) uint8 or uint16, got {f.shape} {f.dtype}")
        if f.shape != frames[0].shape or f.dtype != frames[0].dtype:
            raise ValueError(f"{what}: frames differ in size or dtype")
