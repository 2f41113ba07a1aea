"""Final Cut Pro's transitions (``<transition>`` in a storyline) as OTIO transitions, and back.

The FCPXML adapter drops them. In FCPXML (1.8 to 1.11 alike) a ``transition`` sits in a ``spine``
(a storyline) between the story elements it joins; those still butt at the cut, and the transition's
``offset`` (its start, in the storyline's parent's time) and ``duration`` say how far it overlaps
each: Final Cut Pro centres one on the cut between two clips and puts one at a storyline's start or
end wholly inside its first or last clip (a fade). Its ``name`` and its ``filter-video`` and
``filter-audio`` (the effects: Cross Dissolve, Audio Crossfade) are kept in the OTIO transition's
metadata and written back as read. Read, an OTIO ``Transition`` goes between the items of the
storyline's lane track on the cut, ``in_offset`` its frames before the cut and ``out_offset``
after, at the sequence's rate; a transition without an ``offset`` is centred on its cut.

Written, V1's transitions go into the primary storyline; above V1, where the adapter writes clips
connected one by one (which carry no transition), the clips that butt with a transition among them
become a secondary storyline, as Final Cut Pro makes one. One on a sound track, one at a
storyline's end that overlaps a gap, and one of a kind this writer has no Final Cut Pro effect for
are refused by name (result.otio holds them).
"""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET
from fractions import Fraction

import opentimelineio as otio

from otio_tools.fcpxml import _exact, _frames, rational, seconds
from otio_tools.timeline import track_items, transition_cut
from otio_tools.timing import to_frame

#: what takes time in a storyline, beside which a transition sits
_STORY_TAGS = ("clip", "asset-clip", "ref-clip", "gap", "audition", "mc-clip", "sync-clip", "title", "video",
               "audio")
#: Final Cut Pro's own effects for a dissolve, as its exports name them
CROSS_DISSOLVE = {"name": "Cross Dissolve", "uid": "FxPlug:4731E73A-8DAC-4113-9A30-AE85B1761265"}
AUDIO_CROSSFADE = {"name": "Audio Crossfade", "uid": "FFAudioTransition"}
_NAMESPACE = "fcpx_xml"


def read_transitions(reader, sequence: ET.Element, stack: otio.schema.Stack) -> None:
    """Put each ``transition`` of ``sequence``'s storylines on its cut in ``stack``'s lane tracks."""
    tracks = {track.name: track for track in stack if isinstance(track, otio.schema.Track)}
    for element in sequence.iter("transition"):
        spine = reader.child_parent_map.get(element)
        name = element.get("name") or "transition"
        rate = reader._record_rate(element, sequence.get("format"))
        before, after = _beside(spine, element)
        if before is None and after is None:
            continue  # a storyline of nothing but a transition joins nothing
        cut = seconds(after.get("offset")) if after is not None else seconds(before.get("offset")) + _length(before)
        duration = seconds(element.get("duration"))
        if element.get("offset") is not None:
            start = seconds(element.get("offset"))
        else:  # centred on its cut, as Final Cut Pro puts one; at a storyline's end, inside its clip
            start = cut if before is None else cut - duration if after is None else cut - duration / 2
        if not start <= cut <= start + duration:
            raise ValueError(f"the transition {name!r} at {rational(start)} (for {rational(duration)}) does not "
                             f"cover the cut at {rational(cut)} between the story elements beside it")
        record, lane = reader.record_seconds(element)  # counted from its offset: the storyline's own time is
        at = (record - seconds(element.get("offset")) + cut) * rate  # what is added to it
        track = tracks.get(lane)
        if track is None or at.denominator != 1:
            raise ValueError(f"the transition {name!r} at {rational(start)} sits on no cut of lane {lane}'s clips")
        transition = otio.schema.Transition(
            name=element.get("name", ""), transition_type=_kind(reader, element),
            in_offset=_frames(cut - start, rate), out_offset=_frames(start + duration - cut, rate),
            metadata={_NAMESPACE: {"filters": [_filter(reader, f) for f in element
                                               if f.tag in ("filter-video", "filter-audio")]}})
        _insert(track, transition, int(at), rate, name)


def _beside(spine: ET.Element, element: ET.Element) -> tuple[ET.Element | None, ET.Element | None]:
    """The story elements before and after ``element`` in its storyline (None at its ends)."""
    children = list(spine)
    here = children.index(element)
    before = next((c for c in reversed(children[:here]) if c.tag in _STORY_TAGS), None)
    after = next((c for c in children[here + 1:] if c.tag in _STORY_TAGS), None)
    return before, after


