"""Final Cut Pro X FCPXML through ``otio-fcpx-xml-adapter``, with its times made exact.

The adapter parses and writes the document; only its time arithmetic is replaced. Version 1.0
counts every rate as a whole number of frames per second (``int(24000 / 1001)`` is 23), truncates
seconds to frames, counts a clip's offset at the clip's own media rate instead of the project's,
and writes no ``frameDuration`` at all for 23.976, 29.97 and 59.94. Here:

- a format's rate is its ``frameDuration`` inverted exactly (``1001/24000s`` is 24000/1001 fps);
- times are read as exact fractions of a second and counted in frames at the right rate: a
  clip's ``offset`` and ``duration`` are record time, so frames at its project's (sequence's)
  rate, counted from the sequence's ``tcStart`` (the timeline's ``global_start_time``); a clip's
  ``start`` and its media's range are media time, at the media's own rate;
- an asset's file is its ``src``, or from FCPXML 1.9 on its ``media-rep`` (the adapter, written
  for 1.8, reads 1.9+ media as missing);
- a secondary storyline's clips are placed by the storyline's own offset in its parent clip
  (the adapter leaves it out); of an audition only the active pick (its first clip) is on the
  timeline (the adapter puts every alternative on it, one after another);
- a title or multicam clip (which the adapter skips, so its record time would read as a gap a
  batch could fill) is a clip with a ``GeneratorReference``, on its lane;
- a constant-speed retime (a two-point ``timeMap`` from 0) becomes a ``LinearTimeWarp`` and its
  ``start`` the media time it maps to; any other retime a plain ``TimeEffect``, which ShotForge
  refuses by name for the clip it is on; a generator (a ``video`` element of an effect, such as
  Clouds) a ``GeneratorReference``;
- written back, formats carry the exact ``frameDuration`` of any rate, a clip's format is its
  media's rate (not the project's), times are exact rationals, and the sequence keeps ``tcStart``.

- a storyline's transitions (which the adapter drops) are OTIO transitions on their cuts, read
  and written back by :mod:`otio_tools.fcpxml_transitions`.

What the adapter still does not hold: keywords' ranges are not on the OTIO timeline it reads;
generators, titles and multicam clips are read but cannot be written back (its writer writes
clips of media files only), so such a result stays in result.otio.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from fractions import Fraction
from typing import Iterator

import opentimelineio as otio
from otio_fcpx_xml_adapter import fcpx_xml as adapter

from otio_tools.retime import clip_speed
from otio_tools.timeline import rate_of, track_items, transition_cut
from otio_tools.timing import exact_rate, rate_label, to_frame

RationalTime = otio.opentime.RationalTime
TimeRange = otio.opentime.TimeRange

_CLIP_TAGS = ("clip", "asset-clip", "ref-clip")
#: what is timed in record time: a clip, or a bare video/audio element in a storyline (a generator)
_RECORD_TAGS = _CLIP_TAGS + ("video", "audio")
#: items the adapter skips (their record time would read as a gap), read as generator clips
_GENERATED_TAGS = ("title", "mc-clip")
#: the adapter's module-level time helpers are process-wide: patched for one write at a time
_WRITING = threading.Lock()


def seconds(text: str | None) -> Fraction:
    """An FCPXML time ('1001/24000s', '3600s', '0s', absent) as exact seconds."""
    if not text:
        return Fraction(0)
    value = text.strip().removesuffix("s")
    numerator, _, denominator = value.partition("/")
    return Fraction(numerator) / Fraction(denominator or 1)


def rational(time: Fraction) -> str:
    """Exact seconds as an FCPXML time."""
    time = Fraction(time)
    if time == 0:
        return "0s"
    return f"{time.numerator}s" if time.denominator == 1 else f"{time.numerator}/{time.denominator}s"


def frame_duration(rate: Fraction) -> str:
    """The ``frameDuration`` of a rate as Final Cut Pro writes it: 100/2500s at 25, 1001/30000s at 29.97."""
    rate = Fraction(rate)
    if rate.denominator == 1:
        return f"100/{100 * rate.numerator}s"
    return f"{rate.denominator}/{rate.numerator}s"


def _exact(rate: float | Fraction) -> Fraction:
    return exact_rate(rate) or Fraction(rate).limit_denominator(1001 * 1000)


def _time_seconds(time: RationalTime) -> Fraction:
    """An OTIO time as exact seconds: whole frames (or a media time like 56.25 frames) at an exact rate."""
    return Fraction(time.value).limit_denominator(1000) / _exact(time.rate)


def _seconds_time(time: Fraction) -> RationalTime:
    """Exact seconds as a time that :func:`_time_seconds` reads back exactly: its numerator at a
    'rate' of its denominator (whole numbers, which :func:`_exact` keeps as they are)."""
    return RationalTime(time.numerator, time.denominator)


def _frames(time: Fraction, rate: Fraction) -> RationalTime:
    """Seconds as a time at ``rate``: whole frames when the time is on a frame, exact either way."""
    frames = time * rate
    return RationalTime(frames.numerator if frames.denominator == 1 else float(frames), float(rate))


class ExactFcpxXml(adapter.FcpxXml):
    """The adapter's reader with exact times (see the module doc)."""

    def __init__(self, xml_string: str):
        super().__init__(xml_string)
        for audition in list(self.fcpx_xml.iter("audition")):
            for alternative in list(audition)[1:]:  # the first child is the active pick
                audition.remove(alternative)
        for element in self.fcpx_xml.iter():  # a title or multicam clip takes record time as a generator
            if element.tag in _GENERATED_TAGS:
                element.tag = "video"
        for asset in self.fcpx_xml.iter("asset"):  # FCPXML 1.9 on keeps the file in a media-rep
            sources = [rep.get("src") for rep in asset.findall("./media-rep") if rep.get("src")]
            if not asset.get("src") and sources:
                asset.set("src", sources[0])
        self.child_parent_map = {c: p for p in self.fcpx_xml.iter() for c in p}

    # ---- rates
    def _exact_rate(self, format_id: str) -> Fraction:
        media_format = self._format_by_id(format_id)
        duration = media_format.get("frameDuration") if media_format is not None else None
        if not duration:
            name = media_format.get("name", format_id) if media_format is not None else format_id
            raise ValueError(f"format {name!r} gives no frameDuration, so its frame rate is unknown")
        return 1 / seconds(duration)

    def _format_frame_rate(self, format_id: str) -> float:
        return float(self._exact_rate(format_id))

    def _sequence_of(self, element) -> object:
        while element is not None and element.tag != "sequence":
            element = self.child_parent_map.get(element)
        return element

    def _record_rate(self, element, default_format: str) -> Fraction:
        sequence = self._sequence_of(element)
        return self._exact_rate(sequence.get("format", default_format) if sequence is not None else default_format)

    def _timing_clip(self, clip):
        """The clip that times an element. A video or audio element straight in a storyline (a
        generator such as Clouds) times itself (the adapter walks past the storyline and fails),
        and so does one connected on a lane (a title over a clip, a clip's own sound on lane -1):
        the adapter times it as the clip it hangs on, on that clip's lane."""
        if clip.tag in ("video", "audio") and clip.get("lane") is not None and \
                self.child_parent_map.get(clip).tag != "gap":  # the adapter's writer puts sound in a gap
            return clip
        element = clip
        while element.tag not in _CLIP_TAGS:
            parent = self.child_parent_map.get(element)
            if parent is None or parent.tag in ("spine", "sequence"):
                return clip
            element = parent
        return element

    def _format_id_for_clip(self, clip, default_format):
        ref = clip.get("ref", None)
        if ref and clip.tag != "gap" and self._asset_by_id(ref) is None:
            media = self._compound_clip_by_id(ref)
            if media is None:
                return default_format  # an effect (a generator, a title): it plays at the project's rate
            if media.find("./sequence") is None:  # a multicam clip's media
                return next((m.get("format") for m in media.iter("multicam") if m.get("format")), default_format)
        return super()._format_id_for_clip(clip, default_format)

    # ---- times
    def _speed(self, clip) -> tuple[Fraction | None, bool]:
        """(speed, constant) of a clip's timeMap: (None, True) without one."""
        time_map = clip.find("./timeMap")
        if time_map is None:
            return None, True
        points = [(seconds(p.get("time")), seconds(p.get("value"))) for p in time_map.findall("./timept")]
        if len(points) == 2 and points[0] == (0, 0) and points[1][0] > 0:
            return points[1][1] / points[1][0], True
        return None, False

    def _time_range(self, element, format_id):
        rate = self._exact_rate(format_id)
        start = seconds(element.get("start"))
        speed, _ = self._speed(element) if element.tag in _RECORD_TAGS else (None, True)
        if speed is not None:
            start *= speed  # the clip's start is in its retimed time; the range starts in media time
        duration = seconds(element.get("duration"))
        if element.tag in _RECORD_TAGS:  # record duration: frames at the project's rate
            return TimeRange(_frames(start, rate), _frames(duration, self._record_rate(element, format_id)))
        return TimeRange(_frames(start, rate), _frames(duration, rate))

    def _offset_and_lane(self, clip, default_format):
        timing = self._timing_clip(clip)
        record, lane = self.record_seconds(timing)
        return _frames(record, self._record_rate(timing, default_format)), lane

    def record_seconds(self, timing) -> tuple[Fraction, str]:
        """(record time in exact seconds from the sequence's tcStart, lane) of an element timed in
        its storyline (a clip, a transition)."""
        parent = self.child_parent_map.get(timing)
        if parent.tag == "spine" and parent.get("lane", None):
            lane = parent.get("lane")
        else:
            lane = timing.get("lane", "0")
        # Each container's children count from its own start: add (offset - start) up to the sequence.
        record = seconds(timing.get("offset"))
        while parent is not None and parent.tag != "sequence":
            record += seconds(parent.get("offset")) - seconds(parent.get("start"))
            parent = self.child_parent_map.get(parent)
        if parent is not None:
            record -= seconds(parent.get("tcStart"))
        return record, lane

    def _reference_from_id(self, asset_id, default_format):
        asset = self._asset_by_id(asset_id)
        if asset is None:  # a generator or title (the ref names an effect) or a multicam clip (a media)
            source = self.fcpx_xml.find(f"./resources/effect[@id='{asset_id}']")
            if source is None:
                source = self._compound_clip_by_id(asset_id)
            name = source.get("name", asset_id) if source is not None else asset_id
            kind = "multicam clip" if source is not None and source.tag == "media" else name
            return otio.schema.GeneratorReference(name=name, generator_kind=kind)
        reference = super()._reference_from_id(asset_id, default_format)
        if isinstance(reference, otio.schema.ExternalReference):
            rate = self._exact_rate(asset.get("format", default_format))
            reference.available_range = TimeRange(_frames(seconds(asset.get("start")), rate),
                                                  _frames(seconds(asset.get("duration")), rate))
        return reference

    def _build_composable(self, element, default_format):
        composable = super()._build_composable(element, default_format)
        timing = self._timing_clip(element)
        speed, constant = self._speed(timing)
        if speed is not None:
            composable.effects.append(otio.schema.LinearTimeWarp(name="FCPX retime", time_scalar=float(speed)))
        elif not constant:
            composable.effects.append(otio.schema.TimeEffect(name="FCPX speed ramp", effect_name="timeMap"))
        return composable

    def _squence_to_stack(self, sequence_element, name="", source_range=None):
        from otio_tools.fcpxml_transitions import read_transitions  # it builds on this module's times

        stack = super()._squence_to_stack(sequence_element, name, source_range)
        read_transitions(self, sequence_element, stack)
        return stack

    def _from_project(self, project_element):
        timeline = super()._from_project(project_element)
        sequence = project_element.find("./sequence")
        if sequence is not None:
            rate = self._exact_rate(sequence.get("format"))
            timeline.global_start_time = _frames(seconds(sequence.get("tcStart")), rate)
            if sequence.get("tcFormat"):  # DF or NDF: how the project counts timecode
                timeline.metadata.setdefault(adapter.META_NAMESPACE, {})["tcFormat"] = sequence.get("tcFormat")
        return timeline


