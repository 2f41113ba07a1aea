"""Batch and storyboard, the editorial half: what a marked-up timeline asks for, and one result
timeline carrying every item's result.

Items, each a request of its own (:func:`find_items`):

* every gap of at most N frames between two clips, on the tracks asked for: a ``fill_gap``;
* every clip carrying a marker whose name or note says ``sf extend tail 24`` (or ``head``): an
  ``extend`` of that clip by that many frames;
* every marker with a duration whose name or note says ``sf generate: <prompt>``: a ``generate``
  of exactly its range (a clip's or a track's marker on that track, a timeline marker on V1).

Markers are read the way editors' exports carry them: the marker's name, and any text in its
metadata (Resolve's ``Note``, FCP's ``comment``, a CEP panel's ``note``). A marker that asks for
something ShotForge cannot do (no length, a generate without a duration) is named, not skipped.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import opentimelineio as otio

from otio_tools.placement import lowest_free
from otio_tools.splice import place_in_free_space, track_or_new
from otio_tools.timeline import item_at, rate_of, start_frame, track_items, track_label
from otio_tools.timing import to_frame

_EXTEND = re.compile(r"\bsf\s+extend\s+(head|tail)\s*(\d*)", re.IGNORECASE)
_GENERATE = re.compile(r"\bsf\s+generate\s*:\s*(.*)", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class BatchItem:
    """One request of the batch: ``key`` names it stably (the same timeline gives the same keys)."""

    key: str
    request: dict  # metadata.shotforge of the item's request (without engine and seed)
    where: str  # the clip, gap or marker, in an editor's words

    @property
    def operation(self) -> str:
        return self.request["operation"]


@dataclass(frozen=True)
class MarkerProblem:
    where: str
    reason: str


@dataclass
class Storyboard:
    items: list[BatchItem] = field(default_factory=list)
    problems: list[MarkerProblem] = field(default_factory=list)


def marker_text(marker: otio.schema.Marker) -> str:
    """A marker's name and every text in its metadata, one per line."""
    texts = [marker.name or ""]

    def walk(value: Any) -> None:
        if isinstance(value, str):
            texts.append(value)
        elif hasattr(value, "items"):
            for v in value.values():
                walk(v)
        elif isinstance(value, Iterable):
            for v in value:
                walk(v)

    walk(marker.metadata)
    return "\n".join(t for t in texts if t)


def find_items(timeline: otio.schema.Timeline, *, fill_gaps_up_to: int = 0,
               tracks: Iterable[int] | None = None) -> Storyboard:
    """Every item the timeline asks for, in a fixed order: gap fills, extensions, generates, each
    by track then record frame."""
    rate = rate_of(timeline)
    video = timeline.video_tracks()
    chosen = sorted(set(tracks)) if tracks is not None else list(range(len(video)))
    for index in chosen:
        if not 0 <= index < len(video):
            raise ValueError(f"{track_label(index)} does not exist: the timeline has {len(video)} video track(s)")
    board = Storyboard()
    gaps, extends, generates = [], [], []
    for t in chosen:
        items = track_items(video[t], rate)
        for position, entry in enumerate(items):
            if entry.is_gap and 0 < entry.duration <= fill_gaps_up_to and _between_clips(items, position):
                gaps.append(BatchItem(f"fill_gap V{t + 1} {entry.start}",
                                      {"operation": "fill_gap", "track": t, "frame": entry.start},
                                      f"the gap at frames {entry.start}-{entry.end - 1} on {track_label(t)}"))
            if not entry.is_clip:
                continue
            for marker in entry.item.markers:
                where = f"marker '{marker.name}' on {entry.describe()} on {track_label(t)}"
                first = to_frame(marker.marked_range.start_time, rate) - _source_start(entry.item, rate)
                _read_marker(board, marker, where, t, entry.start + first, entry, extends, generates, rate)
        for marker in video[t].markers:
            where = f"marker '{marker.name}' on {track_label(t)}"
            _read_marker(board, marker, where, t, to_frame(marker.marked_range.start_time, rate), None, extends,
                         generates, rate)
    origin = start_frame(timeline, rate)
    for marker in timeline.tracks.markers:
        where = f"timeline marker '{marker.name}'"
        start = to_frame(marker.marked_range.start_time, rate)
        start = start - origin if origin and start >= origin else start  # exports count from the start timecode
        _read_marker(board, marker, where, 0, start, None, extends, generates, rate)
    board.items = gaps + extends + generates
    return board