def _length(element: ET.Element) -> Fraction:
    """A story element's duration (an audition's is its active pick's)."""
    if element.get("duration") is None and len(element):
        return seconds(element[0].get("duration"))
    return seconds(element.get("duration"))


def _resource(reader, element: ET.Element) -> ET.Element | None:
    """The effect resource a ``filter-video`` or ``filter-audio`` names."""
    return reader.fcpx_xml.find(f"./resources/effect[@id='{element.get('ref')}']")


def _kind(reader, element: ET.Element) -> str:
    video = element.find("./filter-video")
    effect = _resource(reader, video) if video is not None else None
    if video is None or (effect is not None and effect.get("uid") == CROSS_DISSOLVE["uid"]):
        return otio.schema.TransitionTypes.SMPTE_Dissolve  # a bare transition is Final Cut Pro's default dissolve
    return otio.schema.TransitionTypes.Custom


def _filter(reader, element: ET.Element) -> dict:
    """A transition's effect as read: its XML and the effect resource it names."""
    effect = _resource(reader, element)
    return {"xml": ET.tostring(element, encoding="unicode"),
            "effect": {key: effect.get(key, "") for key in ("name", "uid")} if effect is not None else {}}


def _insert(track: otio.schema.Track, transition: otio.schema.Transition, cut: int, rate: Fraction,
            name: str) -> None:
    items = track_items(track, rate)
    after = next((item for item in items if item.start == cut), None)
    if after is None and cut != (items[-1].end if items else 0):
        raise ValueError(f"the transition {name!r} at frame {cut} of track {track.name} sits on no cut there")
    index = after.index if after is not None else len(track)
    if index > 0 and isinstance(track[index - 1], otio.schema.Transition):
        raise ValueError(f"two transitions at the cut at frame {cut} of track {track.name}, {name!r} the second")
    track.insert(index, transition)


def write_transitions(writer, stack: otio.schema.Stack, sequence: ET.Element) -> None:
    """Write the transitions of ``stack``'s video tracks into ``sequence``: V1's into its spine, each
    before the element of the item after its cut; above V1, the clips a transition joins into a
    secondary storyline. One on a sound track is refused by name."""
    video = [t for t in stack if t.kind == otio.schema.TrackKind.Video]
    for number, track in enumerate((t for t in stack if t.kind == otio.schema.TrackKind.Audio), 1):
        if _has_transitions(track):
            cut, transition, _ = _cuts(track, _rate(track))[0]
            raise ValueError(f"the transition {_said(transition)} on A{number} at the cut at frame {cut}: FCPXML "
                             "is written here with the sound connected clip by clip, and a connected clip carries "
                             "no transition")
    if not any(_has_transitions(track) for track in video):
        return
    rate = _rate(video[0])
    _primary(writer, video[0], sequence.find("./spine"), rate)
    for lane, track in enumerate(video[1:], 1):
        _storylines(writer, track, lane, sequence, rate)


def _has_transitions(track: otio.schema.Track) -> bool:
    return any(isinstance(child, otio.schema.Transition) for child in track)


def _rate(track: otio.schema.Track) -> Fraction:
    """The rate of a track's items (a transition's offsets may be at another)."""
    return _exact(next(c for c in track if not isinstance(c, otio.schema.Transition)).duration().rate)


def _primary(writer, track: otio.schema.Track, spine: ET.Element, rate: Fraction) -> None:
    found = _cuts(track, rate)
    if not found:
        return
    elements = list(spine)
    if len(elements) != sum(not isinstance(c, otio.schema.Transition) for c in track):
        raise ValueError(f"the transition {_said(found[0][1])} at the cut at frame {found[0][0]} on V1: its storyline "
                         "is written with other elements among its clips, so the writer cannot put it between them")
    for cut, transition, following in reversed(found):  # from the end: the elements before are where they were
        element = _element(writer, transition, cut, cut, rate)
        spine.insert(list(spine).index(elements[following]) if following < len(elements) else len(spine), element)


