"""Opening source media and describing its first video stream: the layer :mod:`server.media_io`
(frames, writing) and :mod:`server.media_audio` (sound) both read through.

Source media is opened only by :func:`open_source`, with the one demuxer its first bytes name
(see :mod:`server.media_formats`), whatever reads it.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from fractions import Fraction

import av
import numpy as np

from otio_tools.errors import ShotForgeError
from server.media_formats import identify, open_options

# FFmpeg's names for the colour enums (av_color_*_name); "unspecified" is None.
PRIMARIES = {1: "bt709", 4: "bt470m", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 8: "film",
             9: "bt2020", 10: "smpte428", 11: "smpte431", 12: "smpte432", 22: "ebu3213"}
TRC = {1: "bt709", 4: "gamma22", 5: "gamma28", 6: "smpte170m", 7: "smpte240m", 8: "linear",
       9: "log100", 10: "log316", 11: "iec61966-2-4", 12: "bt1361e", 13: "iec61966-2-1",
       14: "bt2020-10", 15: "bt2020-12", 16: "smpte2084", 17: "smpte428", 18: "arib-std-b67"}
SPACE = {0: "gbr", 1: "bt709", 4: "fcc", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 8: "ycgco",
         9: "bt2020nc", 10: "bt2020c", 11: "smpte2085", 12: "chroma-derived-nc",
         13: "chroma-derived-c", 14: "ictcp"}
RANGE = {1: "tv", 2: "pc"}


class MediaError(ShotForgeError, RuntimeError):
    """Media cannot be read or written; ``message`` names the file (and frame).

    Codes: ``media_missing``, ``media_unreadable``, ``media_not_video`` (a playlist, list, text or
    still file, never read), ``frame_out_of_range``, ``encode_failed``.
    """


@dataclass(frozen=True)
class ColorTags:
    """Colour description in FFmpeg's names ('bt709', 'smpte170m', 'tv', 'pc'); None = untagged."""

    primaries: str | None = None
    trc: str | None = None
    space: str | None = None
    range: str | None = None


@dataclass(frozen=True)
class MediaInfo:
    """The first video stream of a file, as the reader sees it."""

    path: str
    width: int
    height: int
    rate: Fraction  # exact, e.g. 24000/1001
    frames: int  # decodable frames; counted by decoding when the container does not say
    codec: str
    pix_fmt: str
    bit_depth: int
    color: ColorTags
    start_timecode: str | None  # e.g. '01:00:00:00', or '00:59:59;28' for drop-frame
    metadata: dict[str, str] = field(default_factory=dict, hash=False)  # container tags as read

    @property
    def dtype(self) -> type:
        """The numpy dtype frames of this media are read as."""
        return np.uint8 if self.bit_depth <= 8 else np.uint16


@dataclass(frozen=True)
class Layout:
    """What reading needs beyond MediaInfo: where frame 0 sits on the stream's clock."""

    info: MediaInfo
    first_pts: int
    time_base: Fraction


def open_source(path: str) -> av.container.InputContainer:
    """Open source media with the one demuxer its first bytes name (see :mod:`server.media_formats`)."""
    if not os.path.exists(path):
        raise MediaError("media_missing", f"media file not found: {path}")
    try:
        container = identify(path)
    except OSError as e:
        raise MediaError("media_unreadable", f"cannot read media {path}: {e.strerror or e}") from e
    if container.demuxer is None:
        raise MediaError("media_not_video", f"{path} is {container.what}, not a media file")
    try:
        return av.open(os.path.abspath(path), "r", format=container.demuxer,
                       options=open_options(container.demuxer))
    except (av.FFmpegError, OSError) as e:
        raise MediaError("media_unreadable", f"cannot open media {path} as {container.what}: {e}") from e


def video_stream(container: av.container.InputContainer, path: str) -> av.VideoStream:
    """The first video stream, decoded with threads."""
    if not container.streams.video:
        raise MediaError("media_unreadable", f"no video stream in {path}")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    return stream


def _rate(stream: av.VideoStream, path: str) -> Fraction:
    """The average rate, snapped to the base rate when that is within 0.5% (ms-timestamp
    containers such as webm give averages like 2997/125 for 24000/1001)."""
    avg, base = stream.average_rate, stream.base_rate
    rate = avg or base or stream.guessed_rate
    if not rate or rate <= 0:
        raise MediaError("media_unreadable", f"cannot tell the frame rate of {path}")
    if avg and base and base != avg and abs(base / avg - 1) < Fraction(1, 200):
        rate = base
    return Fraction(rate)


def _timecode(container: av.container.InputContainer, stream: av.VideoStream) -> str | None:
    """Start timecode from the video stream, a tmcd/data stream, or the container (MXF, mkv)."""
    sources = [stream.metadata] + [s.metadata for s in container.streams if s.type == "data"]
    for meta in sources + [container.metadata]:
        if meta.get("timecode"):
            return meta["timecode"]
    return None


def _counted_frames(stream: av.VideoStream) -> int:
    """Frame count the container states, without edit-list-discarded samples; 0 if it says none."""
    if stream.frames <= 0:
        return 0
    entries = stream.index_entries
    if len(entries) == stream.frames:
        return sum(1 for e in entries if not e.is_discard)
    return stream.frames


@functools.lru_cache(maxsize=128)
def _layout_cached(path: str, _mtime_ns: int, _size: int) -> Layout:
    container = open_source(path)
    try:
        stream = video_stream(container, path)
        frames = _counted_frames(stream)
        first: av.VideoFrame | None = None
        decoded = 0
        try:
            for frame in container.decode(stream):
                if first is None:
                    first = frame
                decoded += 1
                if frames:  # the container says how many; one frame is enough for the rest
                    break
        except av.FFmpegError as e:
            raise MediaError("media_unreadable", f"cannot decode {path}: {e}") from e
        if first is None:
            raise MediaError("media_unreadable", f"no decodable video frames in {path}")
        if first.pts is None:
            raise MediaError("media_unreadable", f"video in {path} has no timestamps; "
                             "rewrap it into a .mov or .mp4")
        cc = stream.codec_context
        pix_fmt = cc.pix_fmt or first.format.name
        info = MediaInfo(
            path=path, width=cc.width or first.width, height=cc.height or first.height,
            rate=_rate(stream, path), frames=frames or decoded, codec=cc.name, pix_fmt=pix_fmt,
            bit_depth=av.VideoFormat(pix_fmt).components[0].bits,
            color=ColorTags(PRIMARIES.get(cc.color_primaries), TRC.get(cc.color_trc),
                            SPACE.get(cc.colorspace), RANGE.get(cc.color_range)),
            start_timecode=_timecode(container, stream), metadata=dict(container.metadata),
        )
        return Layout(info, first.pts, Fraction(stream.time_base))
    finally:
        container.close()


def layout(path: str | os.PathLike) -> Layout:
    """The :class:`Layout` of ``path`` (cached until the file changes)."""
    path = os.fspath(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise MediaError("media_missing", f"media file not found: {path}") from None
    except OSError as e:
        raise MediaError("media_unreadable", f"cannot read media {path}: {e}") from e
    return _layout_cached(path, st.st_mtime_ns, st.st_size)  # re-probed when the file changes


def probe(path: str | os.PathLike) -> MediaInfo:
    """Describe the first video stream of ``path`` (cached until the file changes)."""
    return layout(path).info
