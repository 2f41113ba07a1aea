"""From a clip to its media: the file it points at, and which media frame each record frame shows.

Exports disagree on how a clip's source range relates to its file:
- OTIO's own convention: ``source_range`` is a time in the media, comparable with the media
  reference's ``available_range`` (which starts at the file's timecode), at any rate.
- DaVinci Resolve's OTIO export (timeline metadata ``Resolve_OTIO``) writes source starts as
  the media's own frame numbers but labels them with the timeline rate, not rescaled when the
  media runs at another rate. Their frame *numbers* are right; their rate is not.
- EDLs carry no media ranges at all: source times are timecodes of the file (hand-made
  timelines without media ranges may count from the file's first frame instead).
The facts about the file itself (rate, length, timecode) come from probing it, passed in.

Retimed clips (``otio_tools.retime``): a clip's speed is the product of its ``LinearTimeWarp``
``time_scalar`` values (``FreezeFrame`` is one with scalar 0: a held frame); any other time
effect is refused. The convention, OpenTimelineIO's as Resolve's native export, Avid AAF and the
Premiere panel write it:
- ``source_range.duration`` is the clip's RECORD duration (timeline frames);
- ``source_range.start_time`` is the first (lowest) media frame of the span the clip uses,
  located in the file as above;
- the span is duration x |speed| frames at the timeline rate, i.e. duration x |speed| x
  media rate / timeline rate media frames (``span``, rounded up, at least the one frame);
- record offset k (0 = the clip's first record frame; negative or past its end for handles)
  shows media index ``first + floor(k x |speed| x media rate / timeline rate)`` forwards, and
  ``first + span - 1 - floor(k x |speed| x media rate / timeline rate)`` in reverse (speed < 0):
  a reversed clip shows the span's LAST frame at its first record frame and plays backwards, so
  its tail handles are media frames before the span and its head handles frames after it; a
  held frame (speed 0) shows ``first`` at every offset, handles included.
At speed 1 forwards this is the plain mixed-rate mapping (``timing.media_index_step``).
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from fractions import Fraction

import opentimelineio as otio

from otio_tools.errors import RequestError
from otio_tools.retime import ClipTime, clip_speed
from otio_tools.timing import exact_rate, timecode_to_frame, to_frame


@dataclass(frozen=True)
class MediaFacts:
    """What the planner needs to know about a media file (the server probes it)."""

    path: str
    width: int
    height: int
    rate: Fraction
    frames: int
    start_timecode: str | None = None

    def timecode_frame(self) -> int:
        """The file's first frame as a timecode frame count (0 when it has no timecode)."""
        return 0 if not self.start_timecode else timecode_to_frame(self.start_timecode, self.rate)


def is_resolve_export(timeline: otio.schema.Timeline) -> bool:
    return "Resolve_OTIO" in timeline.metadata


def media_path(clip: otio.schema.Clip, where: str) -> str:
    """The path of the file a clip plays, or a :class:`RequestError` saying why there is none.

    ``where`` names the clip for the message ("clip 'A003' at frame 120 on video track 0 (V1)").
    """
    ref = clip.media_reference
    if isinstance(ref, otio.schema.GeneratorReference):
        kind = ref.generator_kind or "generator"
        raise RequestError("media_not_file", f"{where} is a generated {kind}, not a media file")
    if not isinstance(ref, otio.schema.ExternalReference) or not ref.target_url:
        raise RequestError("media_missing", f"{where} has no media reference (offline or missing media)")
    return path_from_url(ref.target_url, where)


def path_from_url(url: str, where: str = "media") -> str:
    """A filesystem path from a file URL or plain path, as editors write them.

    ``file://localhost/D%3a/media/a.mov`` (Premiere on Windows) → ``D:/media/a.mov``.
    """
    if re.match(r"^[A-Za-z]:", url):
        return url  # a bare Windows path: C:\media\a.mov (its drive letter is no URL scheme)
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "":
        return url
    if parsed.scheme == "file":
        path = urllib.parse.unquote(parsed.path)
        if parsed.netloc not in ("", "localhost"):
            return f"//{parsed.netloc}{path}"  # UNC share: file://server/share/a.mov
        return path[1:] if re.match(r"^/[A-Za-z]:([/\\]|$)", path) else path
    raise RequestError("media_not_file", f"{where} points at {url!r}, which is not a local file")


def first_media_frame(clip: otio.schema.Clip, facts: MediaFacts, resolve_export: bool, where: str) -> int:
    """The 0-based index in the file of the first frame the clip shows."""
    start = clip.source_range.start_time if clip.source_range else None
    if start is None:
        return 0
    available = clip.media_reference.available_range if clip.media_reference else None
    if resolve_export:
        # Frame numbers are the media's own; the rate label is the timeline's (see module doc).
        origin = available.start_time.value if available is not None else facts.timecode_frame()
        index = round(start.value - origin)
    elif available is not None:
        index = to_frame(start - available.start_time.rescaled_to(start.rate), facts.rate)
    else:
        # No media range (EDLs, hand-made timelines): a source time at or past the file's timecode
        # is a timecode; one before it can only count from the file's first frame.
        index = to_frame(start, facts.rate)
        if index >= facts.timecode_frame():
            index -= facts.timecode_frame()
    if not 0 <= index < facts.frames:
        raise RequestError(
            "source_out_of_media",
            f"{where} starts at source frame {index}, outside its media {facts.path} ({facts.frames} frames)",
        )
    return index


def clip_time(clip: otio.schema.Clip, first: int, duration: int, facts: MediaFacts, record_rate: Fraction,
              where: str) -> ClipTime:
    """How ``clip`` (``duration`` record frames from media index ``first``) maps record offsets to
    media indices, its speed and the file's rate included (see the module doc). Indices may fall
    outside the file; callers check."""
    return ClipTime(first, duration, clip_speed(clip, where), exact_rate(facts.rate) or facts.rate,
                    record_rate)