def _between_clips(items: list, position: int) -> bool:
    before = next((i for i in reversed(items[:position]) if i.duration > 0), None)
    after = next((i for i in items[position + 1:] if i.duration > 0), None)
    return bool(before and after and before.is_clip and after.is_clip)


def _source_start(clip: otio.schema.Clip, rate: Fraction) -> int:
    return to_frame(clip.source_range.start_time, rate) if clip.source_range else 0


def _read_marker(board: Storyboard, marker: otio.schema.Marker, where: str, track: int, record: int, clip,
                 extends: list, generates: list, rate: Fraction) -> None:
    text = marker_text(marker)
    extend = _EXTEND.search(text)
    generate = _GENERATE.search(text)
    if extend:
        side, count = extend.group(1).lower(), extend.group(2)
        if clip is None:
            board.problems.append(MarkerProblem(where, f"'{extend.group(0)}' is on no clip: put it on the clip "
                                                       "to extend"))
        elif not count or int(count) == 0:
            board.problems.append(MarkerProblem(where, f"'{extend.group(0)}' says no length: write e.g. "
                                                       f"'sf extend {side} 24' (frames)"))
        else:
            extends.append(BatchItem(f"extend {side} V{track + 1} {clip.start}",
                                     {"operation": "extend", "track": track, "frame": clip.start, "side": side,
                                      "frames": int(count)}, where))
    if generate:
        duration = to_frame(marker.marked_range.duration, rate)
        prompt = generate.group(1).strip().splitlines()[0].strip() if generate.group(1).strip() else ""
        if duration <= 0:
            board.problems.append(MarkerProblem(where, "'sf generate:' needs a duration marker: its range is "
                                                       "what is generated"))
        elif record < 0:
            board.problems.append(MarkerProblem(where, f"it starts {-record} frames before the timeline's start"))
        else:
            generates.append(BatchItem(f"generate V{track + 1} {record}-{record + duration}",
                                       {"operation": "generate", "track": track, "range": [record, record + duration],
                                        "prompt": prompt}, where))


def combine(timeline: otio.schema.Timeline, results: list[tuple[otio.schema.Clip, dict]]) -> list[dict]:
    """Put every item's new clips (each clip with its placement: media, track, record_frame,
    source_in, frames, and ``audio_track`` when it has sound) on ``timeline``, in order, into free
    space only: a clip whose track is taken there by an earlier item goes on the lowest free track
    above, else on a new one. Its sound, a clip of the same media with the same record frames and
    source range (as :func:`otio_tools.splice.splice_result` makes it), goes on its audio track by
    the same rule. Changes ``timeline`` in place; returns the placements as made."""
    rate = rate_of(timeline)
    placed = []
    for clip, placement in results:
        start, end = placement["record_frame"], placement["record_frame"] + placement["frames"]
        made = dict(placement)
        made["track"] = _place(timeline, otio.schema.TrackKind.Video, placement["track"], clip, start, end, rate)
        if placement.get("audio_track") is not None:
            made["audio_track"] = _place(timeline, otio.schema.TrackKind.Audio, placement["audio_track"], clip,
                                         start, end, rate)
        placed.append(made)
    return placed


def _place(timeline: otio.schema.Timeline, kind: str, wanted: int, clip: otio.schema.Clip, start: int, end: int,
           rate: Fraction) -> int:
    """Put a copy of ``clip`` over record frames ``[start, end)`` on the ``kind`` track ``wanted``
    when it is free there, else on the lowest free one above, else on a new one on top; its index."""
    tracks = timeline.video_tracks() if kind == otio.schema.TrackKind.Video else timeline.audio_tracks()
    index = lowest_free(tracks, rate, wanted, start, end)
    place_in_free_space(track_or_new(timeline, index, kind), copy.deepcopy(clip), start, rate)
    return index


def clip_of(result: otio.schema.Timeline, placement: dict) -> otio.schema.Clip:
    """The clip a job's result.otio holds for one of its placements."""
    rate = rate_of(result)
    found = item_at(track_items(result.video_tracks()[placement["track"]], rate), placement["record_frame"])
    if found is None or not found.is_clip:
        raise ValueError(f"the result has no clip at record frame {placement['record_frame']} on "
                         f"{track_label(placement['track'])}")
    return found.item
