"""What a transition shows of a clip beyond its cut, and what of it a result that remakes the clip covers.

An OTIO ``Transition`` sits between two items of a track, over their cut: ``in_offset`` record
frames before it, ``out_offset`` after. Over those frames both sides show, each through its
handles: the item before the cut shows ``out_offset`` frames past its out point, the item after
it ``in_offset`` frames before its in point (OpenTimelineIO's ``Item.visible_range``). The
Premiere panel writes no OTIO transitions: it lists a track's transitions in its metadata by record
frames, and one that starts before an end of the clip and ends after it shows the clip beyond that
end just the same. So a clip under a dissolve is seen over more than its cut, and a result that
makes its picture again (inpaint, outpaint) must cover those frames too, or the original shows
during the dissolve.

Where the result goes decides how it meets the dissolve:
- on a free track above (``auto``, ``above``): over the clip's cut and the frames the transitions
  show of it beyond, so the new picture shows throughout. A track above cannot carry the lower
  track's transition: there the new picture cuts to the neighbour where the transition ends;
- ``overwrite``: over the clip's cut exactly (the neighbours' frames stay the editor's), placed
  from a media file that also holds those frames, as the handles the transition takes. An
  editor's overwrite removes the transition (the plugin's notes say to apply it again from those
  handles); result.otio keeps it on its cut, shortened to what the media holds (otio_tools.splice).
Only frames the clip's media has are made (a transition may ask for more handles than exist):
the result covers what exists, and its notes say which record frames still show the original.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import opentimelineio as otio

from otio_tools.errors import RequestError
from otio_tools.media import MediaFacts
from otio_tools.request import MAX_FRAMES
from otio_tools.retime import ClipTime
from otio_tools.timeline import TrackItem, track_items
from otio_tools.timing import to_frame


@dataclass(frozen=True)
class Overlap:
    """Frames a transition shows of a clip beyond one of its ends."""

    side: str  # "head": before the clip's in point; "tail": after its out point
    wanted: int  # record frames the transition shows of the clip there
    transition: str  # the transition in an editor's words, for notes
    neighbour: str  # what is on the other side of the cut


@dataclass(frozen=True)
class Coverage:
    """What a result remaking a clip covers beyond its cut: ``head`` record frames before its first
    frame and ``tail`` after its last (what its transitions show of it, as far as its media goes)."""

    head: int
    tail: int
    notes: tuple[str, ...]
    overwrite: bool  # the result replaces the clip on its own track (else it goes on a track above)

    def offsets(self, clip: TrackItem) -> range:
        """Record offsets (0 = the clip's first frame) of every frame the result is made of."""
        return range(-self.head, clip.duration + self.tail)

    def placed(self, clip: TrackItem) -> tuple[int, int, int]:
        """(record frame, frames, first frame's index in the new media) of what is placed: an
        overwrite takes the clip's cut only (its neighbours are the editor's); elsewhere all of it."""
        if self.overwrite:
            return clip.start, clip.duration, self.head
        return clip.start - self.head, self.head + clip.duration + self.tail, 0


def transition_overlaps(track: otio.schema.Track, rate: Fraction, clip: TrackItem) -> list[Overlap]:
    """What the transitions at either end of ``clip`` (an item of ``track``) show of it beyond its
    cut: OTIO transitions, else those the Premiere panel lists in the track's metadata. Record
    frames before the timeline's first are never shown, so a head overlap stops there."""
    items = track_items(track, rate)
    children = list(track)
    if any(isinstance(child, otio.schema.Transition) for child in children):
        found = _otio_overlaps(children, {item.index: item for item in items}, rate, clip)
    else:
        found = _premiere_overlaps(track, items, clip)
    return [Overlap(o.side, min(o.wanted, clip.start), o.transition, o.neighbour) if o.side == "head" else o
            for o in found if o.wanted > 0 and (o.side == "tail" or clip.start > 0)]


def _otio_overlaps(children: list, by_index: dict[int, TrackItem], rate: Fraction, clip: TrackItem) -> list[Overlap]:
    """A transition beside the clip among the track's children: its in_offset shows the clip's head
    handles when it comes before the clip, its out_offset the tail handles when after."""
    found = []
    for side, at in (("head", clip.index - 1), ("tail", clip.index + 1)):
        if not 0 <= at < len(children) or not isinstance(children[at], otio.schema.Transition):
            continue
        transition = children[at]
        other = by_index.get(at - 1 if side == "head" else at + 1)
        name = transition.name or transition.transition_type or "transition"
        cut = clip.start if side == "head" else clip.end
        found.append(Overlap(side, to_frame(transition.in_offset if side == "head" else transition.out_offset, rate),
                             f"the transition '{name}' at the cut at frame {cut}",
                             other.describe() if other is not None else "the end of the track"))
    return found


def premiere_listed(track: otio.schema.Track) -> list[tuple[str, int, int]]:
    """The Premiere panel writes no OTIO transitions: it lists each as ``[name, first record frame,
    end record frame]`` in the track's ``metadata.premiere.transitions``; these, checked, as (name,
    first, end) in the list's order."""
    premiere = track.metadata.get("premiere")
    listed = premiere.get("transitions") if hasattr(premiere, "get") else None
    found = []
    for entry in listed or []:
        values = list(entry) if not isinstance(entry, (str, bytes)) and hasattr(entry, "__iter__") else []
        if not (len(values) == 3 and all(isinstance(v, (int, float)) and not isinstance(v, bool) and
                                         float(v).is_integer() for v in values[1:]) and values[1] < values[2]):
            raise RequestError("malformed_otio", f"track '{track.name}' lists the transition {entry!r} in "
                                                 "metadata.premiere.transitions: it must be [name, first record "
                                                 "frame, end record frame], whole frames, first before end")
        found.append((str(values[0] or "transition"), int(values[1]), int(values[2])))
    return found


def _premiere_overlaps(track: otio.schema.Track, items: list[TrackItem], clip: TrackItem) -> list[Overlap]:
    """Each transition the Premiere panel lists (:func:`premiere_listed`) over an end of the clip
    (starting before it and ending after it) shows the clip beyond that end."""
    found = []
    for name, first, end in premiere_listed(track):
        for side, edge in (("head", clip.start), ("tail", clip.end)):
            if first < edge < end:
                other = next((i for i in items if (i.end if side == "head" else i.start) == edge and i is not clip
                              and i.duration > 0), None)
                found.append(Overlap(side, edge - first if side == "head" else end - edge,
                                     f"the transition '{name}' over frames {first}-{end - 1}",
                                     other.describe() if other is not None else "the end of the track"))
    return found


def coverage(track: otio.schema.Track, rate: Fraction, clip: TrackItem, where: str, timing: ClipTime,
             facts: MediaFacts, overwrite: bool) -> Coverage:
    """What a result remaking ``clip`` (``where``: it in words) covers beyond its cut, and the notes
    that say so; ``overwrite``: the result replaces the clip on its own track (else it goes above)."""
    head = tail = 0
    notes = []
    for overlap in transition_overlaps(track, rate, clip):
        beyond = range(-1, -overlap.wanted - 1, -1) if overlap.side == "head" else \
            range(clip.duration, clip.duration + overlap.wanted)
        covered = frames_in_media(timing, facts, beyond)
        if overlap.side == "head":
            head = covered
        else:
            tail = covered
        notes.append(_note(clip, where, timing, facts, overwrite, overlap, covered))
    if head + clip.duration + tail > MAX_FRAMES:
        raise RequestError("too_large", f"{where} is {clip.duration} frames and its transitions show "
                                        f"{head + tail} more of it: {head + clip.duration + tail} frames to make, "
                                        f"and the most one job may make is {MAX_FRAMES}")
    return Coverage(head, tail, tuple(notes), overwrite)


def frames_in_media(timing: ClipTime, facts: MediaFacts, offsets: range) -> int:
    """How many of ``offsets`` (record offsets, nearest the clip first) show a frame the media has."""
    count = 0
    for index in timing.indices(offsets):
        if not 0 <= index < facts.frames:
            break
        count += 1
    return count


def _note(clip: TrackItem, where: str, timing: ClipTime, facts: MediaFacts, overwrite: bool, overlap: Overlap,
          covered: int) -> str:
    """The overlap in words: what the result covers of it, and what still shows the original."""
    head, wanted = overlap.side == "head", overlap.wanted
    first, last = (clip.start - wanted, clip.start - 1) if head else (clip.end, clip.end + wanted - 1)
    said = f"{overlap.transition} (with {overlap.neighbour}) shows {wanted} frame(s) of {where} " \
           f"{'before its in point' if head else 'after its out point'}, record frames {first}-{last}"
    shown = (clip.start - covered, clip.start - 1) if head else (clip.end, clip.end + covered - 1)
    missing = (first, clip.start - covered - 1) if head else (clip.end + covered, last)
    without = f"record frames {missing[0]}-{missing[1]} still show the original (the editor has no media for " \
              "them either)"
    if covered < wanted:
        said += f", but its media {facts.path} has only {covered} of them" if covered else \
            f", but its media {facts.path} has none of them: {without}"
    if not covered:
        return said
    if overwrite:
        near, far = timing.index(-1 if head else clip.duration), timing.index(-covered if head else
                                                                               clip.duration + covered - 1)
        return said + (f"; the result replaces the clip's cut only, its media holding those {covered} frame(s) "
                       f"{'before' if head else 'after'} the cut (media frames {min(near, far)}-{max(near, far)}) "
                       "as the handles the transition takes; an editor's overwrite removes the transition: apply "
                       "it again from these handles")
    covers = "; the result covers them too, so the new picture shows throughout" if covered == wanted else \
        f"; the result covers those {covered} (record frames {shown[0]}-{shown[1]}) and {without}"
    return said + covers + ("; a track above cannot carry the transition, so there the new picture "
                            f"{'starts' if head else 'ends'} with a cut at frame "
                            f"{clip.start - covered if head else clip.end + covered}")
