"""Video I/O, through PyAV: frame-accurate reads and atomic ProRes/H.264 writes (with an audio
stream when given).

Frames are numpy arrays (height, width, 3), RGB, ``uint8`` for 8-bit sources and ``uint16``
scaled to the full 0..65535 range for deeper ones, so a 10-bit source never passes through
8 bits. Frame index ``k`` is the 0-based position in presentation order from the media's
first frame, the way an editor counts source frames; frames are found by their timestamps,
never by counting packets, so B-frames, a non-zero first timestamp and odd rates are safe.

Opening and describing source media is :mod:`server.media_probe` (its :func:`probe`,
:class:`MediaInfo`, :class:`ColorTags` and :class:`MediaError` are named here too, as every caller
reads media through this module); sound is :mod:`server.media_audio`.
"""

from __future__ import annotations

import functools
import math
import os
import re
import secrets
import weakref
from collections.abc import Iterator, Sequence
from fractions import Fraction
from types import TracebackType
from typing import Self

import av
import cv2
import numpy as np
from av.video.reformatter import ColorRange

from otio_tools.errors import RequestError
from otio_tools.timing import has_drop_frame, is_drop_frame_timecode, rate_label, timecode_to_frame
from server.media_audio import Audio, AudioTrack
from server.media_probe import (PRIMARIES, RANGE, SPACE, TRC, ColorTags, Layout, MediaError, MediaInfo, layout,
                                open_source, probe, video_stream)

__all__ = ["Closing", "ColorTags", "FrameReader", "MediaError", "MediaInfo", "MediaWriter", "encoding_for", "probe",
           "read_frames"]

# Luma weights (Kr, Kb) of the YUV matrix of each AVColorSpace we convert.
_LUMA = {1: (0.2126, 0.0722), 4: (0.30, 0.11), 5: (0.299, 0.114), 6: (0.299, 0.114),
         7: (0.212, 0.087), 9: (0.2627, 0.0593), 10: (0.2627, 0.0593)}
# Planar YUV layouts converted directly; others (nv12, p010, uyvy422, gray...) are unpacked first.
_PLANAR_YUV = re.compile(r"yuva?j?4[0-4][0-4]p(\d+le)?")

_CONTAINERS = {".mov": "mov", ".mp4": "mp4", ".m4v": "mp4"}


def _is_hd(width: int, height: int) -> bool:
    """The usual guess for untagged video (as mpv and NLEs do): HD sizes are BT.709, SD is BT.601."""
    return width >= 1280 or height > 576


def _matrix(space: int | None, width: int, height: int) -> int:
    """The AVColorSpace whose matrix applies: the tag, else the usual guess by size."""
    if space in _LUMA:
        return space
    return 1 if _is_hd(width, height) else 6



# YUV <-> RGB is done here with exact matrices (cv2.transform), not by swscale: in this FFmpeg
# build swscale's paths to and from 16-bit RGB are off by up to ~0.8% (10-bit white 940 reads
# back as 65283, not 65535; RGB white encodes to 943, not 940), and with ACCURATE_RND 8-bit
# white reads back as 253.


def _levels(full: bool, bits: int) -> tuple[int, int, int, int]:
    """(black, luma span, chroma zero, chroma span) in code values."""
    if full:
        top = 2**bits - 1
        return 0, top, 2 ** (bits - 1), top
    step = 2 ** (bits - 8)
    return 16 * step, 219 * step, 128 * step, 224 * step


@functools.lru_cache(maxsize=64)
def _yuv_to_rgb(space: int, full: bool, bits: int, rgb_max: int) -> np.ndarray:
    """3x4 affine matrix taking (Y, Cb, Cr) code values to RGB scaled to ``rgb_max``."""
    kr, kb = _LUMA[space]
    kg = 1 - kr - kb
    m = np.array([[1, 0, 2 * (1 - kr)],
                  [1, -2 * kb * (1 - kb) / kg, -2 * kr * (1 - kr) / kg],
                  [1, 2 * (1 - kb), 0]])
    black, y_span, zero, c_span = _levels(full, bits)
    a = rgb_max * m @ np.diag([1 / y_span, 1 / c_span, 1 / c_span])
    return np.hstack([a, -(a @ [black, zero, zero])[:, None]]).astype(np.float32)


