"""Splice a finished result into the request timeline: the ``result.otio`` of a job.

``auto`` and ``above`` (otio_tools.placement chose a track free over the whole range): the new
clip goes into free space, the gaps there split exactly, every clip and transition left as it
was; a track index one past the top adds a video track. ``overwrite``, only when the request
says so, is an editor's overwrite edit: the new clip replaces whatever the track held over its
record frames; items it only partly covers are trimmed; transitions touching the edit are
removed (their other side no longer exists).

A placement with an ``audio_track`` puts its sound there too: an audio clip of the same media with
the same record frames and source range, always into free space (an ``overwrite`` overwrites the
picture only); an index one past the last audio track adds an audio track.
"""

from __future__ import annotations

import copy
import pathlib
from fractions import Fraction

import opentimelineio as otio

from otio_tools.placement import is_free
from otio_tools.plan import Placement, Plan
from otio_tools.timeline import item_at, track_items
from otio_tools.timing import RationalTime, TimeRange, frames_range, frames_time, timecode_to_frame


def splice_result(timeline: otio.schema.Timeline, plan: Plan, placements: list[Placement],
                  made_by: dict) -> otio.schema.Timeline:
    """A copy of ``timeline`` with each placement on its track. ``made_by`` (engine, model, prompt,
    seed, placeholder, the take and its recipe) goes into each new clip's ``metadata["shotforge"]``."""
    result = copy.deepcopy(timeline)
    summary = {**made_by, "take": made_by["take"]["id"]} if "take" in made_by else made_by  # the recipe is on the clip
    result.metadata["shotforge_result"] = {"placements": [p.to_dict() for p in placements], **summary}
    for placement in placements:
        if plan.handles_in_place and placement.media == plan.handles.media:
            clip = _handles_clip(result, plan, placement)
        else:
            clip = _new_clip(plan, placement, made_by)
        edit = overwrite if plan.request.placement == "overwrite" else place_in_free_space
        sound = copy.deepcopy(clip) if placement.audio_track is not None else None
        at = placement.record_frame
        edit(track_or_new(result, placement.track, otio.schema.TrackKind.Video), clip, at, plan.rate)
        if sound is not None:
            place_in_free_space(track_or_new(result, placement.audio_track, otio.schema.TrackKind.Audio), sound, at,
                                plan.rate)
    return result


def track_or_new(timeline: otio.schema.Timeline, index: int, kind: str) -> otio.schema.Track:
    """The video or audio track ``index``; one past the last is a new track of that kind."""
    tracks = timeline.video_tracks() if kind == otio.schema.TrackKind.Video else timeline.audio_tracks()
    if index < len(tracks):
        return tracks[index]
    if index > len(tracks):
        raise ValueError(f"{kind.lower()} track {index} does not exist: the timeline has {len(tracks)}, counted "
                         "from 0 (one past the last is a new track)")
    track = otio.schema.Track(name="ShotForge", kind=kind)
    timeline.tracks.append(track)
    return track


def _new_clip(plan: Plan, placement: Placement, made_by: dict) -> otio.schema.Clip:
    """A clip of the new media; its available range starts at the media's start timecode."""
    rate = plan.rate
    first_tc = timecode_to_frame(plan.start_timecode, rate)
    reference = otio.schema.ExternalReference(
        target_url=pathlib.Path(placement.media).as_uri(),
        available_range=frames_range(first_tc, plan.media_frames, rate),
    )
    label = "placeholder" if made_by.get("placeholder") else plan.operation.replace("_", " ")
    return otio.schema.Clip(
        name=f"{plan.clip_name} (ShotForge {label})",
        media_reference=reference,
        source_range=frames_range(first_tc + placement.source_in, placement.frames, rate),
        metadata={"shotforge": {**made_by, "operation": plan.operation}},
    )