class ExactFcpxOtio(adapter.FcpxOtio):
    """The adapter's writer with exact times and formats (see the module doc)."""

    @staticmethod
    def _framerate_to_frame_duration(framerate):
        return frame_duration(_exact(framerate))

    @staticmethod
    def _calculate_rational_number(duration, rate):
        return rational(Fraction(duration).limit_denominator(1000) / _exact(rate))

    def _frame_rate_from_element(self, element, default_format_id):
        if element.tag == "gap":
            format_id = default_format_id
        elif element.tag == "ref-clip":
            format_id = self._media_by_id(element.get("ref")).find("./sequence").get("format")
        elif element.tag == "clip":
            holder = element.find("./gap/audio") if element.find("./gap") is not None else element.find("./video")
            format_id = self._asset_by_id(holder.get("ref")).get("format")
        else:
            format_id = self._asset_by_id(element.get("ref")).get("format")
        format_element = self.resource_element.find(f"./format[@id='{format_id}']")
        return 1 / seconds(format_element.get("frameDuration"))

    def _find_or_create_format_from(self, clip):
        rate = clip.duration().rate
        if isinstance(clip, otio.schema.Clip):  # a clip's format is its media's rate, not the project's
            available = clip.media_reference.available_range if clip.media_reference else None
            rate = (available or clip.source_range or clip.trimmed_range()).start_time.rate
        duration = self._framerate_to_frame_duration(rate)
        format_element = self.resource_element.find(f"./format[@frameDuration='{duration}']")
        if format_element is None:
            format_element = adapter.cElementTree.SubElement(
                self.resource_element, "format",
                {"id": self._resource_id_generator(), "frameDuration": duration, "name": ""})
        if not format_element.get("name"):
            format_element.set("name", self._clip_format_name(clip))
        return format_element

    def _offset_based_on_parent(self, child, parent, default_format_id):
        """A connected clip's offset in its parent's time, exact: the adapter counts a parent
        gap's ``start`` (3600s) in frames at the rate, which at NTSC rates is no whole frame, and
        the clip came back a frame early."""
        offset = seconds(child.get("offset")) - seconds(parent.get("offset")) + seconds(parent.get("start"))
        return _seconds_time(offset)

    def __init__(self, otio_timeline):
        super().__init__(otio_timeline)
        self.elements: dict = {}  # each item's element: transitions above V1 regroup them

    def _element_for_item(self, item, lane, ref_only=False, compound=False):
        element = super()._element_for_item(item, lane, ref_only, compound)
        self.elements[id(item)] = element
        return element

    def _element_for_clip(self, item, asset_id, duration, lane):
        element = super()._element_for_clip(item, asset_id, duration, lane)
        speed = clip_speed(item, f"clip {item.name!r}")  # a speed ramp is refused by name
        if speed <= 0:
            raise ValueError(f"clip {item.name!r} plays at speed {speed}: a reverse or freeze frame is not written "
                             "as FCPXML here")
        if speed != 1:  # a constant retime: start in retimed time, a two-point timeMap
            start = _time_seconds(item.source_range.start_time) / speed
            element.set("start", rational(start))
            end = start + _time_seconds(item.source_range.duration)
            time_map = adapter.cElementTree.Element("timeMap")
            for time in (Fraction(0), end):
                adapter.cElementTree.SubElement(time_map, "timept",
                                                {"time": rational(time), "value": rational(time * speed),
                                                 "interp": "linear"})
            element.insert(0, time_map)
        return element

    def _stack_to_sequence(self, stack, compound_clip=False):
        from otio_tools.fcpxml_transitions import write_transitions  # it builds on this module's times

        sequence = super()._stack_to_sequence(stack, compound_clip)
        write_transitions(self, stack, sequence)
        timeline = next((t for t in self.timelines if t.tracks is stack), None)
        counting = timeline.metadata.get(adapter.META_NAMESPACE, {}).get("tcFormat") if timeline is not None else None
        if counting in ("DF", "NDF"):
            sequence.set("tcFormat", counting)
        if timeline is not None and timeline.global_start_time is not None:
            start = _time_seconds(timeline.global_start_time)
            sequence.set("tcStart", rational(start))
            for item in sequence.find("./spine"):  # the spine counts from tcStart; lanes from their parent
                item.set("offset", rational(seconds(item.get("offset")) + start))
        return sequence


