"""Splice a finished result into the request timeline: the ``result.otio`` of a job.

``auto`` and ``above`` (otio_tools.placement chose a track free over the whole range): the new
clip goes into free space, the gaps there split exactly, every clip and transition left as it
was; a track index one past the top adds a video track. ``overwrite``, only when the request
says so, is an editor's overwrite edit: the new clip replaces whatever the track held over its
record frames; items it only partly covers are trimmed. Unlike an editor's overwrite, which drops
the transitions at the edit's edges, a transition whose cut is still there stays on it, between
what is now on either side, shortened where that item's media (the new clip's handles) or its
length holds fewer frames; one whose cut the overwrite covered, or of which nothing fits, cannot
stay, and result.otio's notes name it, as they name each one shortened. The Premiere panel's
listed transitions (metadata.premiere.transitions) whose cut the overwrite covers leave the list.

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
from otio_tools.timeline import TrackItem, item_at, track_items, transition_cut
from otio_tools.timing import RationalTime, TimeRange, frames_range, frames_time, timecode_to_frame, to_frame
from otio_tools.transitions import premiere_listed


def splice_result(timeline: otio.schema.Timeline, plan: Plan, placements: list[Placement],
                  made_by: dict) -> otio.schema.Timeline:
    """A copy of ``timeline`` with each placement on its track. ``made_by`` (engine, model, prompt,
    seed, placeholder, the take and its recipe) goes into each new clip's ``metadata["shotforge"]``;
    what an overwrite did to a transition (shortened it, could not keep it) goes, in words, into
    ``metadata["shotforge_result"]["notes"]``."""
    result = copy.deepcopy(timeline)
    summary = {**made_by, "take": made_by["take"]["id"]} if "take" in made_by else made_by  # the recipe is on the clip
    result.metadata["shotforge_result"] = {"placements": [p.to_dict() for p in placements], **summary}
    notes: list[str] = []
    for placement in placements:
        if plan.handles_in_place and placement.media == plan.handles.media:
            clip = _handles_clip(result, plan, placement)
        else:
            clip = _new_clip(plan, placement, made_by)
        sound = copy.deepcopy(clip) if placement.audio_track is not None else None
        at = placement.record_frame
        track = track_or_new(result, placement.track, otio.schema.TrackKind.Video)
        if plan.request.placement == "overwrite":
            notes += overwrite(track, clip, at, plan.rate)
        else:
            place_in_free_space(track, clip, at, plan.rate)
        if sound is not None:
            place_in_free_space(track_or_new(result, placement.audio_track, otio.schema.TrackKind.Audio), sound, at,
                                plan.rate)
    if notes:  # what an overwrite did to the transitions at its edges
        result.metadata["shotforge_result"]["notes"] = notes
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


def overwrite(track: otio.schema.Track, item: otio.core.Item, start: int, rate: Fraction) -> list[str]:
    """Put ``item`` on ``track`` at record frame ``start``, replacing what was there; the notes
    name each transition there it shortened or could not keep."""
    return _splice(track, item, start, rate, destroy=True)


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


def _splice(track: otio.schema.Track, item: otio.core.Item, start: int, rate: Fraction, destroy: bool) -> list[str]:
    """Put ``item`` at record frame ``start``, trimming what it covers. In free space it covers only
    gaps and touches no transition, so every transition is kept. An overwrite keeps a transition
    whose side it changed on its cut when that cut is still there (fitted to what the items there
    hold); the returned notes name each one it shortened or could not keep."""
    end = start + _frames(item, rate)
    entries = {entry.index: entry for entry in track_items(track, rate)}
    # a zero-length item holds no frame: nothing covers it, so it stays
    touched = {index: entry.duration > 0 and not (entry.end <= start or entry.start >= end)
               for index, entry in entries.items()}
    children = list(track)
    pieces: list[otio.core.Composable] = []
    changed: list[otio.core.Composable] = [item]  # what the overwrite made or trimmed
    moved: list[tuple[otio.schema.Transition, int, list]] = []  # beside changed items: their cut, what they joined
    placed = False
    for index, child in enumerate(children):
        if index not in entries:
            if not destroy or (not touched.get(index - 1, True) and not touched.get(index + 1, True)):
                pieces.append(copy.deepcopy(child))
            else:
                moved.append((child, transition_cut(entries, index), [entries.get(index - 1), entries.get(index + 1)]))
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
            changed.append(pieces[-1])
        if not placed:
            pieces.append(item)
            placed = True
        if entry.end > end:
            pieces.append(_trimmed(child, end - entry.start, entry.end - end, rate))
            changed.append(pieces[-1])
    if not placed:
        track_end = max((entry.end for entry in entries.values()), default=0)
        if start > track_end:
            pieces.append(otio.schema.Gap(source_range=frames_range(0, start - track_end, rate)))
        pieces.append(item)
    notes = _keep_transitions(pieces, moved, item, changed, rate, f"track '{track.name}'", (start, end))
    if destroy:
        notes += _drop_covered_listings(track, entries.values(), (start, end))
    track.clear()
    track.extend(pieces)
    return notes


def _drop_covered_listings(track: otio.schema.Track, entries, edit: tuple[int, int]) -> list[str]:
    """A transition the Premiere panel lists (otio_tools.transitions.premiere_listed) whose cut the
    overwrite covers is gone with that cut, so it leaves the list, and the notes name it. One over a
    cut that is still there stays listed, like the OTIO transitions kept on their cuts."""
    listed = premiere_listed(track)
    if not listed:
        return []
    cuts = sorted({entry.end for entry in entries} | {entry.start for entry in entries})
    kept, notes = [], []
    for raw, (name, first, end) in zip(track.metadata["premiere"]["transitions"], listed):
        cut = next((c for c in cuts if first <= c <= end), None)
        if cut is not None and edit[0] < cut < edit[1]:
            notes.append(f"the overwrite over record frames {edit[0]}-{edit[1] - 1} on track '{track.name}' covers "
                         f"the cut at frame {cut} where the transition '{name}' over frames {first}-{end - 1} "
                         "was: result.otio no longer lists it")
        else:
            kept.append(raw)
    if len(kept) < len(listed):
        track.metadata["premiere"]["transitions"] = kept
    return notes


def _keep_transitions(pieces: list, moved: list[tuple[otio.schema.Transition, int, list]], new: otio.core.Item,
                      changed: list, rate: Fraction, where: str, edit: tuple[int, int]) -> list[str]:
    """Put each transition of ``moved`` back on its cut among ``pieces`` (in place), its frames
    before the cut no more than the item after it holds before its in point (the new clip's media)
    and than the item before it is long, and the same after the cut; the notes say what changed,
    and where the new clip is now on a side that another item held only in part."""
    is_changed = {id(piece) for piece in changed}
    starts, at = {}, 0
    for position, piece in enumerate(pieces):
        if not isinstance(piece, otio.schema.Transition):
            starts[position] = at
            at += _frames(piece, rate)
    ends = {p: starts[p] + _frames(pieces[p], rate) for p in starts}
    decided: dict[int, otio.schema.Transition] = {}  # position of the item after the cut -> transition
    notes = []
    for transition, cut, joined_before in moved:
        name = f"the transition '{transition.name or transition.transition_type or 'transition'}'"
        after = next((p for p in starts if starts[p] == cut and ends.get(p - 1) == cut), None)
        before = None if after is None else after - 1
        if after is None:
            notes.append(f"the overwrite over record frames {edit[0]}-{edit[1] - 1} on {where} covers the cut at "
                         f"frame {cut} where {name} was: result.otio has no cut there to keep it on")
            continue
        left, right = pieces[before], pieces[after]
        was = (to_frame(transition.in_offset, rate), to_frame(transition.out_offset, rate))
        fits, why = list(was), []
        head_handles, _ = _handles(right, rate) if right is new else (None, None)
        _, tail_handles = _handles(left, rate) if left is new else (None, None)
        limits = [(0, head_handles, f"{_words(right)} has {head_handles} frame(s) of media before its in point"),
                  (1, tail_handles, f"{_words(left)} has {tail_handles} frame(s) of media after its out point")]
        if id(left) in is_changed:
            length = _frames(left, rate) - _claimed(pieces, decided, before, head=True, rate=rate)
            limits.append((0, length, f"{_words(left)} is {_frames(left, rate)} frame(s) long"))
        if id(right) in is_changed:
            length = _frames(right, rate) - _claimed(pieces, decided, after, head=False, rate=rate)
            limits.append((1, length, f"{_words(right)} is {_frames(right, rate)} frame(s) long"))
        for side, limit, reason in limits:
            if limit is not None and fits[side] > max(0, limit):
                fits[side] = max(0, limit)
                why.append(reason)
        joined = f"(now between {_words(left)} and {_words(right)})"
        # the new clip took a side only part of whose item it replaced: the transition joins something else now
        instead = "".join(f"; the new clip (record frames {edit[0]}-{edit[1] - 1}) replaced only part of "
                          f"{side.describe()}, which it joined" for piece, side in zip((left, right), joined_before)
                          if piece is new and side is not None and (side.start, side.end) != edit)
        if not any(fits) and any(was):
            notes.append(f"result.otio cannot keep {name} at the cut at frame {cut} on {where} {joined}: "
                         f"{' and '.join(why)}, so none of its {was[0]}+{was[1]} frames fit")
            continue
        kept = copy.deepcopy(transition)
        if instead and fits == list(was):
            notes.append(f"result.otio keeps {name} at the cut at frame {cut} on {where} {joined}{instead}")
        if fits != list(was):
            kept.in_offset, kept.out_offset = (frames_time(f, rate).rescaled_to(transition.in_offset.rate)
                                               for f in fits)
            kept.metadata["shotforge_overwrite"] = {"shortened_from": list(was)}  # not a take: no "shotforge"
            notes.append(f"result.otio keeps {name} at the cut at frame {cut} on {where} {joined}, "
                         f"{fits[0]} frame(s) before the cut and {fits[1]} after instead of {was[0]} and "
                         f"{was[1]}: {' and '.join(why)}{instead}")
        decided[after] = kept
    for position in sorted(decided, reverse=True):
        pieces.insert(position, decided[position])
    return notes


def _claimed(pieces: list, decided: dict, position: int, head: bool, rate: Fraction) -> int:
    """Frames of the item at ``position`` that the transition at its other end takes."""
    if head:  # the transition before it takes its first frames (its frames after that cut)
        other = pieces[position - 1] if position > 0 else None
        other = other if isinstance(other, otio.schema.Transition) else decided.get(position)
        return to_frame(other.out_offset, rate) if other is not None else 0
    other = pieces[position + 1] if position + 1 < len(pieces) else None
    other = other if isinstance(other, otio.schema.Transition) else decided.get(position + 1)
    return to_frame(other.in_offset, rate) if other is not None else 0


def _handles(item: otio.core.Item, rate: Fraction) -> tuple[int | None, int | None]:
    """Record frames of media before and after what ``item`` shows (None: its media's length is unknown)."""
    available = getattr(getattr(item, "media_reference", None), "available_range", None)
    if available is None:
        return None, None
    shown = item.trimmed_range()
    return (to_frame(shown.start_time - available.start_time, rate),
            to_frame(available.end_time_exclusive() - shown.end_time_exclusive(), rate))


def _words(item: otio.core.Item) -> str:
    if isinstance(item, otio.schema.Gap):
        return "a gap"
    return f"{'clip' if isinstance(item, otio.schema.Clip) else 'nested sequence'} '{item.name}'"


def _trimmed(item: otio.core.Item, cut_front: int, duration: int, rate: Fraction) -> otio.core.Item:
    """A copy of a clip/gap/stack showing ``duration`` frames from ``cut_front`` frames into it."""
    trimmed = copy.deepcopy(item)
    visible = item.trimmed_range()
    start_rate = visible.start_time.rate
    trimmed.source_range = TimeRange(visible.start_time + _frames_at(cut_front, rate, start_rate),
                                     _frames_at(duration, rate, start_rate))
    return trimmed
