"""Where a result goes: the video track that is free over its whole record range (DESIGN.md "Placement").

Free means only gaps there, or past the track's end. Any clip (enabled or not), nested stack or
transition over the range occupies it; a transition covers ``in_offset`` before its cut and
``out_offset`` after it. ``auto`` takes the request's track when it is free, else the lowest free
track above it; ``above`` always the lowest free track above; either makes a new track on top
(index = number of video tracks) when none is free. ``overwrite`` is the request's track, as asked.
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import opentimelineio as otio

from otio_tools.timeline import track_items, video_track
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
    above = range(target + 1, len(tracks))
    return next((index for index in above if is_free(tracks[index], rate, start, end)), len(tracks))


def with_audio_tracks(timeline: otio.schema.Timeline, rate: Fraction, placements: list, new_media: str) -> list:
    """``placements`` with an audio track for each piece of ``new_media`` (its sound covers the same
    frames): the lowest audio track free over the piece's record range, a new one when none is."""
    tracks = timeline.audio_tracks()
    placed = []
    for piece in placements:
        if piece.media == new_media:
            end = piece.record_frame + piece.frames
            free = (index for index, track in enumerate(tracks) if is_free(track, rate, piece.record_frame, end))
            piece = dataclasses.replace(piece, audio_track=next(free, len(tracks)))
        placed.append(piece)
    return placed