def _handles_clip(timeline: otio.schema.Timeline, plan: Plan, placement: Placement) -> otio.schema.Clip:
    """The extended clip's own media over its handle frames: a copy of the clip, trimmed to them."""
    request = plan.request
    source = item_at(track_items(timeline.video_tracks()[request.track], plan.rate), request.frame)
    clip = copy.deepcopy(source.item)
    offset = source.duration if request.side == "tail" else -placement.frames
    start = clip.source_range.start_time
    clip.source_range = TimeRange(start + _frames_at(offset, plan.rate, start.rate),
                                  _frames_at(placement.frames, plan.rate, start.rate))
    clip.metadata["shotforge"] = {"made": "source handles", "operation": plan.operation}
    return clip


def _frames_at(frames: int, rate: Fraction, at_rate: float) -> RationalTime:
    return frames_time(frames, rate).rescaled_to(at_rate)


def overwrite(track: otio.schema.Track, item: otio.core.Item, start: int, rate: Fraction) -> None:
    """Put ``item`` on ``track`` at record frame ``start``, replacing what was there."""
    _splice(track, item, start, rate, destroy=True)


def place_in_free_space(track: otio.schema.Track, item: otio.core.Item, start: int, rate: Fraction) -> None:
    """Put ``item`` on ``track`` at record frame ``start`` where only gaps (or nothing) are: the gaps
    are split around it and nothing else changes. A range that is not free is refused, untouched."""
    end = start + _frames(item, rate)
    if not is_free(track, rate, start, end):
        raise ValueError(f"record frames {start}-{end - 1} on track '{track.name}' are not free: "
                         "a placement there would destroy part of the cut")
    _splice(track, item, start, rate, destroy=False)


def _frames(item: otio.core.Item, rate: Fraction) -> int:
    return round(item.duration().value * rate / Fraction(item.duration().rate))


def _splice(track: otio.schema.Track, item: otio.core.Item, start: int, rate: Fraction, destroy: bool) -> None:
    """Put ``item`` at record frame ``start``, trimming what it covers. In free space it covers only
    gaps and touches no transition, so every transition is kept; an overwrite drops the ones
    whose side it cut."""
    end = start + _frames(item, rate)
    entries = {entry.index: entry for entry in track_items(track, rate)}
    # a zero-length item holds no frame: nothing covers it, so it stays
    touched = {index: entry.duration > 0 and not (entry.end <= start or entry.start >= end)
               for index, entry in entries.items()}
    children = list(track)
    pieces: list[otio.core.Composable] = []
    placed = False
    for index, child in enumerate(children):
        if index not in entries:  # a transition: after an overwrite it survives only between untouched items
            if not destroy or (not touched.get(index - 1, True) and not touched.get(index + 1, True)):
                pieces.append(copy.deepcopy(child))
            continue
        entry = entries[index]
        if not placed and entry.start >= end:
            pieces.append(item)
            placed = True
        if not touched[index]:
            pieces.append(copy.deepcopy(child))
            continue
        if entry.start < start:
            pieces.append(_trimmed(child, 0, start - entry.start, rate))
        if not placed:
            pieces.append(item)
            placed = True
        if entry.end > end:
            pieces.append(_trimmed(child, end - entry.start, entry.end - end, rate))
    if not placed:
        track_end = max((entry.end for entry in entries.values()), default=0)
        if start > track_end:
            pieces.append(otio.schema.Gap(source_range=frames_range(0, start - track_end, rate)))
        pieces.append(item)
    track.clear()
    track.extend(pieces)


def _trimmed(item: otio.core.Item, cut_front: int, duration: int, rate: Fraction) -> otio.core.Item:
    """A copy of a clip/gap/stack showing ``duration`` frames from ``cut_front`` frames into it."""
    trimmed = copy.deepcopy(item)
    visible = item.trimmed_range()
    start_rate = visible.start_time.rate
    trimmed.source_range = TimeRange(visible.start_time + _frames_at(cut_front, rate, start_rate),
                                     _frames_at(duration, rate, start_rate))
    return trimmed