@functools.lru_cache(maxsize=64)
def _rgb_to_yuv(space: int, full: bool, bits: int, rgb_max: int) -> np.ndarray:
    """The inverse of :func:`_yuv_to_rgb`."""
    forward = _yuv_to_rgb(space, full, bits, rgb_max).astype(np.float64)
    inverse = np.linalg.inv(forward[:, :3])
    return np.hstack([inverse, -(inverse @ forward[:, 3])[:, None]]).astype(np.float32)


def _plane(plane: av.video.plane.VideoPlane, bits: int) -> np.ndarray:
    """A writable (height, width) view of one plane's samples."""
    dtype = np.dtype(np.uint8) if bits <= 8 else np.dtype("<u2")
    rows = np.frombuffer(plane, dtype).reshape(-1, plane.line_size // dtype.itemsize)
    return rows[:plane.height, :plane.width]


def _to_rgb(frame: av.VideoFrame, dtype: type) -> np.ndarray:
    """RGB of a decoded frame, with the source's own matrix and range.

    Works in the samples' own integer type (cv2.transform computes in float, then rounds and
    saturates), which keeps a 1080p frame at a few milliseconds.
    """
    if frame.format.is_rgb:
        return frame.reformat(format="rgb24" if dtype is np.uint8 else "rgb48le").to_ndarray()
    full = frame.color_range == 2 or frame.format.name.startswith("yuvj")
    space = _matrix(frame.colorspace, frame.width, frame.height)
    if not _PLANAR_YUV.fullmatch(frame.format.name):  # a lossless unpack (swscale is exact here)
        levels = ColorRange.JPEG if full else ColorRange.MPEG
        planar = "yuv444p" if frame.format.components[0].bits <= 8 else "yuv444p16le"
        frame = frame.reformat(format=planar, src_color_range=levels, dst_color_range=levels)
    bits = frame.format.components[0].bits
    h, w = frame.height, frame.width
    planes = [_plane(frame.planes[i], bits) for i in range(3)]
    planes[1:] = [p if p.shape == (h, w) else cv2.resize(p, (w, h), interpolation=cv2.INTER_LINEAR)
                  for p in planes[1:]]
    work = planes[0].dtype.type
    rgb = cv2.transform(cv2.merge(planes), _yuv_to_rgb(space, full, bits, int(np.iinfo(work).max)))
    if work is dtype:
        return rgb
    if dtype is np.uint16:  # a frame deeper or shallower than the stream said
        return rgb.astype(np.uint16) * 257
    return ((rgb.astype(np.uint32) + 128) // 257).astype(np.uint8)


def _to_yuv(rgb: np.ndarray, pix_fmt: str, space: int, full: bool) -> av.VideoFrame:
    """A planar YUV frame of an RGB array (chroma subsampled by averaging), in integers too."""
    h, w = rgb.shape[:2]
    frame = av.VideoFrame(w, h, pix_fmt)
    bits = frame.format.components[0].bits
    if bits > 8 and rgb.dtype == np.uint8:
        rgb = rgb.astype(np.uint16) * 257  # exact: 255 -> 65535
    matrix = _rgb_to_yuv(space, full, bits, int(np.iinfo(rgb.dtype).max))
    for plane, values in zip(frame.planes, cv2.split(cv2.transform(rgb, matrix))):
        if (plane.height, plane.width) != (h, w):
            values = cv2.resize(values, (plane.width, plane.height), interpolation=cv2.INTER_AREA)
        _plane(plane, bits)[:] = values  # code values always fit the plane's type
    return frame


class _Decoder:
    """One open file, decoding forward; seeks only when the target lies behind or more than
    about two seconds ahead of the last decoded frame.

    A decode run that starts at a seek is trusted only while the decoder flags none of its
    frames as corrupt: some files mark non-IDR I-frames as sync samples (cockatoo.mp4 does),
    and frames decoded from them are wrong. Such a run is dropped and the seek goes further
    back, down to decoding from the first frame, which is always trusted.
    """

    def __init__(self, source: Layout):
        self.path = source.info.path
        self.decoded = 0  # frames decoded, those passed over on the way to a wanted one included
        self._first_pts = source.first_pts
        self._ticks_per_frame = 1 / (source.time_base * source.info.rate)  # stream ticks per frame
        self._forward_limit = max(2 * math.ceil(source.info.rate), 1)
        self._container: av.container.InputContainer | None = None
        self._restart()

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None

    def _restart(self) -> None:
        """Reopen and decode from the very start: no seek can go wrong."""
        self.close()
        self._container = open_source(self.path)
        self._stream = video_stream(self._container, self.path)
        self._begin_run(from_start=True)
        self._pos = -1  # before frame 0

    def _begin_run(self, from_start: bool) -> None:
        assert self._container is not None
        self._frames: Iterator[av.VideoFrame] = self._container.decode(self._stream)
        self._from_start = from_start
        self._clean = True
        self._landed: int | None = None  # index of the first frame this run decoded
        self._current: tuple[int, av.VideoFrame] | None = None
        self._next: tuple[int, av.VideoFrame] | None = None
        self._exhausted = False
        self._pos: int | None = None  # index of the current frame, when known

    def _index(self, pts: int) -> int:
        """Frame index of a timestamp: the nearest frame slot (tolerates ms-rounded pts)."""
        return math.floor((pts - self._first_pts) / self._ticks_per_frame + Fraction(1, 2))

    def _seek(self, k: int) -> None:
        """Seek to the keyframe at or before frame ``k`` (from the start for k <= 0)."""
        if k <= 0:
            self._restart()
            return
        target = self._first_pts + math.floor((k + Fraction(1, 2)) * self._ticks_per_frame)
        assert self._container is not None
        try:
            self._container.seek(target, stream=self._stream, backward=True)
        except av.FFmpegError:  # e.g. no index: decoding from the start still works
            self._restart()
            return
        self._begin_run(from_start=False)

    def _peek(self, k: int) -> tuple[int, av.VideoFrame] | None:
        if self._next is None and not self._exhausted:
            try:
                frame = next(self._frames, None)
            except av.FFmpegError as e:
                raise MediaError("media_unreadable",
                                 f"cannot decode frame {k} of {self.path}: {e}") from e
            if frame is None or frame.pts is None:
                self._exhausted = True
            else:
                self.decoded += 1
                self._next = (self._index(frame.pts), frame)
                self._clean = self._clean and not frame.is_corrupt
                if self._landed is None:
                    self._landed = self._next[0]
        return self._next

    def _trusted(self) -> bool:
        return self._from_start or self._clean

    def _advance_to(self, k: int) -> bool:
        """Decode up to the last frame whose slot is <= k (the frame on screen at k); False when
        the run cannot give it (the seek landed after k, or the run is untrusted)."""
        while self._trusted() and (nxt := self._peek(k)) is not None and nxt[0] <= k:
            self._current, self._next = nxt, None
            self._pos = nxt[0]
        return self._current is not None and self._trusted()

    def frame(self, k: int) -> av.VideoFrame:
        """The decoded frame shown at index ``k`` (the same object again for a repeat)."""
        near = self._pos is not None and 0 <= k - self._pos <= self._forward_limit
        if not (near and self._advance_to(k)):
            self._seek_to(k)
        assert self._current is not None
        return self._current[1]

    def start_for(self, k: int) -> int:
        """The first frame that decoding frame ``k`` decodes: the next one when ``k`` lies a little
        ahead of the last one decoded, else the keyframe a seek for ``k`` lands on, which is decoded
        now (reading on from it seeks no more)."""
        if self._pos is not None and 0 <= k - self._pos <= self._forward_limit and self._trusted():
            return min(self._pos + 1, k)
        self._seek_to(k, land=True)
        assert self._pos is not None
        return self._pos

    def _seek_to(self, k: int, land: bool = False) -> None:
        """Seek before ``k`` and decode forward (``land``: only the frame the seek lands on, at or
        before ``k``); when the seek lands after ``k`` (keyframes are indexed by dts) or on an
        untrusted run, go back further, ever larger steps."""
        target, step = k, 1
        while True:
            self._seek(target)
            first = self._peek(k)
            if self._advance_to(first[0] if land and first is not None and first[0] <= k else k):
                return
            if self._from_start:
                raise MediaError("media_unreadable", f"frame {k} of {self.path} could not be decoded")
            target = min(target, k if self._landed is None else self._landed) - step
            step *= 2


def _checked(info: MediaInfo, indices: Sequence[int]) -> list[int]:
    """``indices`` as ints, each a frame of the media, or the error naming the first that is not."""
    wanted = [int(k) for k in indices]
    for k in wanted:
        if not 0 <= k < info.frames:
            raise MediaError("frame_out_of_range",
                             f"frame {k} is outside {info.path}, which has frames 0..{info.frames - 1}")
    return wanted


class Closing:
    """``with`` for what has a ``close()``: closed when the block ends, however it ends."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class FrameReader(Closing):
    """``path`` held open across reads: each :meth:`frames` call decodes on from where the last one
    stopped, seeking only for a frame behind it or more than about two seconds ahead, so reading a
    shot block by block costs about one straight pass. Close it (or use ``with``) when done; one
    that nobody holds any more is closed too.

    Frames are ``dtype`` (``np.uint8``/``np.uint16``; by default the media's own depth,
    :attr:`MediaInfo.dtype`). One thread at a time: the reads share one decoder.
    """

    def __init__(self, path: str | os.PathLike, dtype: type | None = None):
        source = layout(path)
        self.info = source.info
        self.dtype = dtype or self.info.dtype
        self._decoder: _Decoder | None = _Decoder(source)
        # the decoder's PyAV objects hold each other: a reader nobody holds must close the file itself
        self._close = weakref.finalize(self, self._decoder.close)

    def frames(self, indices: Sequence[int]) -> Iterator[np.ndarray]:
        """Yield the RGB frames at ``indices``, in that order (any order, repeats allowed); the
        indices are checked before anything is decoded, so a bad one fails the call itself."""
        wanted = _checked(self.info, indices)
        self._live()
        return self._convert(wanted)

    def start_for(self, k: int) -> int:
        """The first frame a read of frame ``k`` decodes, which is at or before ``k``: the next one
        when ``k`` lies a little ahead of the last frame read, else (seeking there now) the keyframe
        before ``k``. The frames from it to ``k`` are decoded anyway: a caller that wants some of them
        reads them in the same pass at no extra decoding."""
        return self._live().start_for(_checked(self.info, [k])[0])

    @property
    def decoded(self) -> int:
        """Frames decoded so far, those passed over on the way to a wanted one included."""
        return self._live().decoded

    def _convert(self, wanted: list[int]) -> Iterator[np.ndarray]:
        for k in wanted:  # a repeat converts the held frame again: callers may edit what they got
            yield _to_rgb(self._live().frame(k), self.dtype)

    def _live(self) -> _Decoder:
        if self._decoder is None:
            raise ValueError(f"the reader of {self.info.path} is closed")
        return self._decoder

    def close(self) -> None:
        """Close the file (again: nothing happens)."""
        self._close()
        self._decoder = None


def read_frames(path: str | os.PathLike, indices: Sequence[int], dtype: type | None = None) -> Iterator[np.ndarray]:
    """Yield the RGB frames at ``indices``, in that order, as :meth:`FrameReader.frames` does, from a
    file opened when the first frame is taken and closed after the last.

    Indices are checked before anything is decoded, so a bad one fails the call itself.
    """
    return _read(path, _checked(probe(path), indices), dtype)


def _read(path: str | os.PathLike, wanted: list[int], dtype: type | None) -> Iterator[np.ndarray]:
    with FrameReader(path, dtype) as reader:
        yield from reader.frames(wanted)


def encoding_for(path: str | os.PathLike) -> str:
    """The codec a file name implies: '.mov' -> 'prores' (the default deliverable), '.mp4' -> 'h264'."""
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext not in _CONTAINERS:
        raise MediaError("encode_failed", f"cannot write {os.fspath(path)}: use a .mov or .mp4 name")
    return "prores" if _CONTAINERS[ext] == "mov" else "h264"


def _check_timecode(timecode: str, rate: Fraction, path: str) -> str:
    """Refuse a timecode the muxer would reject or misread, before anything is written."""
    try:
        timecode_to_frame(timecode, rate)
    except RequestError as exc:
        raise MediaError("encode_failed", f"cannot write {path}: {exc.message}") from None
    if is_drop_frame_timecode(timecode) and not has_drop_frame(rate):
        raise MediaError("encode_failed", f"cannot write {path}: start timecode {timecode!r} is drop-frame, "
                         f"which {rate_label(rate)} fps does not count")
    return timecode


def _tag_value(names: dict[int, str], value: str | None, what: str, path: str) -> int | None:
    if value is None:
        return None
    for number, name in names.items():
        if name == value:
            return number
    raise MediaError("encode_failed", f"cannot write {path}: unknown {what} {value!r} "
                     f"(FFmpeg names: {', '.join(names.values())})")


def _set_tags(target: av.VideoFrame | av.video.codeccontext.VideoCodecContext,
              tags: tuple[int | None, ...]) -> None:
    for attr, value in zip(("color_primaries", "color_trc", "colorspace", "color_range"), tags):
        if value is not None:
            setattr(target, attr, value)


class MediaWriter:
    """Encode RGB frames to ``path``, atomically.

    Frames go to a hidden temporary file beside ``path`` ('.<name>.part-<random>'), renamed
    onto ``path`` only when the ``with`` block ends cleanly; on any exception (a job's
    ``Canceled`` included) the temporary file is deleted and the exception goes on, so no
    half-written file ever carries the final name.

    ``codec`` 'prores' (default for .mov): ProRes 422 HQ, 10-bit 4:2:2, whatever ``bit_depth``
    says (ProRes has no 8-bit form; prores_ks writes at most 10 bits). 'h264' (default for
    .mp4): libx264 CRF 16, 4:2:0, 8-bit for ``bit_depth`` 8 and 10-bit above. The timeline
    rate is exact (time base 1/rate, pts = frame number); ``start_timecode`` becomes a
    QuickTime tmcd track; ``metadata`` keys are written as-is (mov/mp4 'mdta' tags);
    ``color`` is tagged and used for the RGB->YUV matrix (None: BT.709 for HD, BT.601 for SD).
    ``audio`` becomes an audio stream at its own rate and layout (24-bit PCM in .mov, AAC in
    .mp4), interleaved with the frames; it must last exactly the frames written, to the sample.
    """

    def __init__(self, path: str | os.PathLike, *, width: int, height: int, rate: Fraction,
                 codec: str | None = None, start_timecode: str | None = None,
                 metadata: dict[str, str] | None = None, color: ColorTags | None = None,
                 bit_depth: int = 10, audio: Audio | None = None):
        self.path = os.fspath(path)
        self.frames_written = 0
        codec = codec or encoding_for(self.path)
        ext = os.path.splitext(self.path)[1].lower()
        if codec not in ("prores", "h264") or ext not in _CONTAINERS or (
                codec == "prores" and _CONTAINERS[ext] != "mov"):
            raise MediaError("encode_failed", f"cannot write {self.path}: codec {codec!r} is not "
                             "supported there (prores in .mov, h264 in .mov or .mp4)")
        rate = Fraction(rate)
        if rate <= 0:
            raise MediaError("encode_failed", f"cannot write {self.path}: frame rate {rate} is not positive")
        if width <= 0 or height <= 0 or width % 2 or (codec == "h264" and height % 2):
            need = "width" if codec == "prores" else "width and height"
            raise MediaError("encode_failed", f"cannot write {self.path}: {width}x{height} is not a "
                             f"valid {codec} size ({need} must be even; make the canvas even)")
        self.width, self.height, self.rate = width, height, rate
        if color is None:  # nothing to keep: say what the pixels are
            name = "bt709" if _is_hd(width, height) else "smpte170m"
            color = ColorTags(name, name, name, "tv")
        tags = (_tag_value(PRIMARIES, color.primaries, "colour primaries", self.path),
                _tag_value(TRC, color.trc, "transfer", self.path),
                _tag_value(SPACE, color.space, "colour space", self.path),
                _tag_value(RANGE, color.range, "colour range", self.path))
        self._space = _matrix(tags[2], width, height)
        if tags[2] is not None and tags[2] != self._space:  # e.g. 'gbr' from an RGB source: our
            tags = (tags[0], tags[1], self._space, tags[3])  # output is YUV, tag its real matrix
        self._tags = tags
        self._full = tags[3] == 2
        self._pix_fmt = ("yuv422p10le" if codec == "prores"
                         else "yuv420p" if bit_depth <= 8 else "yuv420p10le")
        timecode = start_timecode and _check_timecode(start_timecode, rate, self.path)
        self._audio: AudioTrack | None = None

        folder, name = os.path.split(os.path.abspath(self.path))
        self._temp = os.path.join(folder, f".{name}.part-{secrets.token_hex(4)}")
        try:
            self._container = av.open(self._temp, "w", format=_CONTAINERS[ext],
                                      options={"movflags": "use_metadata_tags", **(
                                          # edit lists in samples: AAC's stated length exact to one
                                          {"movie_timescale": str(audio.rate)} if audio else {})})
        except (av.FFmpegError, OSError) as e:
            raise MediaError("encode_failed", f"cannot write {self.path}: {e}") from e
        try:
            for key, value in (metadata or {}).items():
                self._container.metadata[str(key)] = str(value)
            stream = self._container.add_stream("prores_ks" if codec == "prores" else "libx264",
                                                rate=rate)
            stream.width, stream.height, stream.pix_fmt = width, height, self._pix_fmt
            stream.time_base = 1 / rate
            if timecode:
                stream.metadata["timecode"] = timecode  # the mov/mp4 muxer makes a tmcd track of it
            cc = stream.codec_context
            _set_tags(cc, tags)
            cc.options = {"profile": "hq"} if codec == "prores" else {"crf": "16"}
            self._stream = stream
            if audio is not None:
                self._audio = AudioTrack(self._container, audio, quicktime=_CONTAINERS[ext] == "mov",
                                         rate=rate, path=self.path)
            self._container.start_encoding()  # header and encoder now: bad settings fail here
        except (av.FFmpegError, OSError, ValueError) as e:
            self._discard()
            raise MediaError("encode_failed", f"cannot write {self.path}: {e}") from e
        except BaseException:
            self._discard()
            raise

    def __enter__(self) -> MediaWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is not None:
            self._discard()
            return
        try:
            if self.frames_written == 0:
                raise MediaError("encode_failed", f"nothing written to {self.path}: no frames")
            if self._audio is not None:
                self._audio.finish(self.frames_written)
            self._mux(None)
            self._container.close()
            with open(self._temp, "rb+") as f:
                os.fsync(f.fileno())  # the rename must never expose an incomplete file
            os.replace(self._temp, self.path)
        except MediaError:
            self._discard()
            raise
        except (av.FFmpegError, OSError) as e:
            self._discard()
            raise MediaError("encode_failed", f"cannot finish {self.path}: {e}") from e

    def write(self, frame: np.ndarray) -> None:
        """Append one RGB frame, (height, width, 3), uint8 or uint16 (full 0..65535 scale)."""
        n = self.frames_written
        if frame.shape != (self.height, self.width, 3) or frame.dtype not in (np.uint8, np.uint16):
            raise MediaError("encode_failed", f"frame {n} for {self.path} is {frame.dtype} "
                             f"{frame.shape}; expected uint8 or uint16 ({self.height}, {self.width}, 3)")
        yuv = _to_yuv(frame, self._pix_fmt, self._space, self._full)
        _set_tags(yuv, self._tags)  # prores_ks writes each frame's own tags into its header
        yuv.pts = n
        self._mux(yuv, n)
        self.frames_written = n + 1
        if self._audio is not None:  # the sound under this frame, so the file interleaves
            self._audio.under(n + 1)

    def _mux(self, frame: av.VideoFrame | None, n: int | None = None) -> None:
        try:
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        except (av.FFmpegError, OSError) as e:
            where = f"frame {n} of {self.path}" if n is not None else self.path
            raise MediaError("encode_failed", f"cannot encode {where}: {e}") from e

    def _discard(self) -> None:
        """Close and delete the temporary file; the final name is never touched."""
        try:
            self._container.close()
        except (av.FFmpegError, OSError):
            pass  # the file is deleted next; its trailer no longer matters
        try:
            os.remove(self._temp)
        except FileNotFoundError:
            pass
