"""Conform, the editorial half: find the ShotForge takes in an exported timeline and swap new
takes into their clips' slots, their sound with them.

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
from otio_tools.placement import sound_track, source_sound_track
from otio_tools.splice import place_in_free_space, track_or_new
from otio_tools.takes import Take, take_from_metadata, take_from_tags
from otio_tools.timeline import rate_of, track_items, track_label
from otio_tools.timing import RationalTime, TimeRange, frames_time, timecode_to_frame, to_frame

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


def swap_in(timeline: otio.schema.Timeline, where: TakeClip, new_clip: otio.schema.Clip,
            sound: bool | None = None) -> int | None:
    """Put ``new_clip`` (a clip of the new take's whole media, as a result.otio holds it) in the
    slot of the clip ``where`` names, showing the same frames of it (the same trim), and its sound
    with it: the old take's sound clips (its media, on an audio track under exactly its record
    frames) now play the new media, or are removed (a gap in their place) when ``sound`` says the
    new take has none. A new take with sound where the old had none (``sound`` True) puts it on
    an audio track free over the slot, chosen as for a render (:func:`_new_sound_track`). ``sound``
    None: the new take has sound exactly when the old one had. Returns the audio track of the new
    take's sound (the lowest, when the old take's sound was on several), None without sound.
    Every other item is untouched."""
    rate = rate_of(timeline)
    track = timeline.video_tracks()[where.track]
    old_sound = _sound_clips(timeline, rate, where, track[where.index])
    sound = bool(old_sound) if sound is None else sound
    # chosen before anything changes: a recipe that cannot be read leaves the timeline as it was
    new_track = _new_sound_track(timeline, rate, where) if sound and not old_sound else None
    media_start = new_clip.source_range.start_time
    shown = TimeRange(media_start + frames_time(where.source_in, rate).rescaled_to(media_start.rate),
                      frames_time(where.frames, rate).rescaled_to(media_start.rate))
    placed = _retaken(track[where.index], new_clip, shown)
    track[where.index] = placed
    for audio_track, index in old_sound:
        if sound:
            audio_track[index] = _retaken(audio_track[index], new_clip, shown)
        else:
            _remove(audio_track, index)
    if not sound:
        return None
    if old_sound:
        return min(timeline.audio_tracks().index(audio_track) for audio_track, _ in old_sound)
    place_in_free_space(track_or_new(timeline, new_track, otio.schema.TrackKind.Audio), copy.deepcopy(placed),
                        where.record_frame, rate)
    return new_track


def _retaken(old: otio.schema.Clip, new_clip: otio.schema.Clip, shown: TimeRange) -> otio.schema.Clip:
    """The editor's clip ``old`` (its markers, effects, enabled state and metadata kept) playing
    ``shown`` of the new take's media, named and tagged (``metadata.shotforge``) as the new take;
    markers keep their place in the clip."""
    clip = copy.deepcopy(old)
    moved = shown.start_time - old.trimmed_range().start_time.rescaled_to(shown.start_time.rate)
    clip.name = new_clip.name
    clip.media_reference = copy.deepcopy(new_clip.media_reference)
    clip.source_range = shown
    clip.metadata.pop("shotforge", None)
    if "shotforge" in new_clip.metadata:
        clip.metadata["shotforge"] = copy.deepcopy(new_clip.metadata["shotforge"])
    for marker in clip.markers:
        marker.marked_range = TimeRange(marker.marked_range.start_time + moved, marker.marked_range.duration)
    return clip


def _sound_clips(timeline: otio.schema.Timeline, rate: Fraction, where: TakeClip,
                 picture: otio.schema.Clip) -> list[tuple[otio.schema.Track, int]]:
    """(audio track, index) of each clip of the take's media under exactly its record frames."""
    url = getattr(picture.media_reference, "target_url", None)
    if not url:
        return []
    end = where.record_frame + where.frames
    return [(track, item.index) for track in timeline.audio_tracks() for item in track_items(track, rate)
            if item.is_clip and (item.start, item.end) == (where.record_frame, end)
            and getattr(item.item.media_reference, "target_url", None) == url]


def _remove(track: otio.schema.Track, index: int) -> None:
    """A gap of the same length in place of the clip at ``index``; a transition touching it goes too
    (its other side no longer exists), and nothing moves."""
    length = track[index].duration()
    track[index] = otio.schema.Gap(source_range=TimeRange(RationalTime(0, length.rate), length))
    for neighbour in (index + 1, index - 1):  # the later one first: removing it keeps ``index - 1`` in place
        if 0 <= neighbour < len(track) and isinstance(track[neighbour], otio.schema.Transition):
            del track[neighbour]


def _new_sound_track(timeline: otio.schema.Timeline, rate: Fraction, where: TakeClip) -> int:
    """The audio track a take's new sound goes on when the timeline has none of it yet, as for a
    render (:func:`otio_tools.placement.sound_track`): the source clip's own sound track when free
    over the slot, else the lowest free one above, else a new one (index = number of audio
    tracks). The source is the clip the take continues, on the video track its recipe asked for:
    the one before a tail extension, after a head extension, before a gap fill (else after it)."""
    start, end = where.record_frame, where.record_frame + where.frames
    _, asked = where.take.request_document()
    track = asked.get("track", where.track)
    next_to = {"tail": [start - 1], "head": [end]}.get(asked.get("side"), [start - 1, end])
    own = None
    if isinstance(track, int) and 0 <= track < len(timeline.video_tracks()):
        own = next((t for t in (source_sound_track(timeline, rate, track, f) for f in next_to) if t is not None),
                   None)
    return sound_track(timeline, rate, own, start, end)
