"""Find things on a timeline: its rate, its video tracks, the item at a record frame.

Record frames are counted from the timeline's first frame (``global_start_time`` excluded),
as the request's ``frame`` is.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import opentimelineio as otio

from otio_tools.errors import RequestError
from otio_tools.timing import timeline_rate, to_frame


@dataclass(frozen=True)
class TrackItem:
    """A clip, gap or nested stack on a track, with its record frames ``[start, end)``."""

    item: otio.core.Item
    index: int  # position among the track's children (transitions included)
    start: int
    end: int

    @property
    def duration(self) -> int:
        return self.end - self.start

    @property
    def is_gap(self) -> bool:
        return isinstance(self.item, otio.schema.Gap)

    @property
    def is_clip(self) -> bool:
        return isinstance(self.item, otio.schema.Clip)

    def describe(self) -> str:
        kind = "gap" if self.is_gap else "nested sequence" if isinstance(self.item, otio.schema.Stack) else "clip"
        name = f" '{self.item.name}'" if self.item.name and not self.is_gap else ""
        return f"{kind}{name} (frames {self.start}-{self.end - 1})"


def track_label(index: int) -> str:
    """'video track 0 (V1)': the request's 0-based index and the name an editor sees."""
    return f"video track {index} (V{index + 1})"


def rate_of(timeline: otio.schema.Timeline) -> Fraction:
    """The timeline's exact rate: from its global start time, else from its first timed item."""
    if timeline.global_start_time is not None:
        return timeline_rate(timeline.global_start_time.rate)
    for track in timeline.video_tracks():
        for child in track:
            if not isinstance(child, otio.schema.Transition):
                return timeline_rate(child.duration().rate)
    raise RequestError("empty_timeline", "the timeline has no video items, so its frame rate is unknown")


def start_frame(timeline: otio.schema.Timeline, rate: Fraction) -> int:
    """The timeline's first frame as a frame count (e.g. 86400 for 01:00:00:00 at 24 fps)."""
    return 0 if timeline.global_start_time is None else to_frame(timeline.global_start_time, rate)


def video_track(timeline: otio.schema.Timeline, index: int) -> otio.schema.Track:
    tracks = timeline.video_tracks()
    if index >= len(tracks):
        raise RequestError(
            "no_such_track",
            f"{track_label(index)} does not exist: the timeline has {len(tracks)} video track(s), counted from 0",
        )
    return tracks[index]


def track_items(track: otio.schema.Track, rate: Fraction) -> list[TrackItem]:
    """Clips, gaps and nested stacks of a track with record frames; transitions take no time."""
    offset = 0 if track.source_range is None else to_frame(track.source_range.start_time, rate)
    items = []
    for index, child in enumerate(track):
        if isinstance(child, otio.schema.Transition):
            continue
        record = track.range_of_child_at_index(index)
        # Both ends rounded from the track's own times, so neighbours always meet exactly.
        start = to_frame(record.start_time, rate) - offset
        end = to_frame(record.end_time_exclusive(), rate) - offset
        items.append(TrackItem(child, index, start, end))
    return items


def transition_cut(items: dict[int, TrackItem], index: int) -> int:
    """The record frame of the cut the transition at child ``index`` of a track sits on, from the
    track's items by child index (:func:`track_items`): where the item before it ends, else where
    the item after it starts."""
    if index - 1 in items:
        return items[index - 1].end
    return items[index + 1].start if index + 1 in items else 0


def item_at(items: list[TrackItem], frame: int) -> TrackItem | None:
    """The item whose record range holds ``frame`` (zero-length items hold no frame)."""
    for item in items:
        if item.start <= frame < item.end:
            return item
    return None


def track_end(items: list[TrackItem]) -> int:
    return items[-1].end if items else 0


def timeline_length(timeline: otio.schema.Timeline, rate: Fraction) -> int:
    """Frames from the timeline's first frame to the end of its last video item."""
    return max((track_end(track_items(track, rate)) for track in timeline.video_tracks()), default=0)
