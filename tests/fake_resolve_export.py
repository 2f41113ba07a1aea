"""The fake Resolve's OTIO export: a :class:`fake_resolve_timeline.Timeline` written as Resolve's
exporter writes it (resolve_api_notes.md "ImportTimelineFromFile (OTIO)" and "Known traps"):
media ranges in the media's own timecode frames, rates rounded as Resolve writes them,
``Resolve_OTIO`` metadata, constant retimes as ``LinearTimeWarp``, transitions between the items
they join."""

from __future__ import annotations

import opentimelineio as otio

from fake_resolve_api import rate_text as _rate_text
from fake_resolve_timeline import Entry, Timeline

RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange


def _clip_child(timeline: Timeline, entry: Entry, rate: float):
    frames = RT(entry.frames, rate)
    if entry.kind in ("title", "generator", "adjustment"):
        ref = otio.schema.GeneratorReference(name=entry.name, generator_kind=entry.generator,
                                             available_range=TR(RT(0, rate), frames))
        return otio.schema.Clip(name=entry.name, media_reference=ref, source_range=TR(RT(0, rate), frames))
    if entry.kind == "compound":
        stack = otio.schema.Stack(name=entry.name, source_range=TR(RT(0, rate), frames))
        inner = otio.schema.Track(name="Video 1", kind=otio.schema.TrackKind.Video)
        media, source_in = entry.inner
        if media is None:
            inner.append(otio.schema.Gap(source_range=TR(RT(0, rate), frames)))
        else:
            inner.append(_media_clip(Entry("clip", media.name, 0, entry.frames, media, source_in), rate))
        stack.append(inner)
        return stack
    return _media_clip(entry, rate)


def _media_clip(entry: Entry, rate: float) -> otio.schema.Clip:
    """A clip as Resolve writes it: media ranges in media frames from the source timecode, at the
    timeline's rate (not rescaled for other-rate media); a retime as a LinearTimeWarp whose
    ``time_scalar`` is the speed (negative: reverse), ``source_range.start_time`` the lowest media
    frame played and ``source_range.duration`` the record duration."""
    media = entry.media
    tc0 = media.start_tc_frame
    ref = otio.schema.ExternalReference(
        target_url=media.path, available_range=TR(RT(tc0, rate), RT(media.info["frames"], rate)),
        metadata={"Resolve_OTIO": {"Source Timecode": media.info["timecode"]}})
    ref.name = media.name
    clip = otio.schema.Clip(name=entry.name, media_reference=ref,
                            source_range=TR(RT(tc0 + entry.source_in, rate), RT(entry.frames, rate)),
                            metadata={"Resolve_OTIO": {"Link Group ID": abs(hash(entry.uid)) % 10000}})
    if entry.speed == 0:
        clip.effects.append(otio.schema.FreezeFrame(name="Freeze Frame"))
    elif entry.speed != 1:
        clip.effects.append(otio.schema.LinearTimeWarp(name="Retime", time_scalar=float(entry.speed)))
    clip.enabled = bool(entry.enabled)
    for frame, marker in sorted(entry.markers.items()):
        clip.markers.append(otio.schema.Marker(
            name=marker["name"], marked_range=TR(RT(tc0 + entry.source_in + frame, rate),
                                                 RT(marker["duration"], rate)),
            metadata={"Resolve_OTIO": {"Note": marker["note"], "Color": marker["color"]}}))
    return clip


def export_otio(timeline: Timeline) -> str:
    """The timeline as Resolve's OTIO exporter writes it (resolve_api_notes.md): the start
    timecode's frame as ``global_start_time``, rates as Resolve writes them (23.976, 29.97:
    rounded), ``Resolve_OTIO`` metadata, transitions between the items they join, the audio tracks
    (with their items) after the video tracks."""
    rate = float(timeline.rate) if timeline.exact_rates_in_export else float(_rate_text(timeline.rate))
    out = otio.schema.Timeline(name=timeline.name)
    out.metadata["Resolve_OTIO"] = {"Resolve OTIO Meta Version": "1.0"}
    out.global_start_time = RT(timeline.start_frame, rate)
    for index, track in enumerate(timeline.tracks):
        otrack = otio.schema.Track(name=track["name"], kind=otio.schema.TrackKind.Video,
                                   metadata={"Resolve_OTIO": {"Locked": False}})
        built, position = [], 0  # (end frame, child)
        for entry in timeline.entries(index, transitions=False):
            if entry.start > position:
                built.append((entry.start, otio.schema.Gap(source_range=TR(RT(0, rate),
                                                                           RT(entry.start - position, rate)))))
            built.append((entry.end, _clip_child(timeline, entry, rate)))
            position = entry.end
        children = [child for _end, child in built]
        for entry in sorted((e for e in track["entries"] if e.kind == "transition"), key=lambda e: -e.start):
            cut = entry.start + entry.frames // 2
            after = next((i + 1 for i, (end, _c) in enumerate(built) if end == cut), 0)
            if after == len(children):  # at the track's end: the transition dissolves to black
                children.append(otio.schema.Gap(source_range=TR(RT(0, rate), RT(entry.end - cut, rate))))
            children.insert(after, otio.schema.Transition(
                name=entry.name, transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve,
                in_offset=RT(cut - entry.start, rate), out_offset=RT(entry.end - cut, rate)))
        for child in children:
            otrack.append(child)
        out.tracks.append(otrack)
    for track in timeline.audio_tracks:
        otrack = otio.schema.Track(name=track["name"], kind=otio.schema.TrackKind.Audio,
                                   metadata={"Resolve_OTIO": {"Locked": False}})
        position = 0
        for entry in sorted(track["entries"], key=lambda e: e.start):
            if entry.start > position:
                otrack.append(otio.schema.Gap(source_range=TR(RT(0, rate), RT(entry.start - position, rate))))
            otrack.append(_media_clip(entry, rate))
            position = entry.end
        out.tracks.append(otrack)
    for frame, marker in sorted(timeline.markers.items()):
        out.tracks.markers.append(otio.schema.Marker(
            name=marker["name"], marked_range=TR(RT(frame, rate), RT(marker["duration"], rate)),
            metadata={"Resolve_OTIO": {"Note": marker["note"]}}))
    return otio.adapters.write_to_string(out, "otio_json")