def _storylines(writer, track: otio.schema.Track, lane: int, sequence: ET.Element, rate: Fraction) -> None:
    """Regroup the connected clips of ``track`` that butt, where a transition is among them, into a
    secondary storyline (``spine lane=…``) in the V1 element the first hangs on: Final Cut Pro's own
    shape for them. A storyline's first and last transitions lie inside its clips (a fade), as in
    Final Cut Pro, so one overlapping a gap is refused by name."""
    found = _cuts(track, rate)
    if not found:
        return
    children = list(track)
    written = writer.elements
    parents = {c: p for p in sequence.iter() for c in p}
    starts = {index: to_frame(track.range_of_child_at_index(index).start_time, rate)
              for index, child in enumerate(children) if not isinstance(child, otio.schema.Transition)}
    runs: list[list[int]] = [[]]  # child indices of the clips that butt, and the transitions among them
    for index, child in enumerate(children):
        if isinstance(child, otio.schema.Gap):
            runs.append([])
        else:
            runs[-1].append(index)
    runs = [run for run in runs if any(isinstance(children[i], otio.schema.Transition) for i in run)]
    for run in runs:
        for index, edge, side in ((run[0], "first", "in_offset"), (run[-1], "last", "out_offset")):
            if isinstance(children[index], otio.schema.Transition) and to_frame(getattr(children[index], side), rate):
                cut = next(c for c, t, _ in found if t is children[index])
                raise ValueError(f"the transition {_said(children[index])} on V{lane + 1} at the cut at frame {cut} "
                                 f"overlaps a gap: Final Cut Pro puts a storyline's {edge} transition inside its clip")
        if all(isinstance(children[i], otio.schema.Transition) for i in run):
            raise ValueError(f"the transition {_said(children[run[0]])} on V{lane + 1} joins no clip")
    for run in runs:
        clips = [i for i in run if i in starts]
        first = written[id(children[clips[0]])]
        parent = parents[first]
        storyline = ET.Element("spine", {"lane": str(lane), "offset": first.get("offset")})
        parent.insert(list(parent).index(first), storyline)
        origin = starts[clips[0]]
        for index in run:
            child = children[index]
            if index in starts:
                element = written[id(child)]
                parents[element].remove(element)
                element.attrib.pop("lane", None)
                element.set("offset", rational(Fraction(starts[index] - origin) / rate))
            else:
                cut = next(c for c, t, _ in found if t is child)
                element = _element(writer, child, cut, cut - origin, rate)
            storyline.append(element)


def _element(writer, transition: otio.schema.Transition, cut: int, at: int, rate: Fraction) -> ET.Element:
    """A ``transition`` element for the transition on the cut at record frame ``cut``, which is frame
    ``at`` of the storyline's own time."""
    before, after = to_frame(transition.in_offset, rate), to_frame(transition.out_offset, rate)
    element = ET.Element("transition", {"name": transition.name or "Cross Dissolve",
                                        "offset": rational(Fraction(at - before) / rate),
                                        "duration": rational(Fraction(before + after) / rate)})
    element.extend(_filters(writer, transition, cut))
    return element


def _cuts(track: otio.schema.Track, rate: Fraction) -> list[tuple[int, otio.schema.Transition, int]]:
    """(record frame of its cut, transition, how many items come before it) of each transition of ``track``."""
    items = {item.index: item for item in track_items(track, rate)}
    return [(transition_cut(items, index), child, sum(i < index for i in items))
            for index, child in enumerate(track) if isinstance(child, otio.schema.Transition)]


def _said(transition: otio.schema.Transition) -> str:
    return repr(transition.name or transition.transition_type or "transition")


def _filters(writer, transition: otio.schema.Transition, cut: int) -> list[ET.Element]:
    """The transition's effects as FCPXML: as read from FCPXML, or Final Cut Pro's Cross Dissolve
    and Audio Crossfade for a dissolve; any other kind is refused by name."""
    read = transition.metadata.get(_NAMESPACE, {}).get("filters")
    if read is not None:
        pieces = []
        for held in read:
            piece = ET.fromstring(held["xml"])
            if held["effect"]:
                piece.set("ref", _effect(writer, dict(held["effect"])))
            pieces.append(piece)
        return pieces
    if transition.transition_type != otio.schema.TransitionTypes.SMPTE_Dissolve:
        raise ValueError(f"the transition {_said(transition)} at the cut at frame {cut} is not a dissolve "
                         f"({transition.transition_type or 'no kind'}): FCPXML is written here with Final Cut Pro's "
                         "Cross Dissolve for a dissolve, or with the effect read from FCPXML")
    return [ET.Element("filter-video", {"ref": _effect(writer, CROSS_DISSOLVE), "name": CROSS_DISSOLVE["name"]}),
            ET.Element("filter-audio", {"ref": _effect(writer, AUDIO_CROSSFADE), "name": AUDIO_CROSSFADE["name"]})]


def _effect(writer, effect: dict) -> str:
    """The id of the document's effect resource with ``effect``'s uid, added when there is none."""
    for known in writer.resource_element.findall("./effect"):
        if known.get("uid") == effect["uid"] and known.get("name") == effect["name"]:
            return known.get("id")
    added = ET.SubElement(writer.resource_element, "effect", copy.deepcopy(effect))
    added.set("id", writer._resource_id_generator())
    return added.get("id")
