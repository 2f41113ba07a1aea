"""Inpaint masks: for each frame of the shot an engine is shown, which pixels to replace.

A mask is a bool array (height, width) at the new media's size, True = replace. It comes from
the request (``otio_tools.plan.InpaintArea``):

- a **region** ``[x, y, w, h]``, moving linearly to ``region_end`` over the clip's placed frames
  (the region at the first, ``region_end`` at the last; each side rounded to the nearest pixel,
  halves up) and held at its first and last place over the handles;
- a **matte**: a still (PNG, TIFF, JPEG through OpenCV; DPX and OpenEXR, which this OpenCV build
  does not read, through FFmpeg's image decoders given the file's bytes, never a demuxer), the same
  mask on every frame; or a video read through :mod:`server.media_io`'s allow-listed reader, its
  frame k the mask of the clip's placed frame k (its first and last frame held over the handles).
  A pixel replaces when it is more than half white (the mean of its colours). A matte of another
  size with the same aspect is scaled (nearest pixel); another aspect is refused.

The kind of a matte is told from its first bytes, never its name. A matte must replace something.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import cv2
import numpy as np

from otio_tools.errors import RequestError
from otio_tools.plan import InpaintArea
from server import media_io
from server.lazy_frames import LazyFrames
from server.media_formats import identify_bytes

#: the largest matte read: a still's bytes, and pixels a side (a still's or a video's)
MAX_STILL_BYTES = 256 << 20
MAX_MATTE_SIDE = 8192
#: still kinds by signature: (magic, decoder, what the editor calls it, media type)
_STILLS = ((b"\x89PNG\r\n\x1a\n", "cv2", "PNG", "image/png"), (b"\xff\xd8\xff", "cv2", "JPEG", "image/jpeg"),
           (b"II*\x00", "cv2", "TIFF", "image/tiff"), (b"MM\x00*", "cv2", "TIFF", "image/tiff"),
           (b"SDPX", "dpx", "DPX", "image/x-dpx"), (b"XPDS", "dpx", "DPX", "image/x-dpx"),
           (b"v/1\x01", "exr", "OpenEXR", "image/x-exr"))
_HEAD = 64 * 1024


@dataclass(frozen=True)
class Matte:
    """A checked matte: ``still`` holds its one mask (at the matte's own size), else it is a video."""

    path: str
    size: tuple[int, int]  # the matte's own (width, height)
    frames: int  # 1 for a still
    still: np.ndarray | None = None


def check_matte(path: str, size: tuple[int, int], frames: int) -> Matte:
    """The matte at local ``path`` for a clip of ``size`` (width, height) and ``frames`` placed
    frames, checked: a still or a video ShotForge reads, of that aspect, long enough; a still must
    replace something (a video is checked frame by frame when rendered: :func:`require_replacing`)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(_HEAD)
    except OSError as exc:
        raise RequestError("matte_unreadable", f"the matte {path} cannot be read: {exc.strerror or exc}") from None
    still = next(((kind, name) for magic, kind, name, _ in _STILLS if head.startswith(magic)), None)
    if still is not None:
        picture = _read_still(path, *still)
        matte = Matte(path, (picture.shape[1], picture.shape[0]), 1, _white(picture))
        _check_size(matte, size)
        if not matte.still.any():
            raise RequestError("matte_empty", f"the matte {path} has no white pixel: it would replace nothing "
                                              "(white = replace)")
        return matte
    container = identify_bytes(head)
    if container.demuxer is None:
        raise RequestError("matte_not_supported", f"the matte {path} is {container.what}: a matte is a still "
                                                  "(PNG, TIFF, JPEG, DPX, OpenEXR) or a video ShotForge reads")
    try:
        info = media_io.probe(path)
    except media_io.MediaError as exc:
        raise RequestError("matte_unreadable", f"the matte {path} cannot be read as a video: {exc.message}") from None
    _check_side(path, (info.width, info.height))
    matte = Matte(path, (info.width, info.height), info.frames)
    _check_size(matte, size)
    if info.frames < frames:
        raise RequestError("matte_too_short", f"the matte {path} has {info.frames} frames; the clip has {frames}: "
                                              "export the matte over the whole clip (its frame k is the clip's "
                                              "frame k)")
    return matte


def still_type(head: bytes) -> str | None:
    """The media type of a still matte that starts with ``head``, or None when it is not one."""
    return next((mime for magic, _, _, mime in _STILLS if head.startswith(magic)), None)


def _read_still(path: str, kind: str, name: str) -> np.ndarray:
    """A still matte's picture, grey or colour, at its own depth."""
    if os.path.getsize(path) > MAX_STILL_BYTES:
        raise RequestError("matte_too_large", f"the matte {path} is {os.path.getsize(path)} bytes; a still matte may "
                                              f"be at most {MAX_STILL_BYTES} bytes")
    with open(path, "rb") as fh:
        data = fh.read(MAX_STILL_BYTES + 1)  # the file may have grown since its size was read
    if len(data) > MAX_STILL_BYTES:
        raise RequestError("matte_too_large", f"the matte {path} is over {MAX_STILL_BYTES} bytes; a still matte may "
                                              f"be at most {MAX_STILL_BYTES} bytes")
    if kind == "cv2":
        # OpenCV allocates the whole picture its header claims (a few compressed bytes can claim
        # gigabytes): the size is read from the header first; FFmpeg's decoders are bounded by max_pixels
        claimed = _header_size(data, name)
        if claimed is None:
            raise RequestError("matte_unreadable", f"the matte {path} is not a readable {name} image")
        _check_side(path, claimed)
        picture = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    else:
        picture = _decode_with_ffmpeg(data, kind)
    if picture is None:
        raise RequestError("matte_unreadable", f"the matte {path} is not a readable {name} image")
    _check_side(path, (picture.shape[1], picture.shape[0]))
    return picture


def _check_side(path: str, size: tuple[int, int]) -> None:
    if max(size) > MAX_MATTE_SIDE:
        raise RequestError("matte_too_large", f"the matte {path} is {size[0]}x{size[1]}; a matte may be at most "
                                              f"{MAX_MATTE_SIDE} pixels a side")


#: JPEG start-of-frame markers (every coding process; not DHT C4, JPG C8, DAC CC)
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _header_size(data: bytes, name: str) -> tuple[int, int] | None:
    """(width, height) as a PNG, JPEG or TIFF header states it (TIFF: its first picture, the one
    OpenCV reads), or None when the header does not say."""
    if name == "PNG":
        return (int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")) if data[12:16] == b"IHDR" \
            else None
    if name == "JPEG":
        at = 2
        while at + 9 <= len(data) and data[at] == 0xFF:
            marker = data[at + 1]
            if marker in _SOF:
                return int.from_bytes(data[at + 7:at + 9], "big"), int.from_bytes(data[at + 5:at + 7], "big")
            if marker == 0xFF:  # fill byte
                at += 1
            else:
                at += 2 + int.from_bytes(data[at + 2:at + 4], "big")
        return None
    order = "little" if data[:2] == b"II" else "big"
    ifd = int.from_bytes(data[4:8], order)
    found = {}
    for entry in range(int.from_bytes(data[ifd:ifd + 2], order)):
        at = ifd + 2 + 12 * entry
        tag, kind = int.from_bytes(data[at:at + 2], order), int.from_bytes(data[at + 2:at + 4], order)
        if tag in (256, 257) and kind in (3, 4):  # ImageWidth, ImageLength: SHORT or LONG
            found[tag] = int.from_bytes(data[at + 8:at + (10 if kind == 3 else 12)], order)
    return (found[256], found[257]) if len(found) == 2 else None


def _decode_with_ffmpeg(data: bytes, codec: str) -> np.ndarray | None:
    import av

    decoder = av.codec.CodecContext.create(codec, "r")
    decoder.options = {"max_pixels": str(MAX_MATTE_SIDE * MAX_MATTE_SIDE)}
    try:
        frames = decoder.decode(av.Packet(data)) + decoder.decode(None)
    except (av.FFmpegError, ValueError):
        return None
    return frames[0].to_ndarray(format="rgb48le") if frames else None  # colours: white is their mean


def _white(picture: np.ndarray) -> np.ndarray:
    """More than half white: the mean of the colours (alpha left out) over half the full scale."""
    full = 1.0 if picture.dtype.kind == "f" else np.iinfo(picture.dtype).max
    if picture.ndim == 3:
        colours = picture[..., :3] if picture.shape[2] >= 3 else picture[..., :1]
        picture = colours.mean(axis=2)
    return picture > full / 2


def _check_size(matte: Matte, size: tuple[int, int]) -> None:
    (mw, mh), (width, height) = matte.size, size
    # same aspect: a side scaled from the other within one matte pixel (mattes are rounded to even sizes)
    if (mw, mh) == (width, height) or abs(mw - Fraction(width * mh, height)) <= 1 or \
            abs(mh - Fraction(height * mw, width)) <= 1:
        return
    raise RequestError("matte_wrong_size", f"the matte {matte.path} is {mw}x{mh}, the clip {width}x{height}: another "
                                           "aspect ratio; export the matte at the clip's size")


def _placed_position(position: int, placed: range) -> int:
    """The placed frame (0 = the clip's first) whose mask a shot position uses: handles hold the ends."""
    return min(max(position - placed.start, 0), len(placed) - 1)


class RegionMasks(Sequence):
    """The masks of a region moving linearly from ``region`` to ``region_end`` over ``placed``, on
    along that line over the frames the result covers beyond them, held over the other handles."""

    def __init__(self, area: InpaintArea, size: tuple[int, int], count: int):
        self.area, self.size, self.count = area, size, count
        self.shape = (size[1], size[0])  # every mask bool at the picture's size (InpaintShot.masks)

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, position):
        if isinstance(position, slice):
            return [self[i] for i in range(*position.indices(len(self)))]
        if position < 0:
            position += self.count
        if not 0 <= position < self.count:
            raise IndexError(f"mask {position} of a shot of {self.count} frames")
        made = self.area.made  # frames a transition shows beyond the cut: the region goes on moving there
        k = position - self.area.placed.start
        if not made.start <= position < made.stop:
            k = _placed_position(position, self.area.placed)
        x, y, w, h = self.region_at(k)
        mask = np.zeros((self.size[1], self.size[0]), bool)
        mask[y:y + h, x:x + w] = True
        return mask

    def region_at(self, k: int) -> tuple[int, int, int, int]:
        """The region at placed frame ``k``; before the first (``k`` < 0) or after the last, it goes
        on along its line, kept inside the picture."""
        start, end, last = self.area.region, self.area.region_end, len(self.area.placed) - 1
        if end is None or last == 0:
            return start
        t = Fraction(k, last)
        x, y, w, h = (math.floor(a + (b - a) * t + Fraction(1, 2)) for a, b in zip(start, end))
        if 0 <= k <= last:
            return x, y, w, h
        width, height = self.size
        w, h = min(max(w, 1), width), min(max(h, 1), height)
        return min(max(x, 0), width - w), min(max(y, 0), height - h), w, h


def shot_masks(area: InpaintArea, size: tuple[int, int], count: int, matte: Matte | None = None) -> Sequence:
    """The mask of each of the ``count`` shot frames an engine is shown (``area.placed`` among them)."""
    if area.region is not None:
        return RegionMasks(area, size, count)
    if matte is None:
        raise ValueError("an inpaint by matte needs the checked matte")
    if matte.still is not None:
        return _Repeated(_fitted(matte.still, size), count)
    last = len(area.placed) - 1
    return MatteMasks(matte.path, [min(max(i - area.placed.start, 0), last) for i in range(count)], size)


def _fitted(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    width, height = size
    if mask.shape != (height, width):
        mask = cv2.resize(mask.view(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST) > 0
    return mask


class MatteMasks(LazyFrames):
    """A video matte's masks, decoded on demand (``indices``: the matte frame of each shot frame): every
    one bool, :attr:`shape` (height, width) of ``size`` (InpaintShot.masks), so a reader need not read
    them all to know."""

    def __init__(self, path: str, indices: Sequence[int], size: tuple[int, int]):
        width, height = size
        self.shape = (height, width)
        super().__init__(path, indices, media_io.probe(path).dtype, width * height,
                         lambda frame: _fitted(_white(frame), size))


class _Repeated(Sequence):
    """One mask for every frame (a still matte)."""

    def __init__(self, mask: np.ndarray, count: int):
        self.mask, self.count = mask, count
        self.shape = mask.shape  # (InpaintShot.masks)

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, position):
        if isinstance(position, slice):
            return [self[i] for i in range(*position.indices(len(self)))]
        if not -self.count <= position < self.count:
            raise IndexError(f"mask {position} of a shot of {self.count} frames")
        return self.mask.copy()


def require_replacing(masks: Sequence, placed: range, what: str) -> None:
    """Refuse masks that replace nothing over the placed frames (``what`` names the matte)."""
    if not any(masks[i].any() for i in placed):
        raise RequestError("matte_empty", f"{what} has no white pixel over the clip's frames: it would replace "
                                          "nothing (white = replace)")
