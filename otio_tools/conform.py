"""Conform, the editorial half: find the ShotForge takes in an exported timeline and swap new
takes into their clips' slots.

A clip is a ShotForge take when its ``metadata.shotforge.take`` holds a recipe (OTIO exports keep
clip metadata) or, failing that, when its media file's tags do (interchange formats that drop clip
metadata still name the media). Placeholders (the classical engine's slates) come first; the
classical engine's other results only when asked for; takes of a model are already conformed.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction

import opentimelineio as otio

from otio_tools.errors import RequestError
from otio_tools.media import path_from_url
from otio_tools.takes import Take, take_from_metadata, take_from_tags
from otio_tools.timeline import rate_of, track_items, track_label
from otio_tools.timing import TimeRange, frames_time, timecode_to_frame, to_frame

#: ``read_tags(path) -> tags``, or None when the file is not there or not readable media
ReadTags = Callable[[str], Mapping[str, str] | None]


@dataclass(frozen=True)
class TakeClip:
    """A clip of the exported timeline that is a ShotForge take, where it is now."""

    track: int  # 0-based video track
    index: int  # position among the track's children
    record_frame: int
    frames: int
    name: str
    take: Take
    source_in: int  # first media frame the clip shows (an editor may have trimmed the take)

    def describe(self) -> str:
        return (f"clip '{self.name}' on {track_label(self.track)} at record frame {self.record_frame} "
                f"({self.frames} frames)")


@dataclass(frozen=True)
class Unreadable:
    """A clip whose take (in its metadata or media tags) could not be read: named, never skipped silently."""

    track: int
    record_frame: int
    name: str
    reason: str


def find_takes(timeline: otio.schema.Timeline, read_tags: ReadTags) -> tuple[list[TakeClip], list[Unreadable]]:
    """Every take clip on the timeline's video tracks, in track then record order, and the clips
    whose take could not be read."""
    rate = rate_of(timeline)
    found, unreadable = [], []
    for track_index, track in enumerate(timeline.video_tracks()):
        for item in track_items(track, rate):
            clip = item.item
            if not item.is_clip or item.duration <= 0:
                continue
            where = f"clip '{clip.name}' on {track_label(track_index)} at record frame {item.start}"
            try:
                take = _take_of(clip, read_tags, where)
            except RequestError as exc:
                unreadable.append(Unreadable(track_index, item.start, clip.name, exc.message))
                continue
            if take is not None:
                found.append(TakeClip(track_index, item.index, item.start, item.duration, clip.name, take,
                                      _source_in(clip, take, rate)))
    return found, unreadable


def _take_of(clip: otio.schema.Clip, read_tags: ReadTags, where: str) -> Take | None:
    take = take_from_metadata(clip.metadata, where)
    if take is not None:
        return take
    ref = clip.media_reference
    if not isinstance(ref, otio.schema.ExternalReference) or not ref.target_url:
        return None
    try:
        path = path_from_url(ref.target_url, where)
    except RequestError:
        return None  # not a local file: no ShotForge media
    tags = read_tags(path)
    return take_from_tags(tags, f"{where} (media {path})") if tags else None


def _source_in(clip: otio.schema.Clip, take: Take, rate: Fraction) -> int:
    """The take media's first shown frame: the clip's source start from the media's start."""
    start = clip.source_range.start_time if clip.source_range else None
    if start is None:
        return 0
    ref = clip.media_reference
    available = getattr(ref, "available_range", None)
    origin = (to_frame(available.start_time, rate) if available is not None
              else timecode_to_frame(take.media_start_timecode, rate) if take.media_start_timecode else 0)
    return max(0, to_frame(start, rate) - origin)


def select(found: list[TakeClip], include_classical: bool) -> tuple[list[TakeClip], list[TakeClip]]:
    """(to conform, left as they are): placeholders first, then classical results if asked for."""
    placeholders = [c for c in found if c.take.placeholder]
    classical = [c for c in found if not c.take.placeholder and c.take.engine == "classical"]
    chosen = placeholders + (classical if include_classical else [])
    return chosen, [c for c in found if c not in chosen]


def swap_in(timeline: otio.schema.Timeline, where: TakeClip, new_clip: otio.schema.Clip) -> int:
    """Put ``new_clip`` (a clip of the new take's whole media, as a result.otio holds it) in the
    slot of the clip ``where`` names, showing the same frames of it (the same trim); returns the
    source_in placed. Every other item is untouched."""
    rate = rate_of(timeline)
    track = timeline.video_tracks()[where.track]
    placed = copy.deepcopy(new_clip)
    media_start = placed.source_range.start_time
    placed.source_range = TimeRange(media_start + frames_time(where.source_in, rate).rescaled_to(media_start.rate),
                                    frames_time(where.frames, rate).rescaled_to(media_start.rate))
    placed.enabled = track[where.index].enabled
    track[where.index] = placed
    return where.source_in