def _to_rational_time(rational_number, fps):
    """The adapter's writer helper, exact: an FCPXML time at ``fps`` frames a second."""
    return _frames(seconds(rational_number), Fraction(fps))


def _from_rational_time(rational_time):
    """The adapter's writer helper, exact: an OTIO time as an FCPXML time."""
    return rational(_time_seconds(rational_time))


@contextmanager
def _exact_writer_helpers() -> Iterator[None]:
    """The adapter's module-level time helpers, exact, for the span of one write."""
    with _WRITING:
        saved = adapter.to_rational_time, adapter.from_rational_time
        adapter.to_rational_time, adapter.from_rational_time = _to_rational_time, _from_rational_time
        try:
            yield
        finally:
            adapter.to_rational_time, adapter.from_rational_time = saved


def read_fcpxml_string(text: str):
    """What the adapter reads from FCPXML text (a Timeline or a SerializableCollection), times exact."""
    return ExactFcpxXml(text).to_otio()


def write_fcpxml_string(timeline: otio.schema.Timeline) -> str:
    with _exact_writer_helpers():
        return ExactFcpxOtio(timeline).to_xml()


def cut(timeline: otio.schema.Timeline) -> list[tuple]:
    """What an FCPXML holds of a timeline, to compare: its start and rate, then for each video and
    each audio track (in order) every clip, gap and compound clip as (track, record start, frames,
    kind, name, media start in seconds, speed), and every transition as (track, record frame of its
    cut, frames, "transition", name, frames before the cut, frames after)."""
    rate = rate_of(timeline)
    start = None if timeline.global_start_time is None else _time_seconds(timeline.global_start_time)
    held: list[tuple] = [("start", start, rate)]
    for kind, tracks in (("V", timeline.video_tracks()), ("A", timeline.audio_tracks())):
        for number, track in enumerate(tracks, 1):
            items = {item.index: item for item in track_items(track, rate)}
            for index, child in enumerate(track):
                item = items.get(index)
                if item is None:  # a transition, on the cut after the item before it
                    before, after = to_frame(child.in_offset, rate), to_frame(child.out_offset, rate)
                    at = transition_cut(items, index)
                    held.append((f"{kind}{number}", at, before + after, "transition", child.name, before, after))
                    continue
                if item.is_gap:
                    held.append((f"{kind}{number}", item.start, item.duration, "gap"))
                    continue
                # the media time it starts at, to a 100 000th of a second (retimed starts are not whole frames)
                media = Fraction(round(_time_seconds(item.item.source_range.start_time) * 100000), 100000)
                speed = clip_speed(item.item, item.describe()) if item.is_clip else Fraction(1)
                held.append((f"{kind}{number}", item.start, item.duration, type(item.item).__name__, item.item.name,
                             media, speed))
    return held


