"""Where a result goes: the video track that is free over its whole record range (DESIGN.md "Placement").

Free means only gaps there, or past the track's end. Any clip (enabled or not), nested stack or
transition over the range occupies it; a transition covers ``in_offset`` before its cut and
``out_offset`` after it. ``auto`` takes the request's track when it is free, else the lowest free
track above it; ``above`` always the lowest free track above; either makes a new track on top
(index = number of video tracks) when none is free. ``overwrite`` is the request's track, as asked.

A result with sound (room tone under extension and gap fill frames) also gets an audio track
(``with_audio_tracks``): the one holding the source clip's own sound, an audio clip of the same
media under its record range (for a gap fill, the clip before the gap, else the one after),
when that is free over the result's record range; else the lowest free audio track above it;
else a new one (index = number of audio tracks). Without the source's sound on the timeline,
the lowest free audio track. ``overwrite`` overwrites the picture only: the editor's audio is
never removed for room tone (as both plugins place it). Handles placed straight from their own
file carry their own sound on the same track: the room tone was made from that file's audio and
joins it at the handles' end.
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import opentimelineio as otio

from otio_tools.errors import RequestError
from otio_tools.media import path_from_url
from otio_tools.request import request_from_timeline
from otio_tools.timeline import TrackItem, item_at, track_items, video_track
from otio_tools.timing import to_frame


def occupied_ranges(track: otio.schema.Track, rate: Fraction) -> list[tuple[int, int]]:
    """Record ranges ``[start, end)`` that something other than a gap covers on ``track``."""
    items = track_items(track, rate)
    taken = [(item.start, item.end) for item in items if not item.is_gap and item.duration > 0]
    by_index = {item.index: item for item in items}
    for index, child in enumerate(track):
        if isinstance(child, otio.schema.Transition):
            before, after = by_index.get(index - 1), by_index.get(index + 1)
            cut = after.start if after is not None else before.end if before is not None else 0
            taken.append((cut - to_frame(child.in_offset, rate), cut + to_frame(child.out_offset, rate)))
    return [(start, end) for start, end in taken if end > start]


def is_free(track: otio.schema.Track, rate: Fraction, start: int, end: int) -> bool:
    """Whether ``[start, end)`` on ``track`` holds only gaps (or lies past the track's end)."""
    return all(taken_end <= start or taken_start >= end for taken_start, taken_end in occupied_ranges(track, rate))


def choose_track(timeline: otio.schema.Timeline, rate: Fraction, target: int, placement: str,
                 start: int, end: int) -> int:
    """The video track index a result covering record frames ``[start, end)`` goes on."""
    tracks = timeline.video_tracks()
    if placement == "overwrite" or target > len(tracks):
        video_track(timeline, target)  # refused with a message naming the track (one past the top is a new track)
    if placement == "overwrite":
        return target
    if placement == "auto" and target < len(tracks) and is_free(tracks[target], rate, start, end):
        return target
    return lowest_free(tracks, rate, target + 1, start, end)


def lowest_free(tracks: list[otio.schema.Track], rate: Fraction, first: int, start: int, end: int) -> int:
    """The lowest of ``tracks`` from index ``first`` up that is free over ``[start, end)``; when
    none is, ``len(tracks)``: a new track on top."""
    return next((index for index in range(first, len(tracks)) if is_free(tracks[index], rate, start, end)),
                len(tracks))


def sound_track(timeline: otio.schema.Timeline, rate: Fraction, own: int | None, start: int, end: int) -> int:
    """The audio track a result's sound over record frames ``[start, end)`` goes on in free space:
    ``own`` (the source's sound track, :func:`source_sound_track`) when free there, else the
    lowest free one above it, else a new one; without ``own``, the lowest free audio track."""
    return lowest_free(timeline.audio_tracks(), rate, own or 0, start, end)


def with_audio_tracks(timeline: otio.schema.Timeline, rate: Fraction, placements: list, new_media: str) -> list:
    """``placements`` with one audio track for the pieces of a result whose ``new_media`` has sound
    (its sound covers the same frames), chosen over the record range they cover together (see the
    module doc). ``timeline`` is the request timeline: its ``metadata.shotforge`` says the edit."""
    if not new_media or all(piece.media != new_media for piece in placements):
        return list(placements)
    request = request_from_timeline(timeline)
    start = min(piece.record_frame for piece in placements)
    end = max(piece.record_frame + piece.frames for piece in placements)
    index = sound_track(timeline, rate, source_sound_track(timeline, rate, request.track, request.frame), start, end)
    return [dataclasses.replace(piece, audio_track=index) for piece in placements]


def source_sound_track(timeline: otio.schema.Timeline, rate: Fraction, track: int, frame: int | None) -> int | None:
    """The audio track holding the sound of the clip at ``frame`` on video ``track`` (for a gap,
    of the clip before it, else after it): an audio clip of the same media under the clip, the
    linked one (the same record range) first, else the one covering most of it, then the lowest
    track; None when no such clip's sound is on the timeline."""
    if frame is None:
        return None
    items = track_items(video_track(timeline, track), rate)
    at = item_at(items, frame)
    if at is None:
        return None
    position = items.index(at)
    sources = [at] if at.is_clip else [items[k] for k in (position - 1, position + 1) if 0 <= k < len(items)]
    audio = [(index, entry) for index, track_ in enumerate(timeline.audio_tracks())
             for entry in track_items(track_, rate) if entry.is_clip]
    for source in (s for s in sources if s.is_clip):
        media = _media_of(source)
        linked = [(entry.start != source.start or entry.end != source.end, -_overlap(entry, source), index)
                  for index, entry in audio if media and _media_of(entry) == media and _overlap(entry, source) > 0]
        if linked:
            return min(linked)[2]
    return None


def _media_of(entry: TrackItem) -> str | None:
    reference = entry.item.media_reference
    if not isinstance(reference, otio.schema.ExternalReference) or not reference.target_url:
        return None
    try:
        return path_from_url(reference.target_url)
    except RequestError:
        return None


def _overlap(a: TrackItem, b: TrackItem) -> int:
    return min(a.end, b.end) - max(a.start, b.start)