def write_fcpxml(timeline: otio.schema.Timeline, path: str) -> None:
    """Write ``timeline`` as FCPXML, then read it back: a file that would not put every clip at the
    same record frames, media frames and speed, and every transition on the same cut with the same
    frames either side, is refused (ValueError naming the first difference)."""
    for clip in timeline.find_clips():
        if isinstance(clip.media_reference, otio.schema.GeneratorReference):
            raise ValueError(f"clip {clip.name!r} is a generator ({clip.media_reference.generator_kind}): the "
                             "FCPXML adapter writes only clips of media files")
    _check_connected(timeline)
    text = write_fcpxml_string(timeline)
    back = read_fcpxml_string(text)
    if isinstance(back, otio.schema.SerializableCollection):
        back = next(item for item in back if isinstance(item, otio.schema.Timeline))
    wanted, got = cut(timeline), cut(back)
    if wanted != got:
        for want, have in zip(wanted + [None] * len(got), got + [None] * len(wanted)):
            if want != have:
                raise ValueError(f"the FCPXML adapter cannot hold it exactly at {rate_label(rate_of(timeline))} fps: "
                                 f"{_shown(want)} would be read back as {_shown(have)}")
    with open(path, "w", encoding="utf-8") as out:
        out.write(text)


def _check_connected(timeline: otio.schema.Timeline) -> None:
    """Every clip off the primary storyline (V1) is connected to the V1 item under its first frame,
    as in Final Cut Pro; one that starts where V1 has ended is refused by name."""
    rate = rate_of(timeline)
    video = timeline.video_tracks()
    primary_end = track_items(video[0], rate)[-1].end if video and len(video[0]) else 0
    for kind, tracks, first in (("V", video, 1), ("A", timeline.audio_tracks(), 0)):
        for number, track in enumerate(tracks[first:], first + 1):
            for item in track_items(track, rate):
                if not item.is_gap and item.duration > 0 and item.start >= primary_end:
                    raise ValueError(f"clip {item.item.name!r} on {kind}{number} at record frames {item.start}-"
                                     f"{item.end - 1} starts after the primary storyline (V1) ends at frame "
                                     f"{primary_end - 1}: FCPXML connects every other clip to a V1 item under it")


def _shown(held: tuple | None) -> str:
    if held is None:
        return "nothing"
    if held[0] == "start":
        return f"a timeline starting at {held[1]}s" if held[1] is not None else "a timeline with no start"
    track, start, frames, kind = held[:4]
    if kind == "transition":
        return f"the transition {held[4]!r} at {track}'s cut at frame {start} ({held[5]} frame(s) before it, " \
               f"{held[6]} after)"
    what = "a gap" if kind == "gap" else f"{'compound clip' if kind == 'Stack' else 'clip'} {held[4]!r} " \
                                         f"(from {float(held[5]):g}s of its media, speed {held[6]})"
    return f"{what} at {track} frames {start}-{start + frames - 1}"
