"""A conformed take brings its sound into the slot: the old take's sound clip (same media, same
record frames) plays the new take's media, is removed when the new take has no sound, and a new
take with sound where the old had none gets an audio track by the placement rules. Through
``server.conform`` on a real clip with sound, and on hand-built timelines."""

from __future__ import annotations

import dataclasses
import shutil
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest

from otio_tools.conform import TakeClip, find_takes, swap_in
from otio_tools.errors import RequestError
from otio_tools.takes import Slot, Take, pack
from otio_tools.timeline import track_items
from server import media_audio
from server.conform import conform, read_tags
from server.render import plan_job, run_job
from tests.shared_data import VIDEO, shared
from tests.test_placement_audio import edit_with_sound, result_of

RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange
VIDEO_KIND, AUDIO_KIND = otio.schema.TrackKind.Video, otio.schema.TrackKind.Audio


def clip(media: str, frames: int, start: int = 0, name: str = "") -> otio.schema.Clip:
    return otio.schema.Clip(name=name or Path(media).stem, source_range=TR(RT(start, 24), RT(frames, 24)),
                            media_reference=otio.schema.ExternalReference(f"file:///media/{media}"))


def gap(frames: int) -> otio.schema.Gap:
    return otio.schema.Gap(source_range=TR(RT(0, 24), RT(frames, 24)))


def track(kind: str, *children) -> otio.schema.Track:
    made = otio.schema.Track(kind=kind)
    made.extend(children)
    return made


def take(operation: str = "fill_gap", **asked) -> Take:
    request = otio.schema.Timeline(metadata={"shotforge": {"version": 1, "operation": operation, "track": 0,
                                                           **asked}})
    return Take(id="take-1", operation=operation, slot=Slot(0, 20, 10, Fraction(24), 640, 360), engine="classical",
                model="classical", model_revision="1", request=pack(otio.adapters.write_to_string(request)),
                shotforge_version="1")


def cut(*audio: otio.schema.Track) -> tuple[otio.schema.Timeline, TakeClip]:
    """V1: a (0-19) | the old take (old.mov, 20-29) | b (30-49); the given audio tracks."""
    timeline = otio.schema.Timeline(tracks=[track(VIDEO_KIND, clip("a.mov", 20), clip("old.mov", 10, 86400),
                                                  clip("b.mov", 20))], global_start_time=RT(0, 24))
    timeline.tracks.extend(audio)
    return timeline, TakeClip(0, 1, 20, 10, "old", take(frame=25), 0)


def new_take() -> otio.schema.Clip:
    return otio.schema.Clip(name="new take", source_range=TR(RT(3600, 24), RT(10, 24)),
                            media_reference=otio.schema.ExternalReference("file:///out/new.mov"),
                            metadata={"shotforge": {"engine": "diffusers"}})


def layout(timeline: otio.schema.Timeline) -> list[list[tuple]]:
    """Each audio track's clips: (record start, end, media file, source start frame, enabled)."""
    return [[(i.start, i.end, Path(i.item.media_reference.target_url).name, i.item.source_range.start_time.value,
              i.item.enabled) for i in track_items(t, 24) if i.is_clip] for t in timeline.audio_tracks()]


def test_the_old_takes_sound_plays_the_new_take():
    muted = clip("old.mov", 10, 86400)
    muted.enabled = False
    timeline, where = cut(track(AUDIO_KIND, clip("a.mov", 20), muted, clip("b.mov", 20)),
                          track(AUDIO_KIND, gap(15), clip("music.wav", 30)))
    assert swap_in(timeline, where, new_take()) == 0
    assert layout(timeline) == [[(0, 20, "a.mov", 0, True), (20, 30, "new.mov", 3600, False),
                                 (30, 50, "b.mov", 0, True)], [(15, 45, "music.wav", 0, True)]]
    assert timeline.audio_tracks()[0][1].source_range == timeline.video_tracks()[0][1].source_range


def test_a_new_take_without_sound_takes_the_old_takes_sound_away():
    timeline, where = cut(track(AUDIO_KIND, clip("a.mov", 20), clip("old.mov", 10, 86400),
                                otio.schema.Transition(in_offset=RT(2, 24), out_offset=RT(2, 24)),
                                clip("b.mov", 20)))
    assert swap_in(timeline, where, new_take(), sound=False) is None
    assert layout(timeline) == [[(0, 20, "a.mov", 0, True), (30, 50, "b.mov", 0, True)]]
    a1 = timeline.audio_tracks()[0]
    assert not any(isinstance(child, otio.schema.Transition) for child in a1)  # its other side is gone
    assert [(i.start, i.end, i.is_gap) for i in track_items(a1, 24)][1] == (20, 30, True)  # nothing moved


def test_a_new_take_with_sound_where_the_old_had_none_goes_by_the_placement_rules():
    # the clip before the gap has its sound on A2: there, free over the slot
    timeline, where = cut(track(AUDIO_KIND, clip("music.wav", 50)), track(AUDIO_KIND, clip("a.mov", 20)))
    assert swap_in(timeline, where, new_take(), sound=True) == 1
    assert layout(timeline)[1] == [(0, 20, "a.mov", 0, True), (20, 30, "new.mov", 3600, True)]
    # a's sound runs on under the slot (an L-cut): the lowest free above it, here a new A3
    timeline, where = cut(track(AUDIO_KIND, clip("music.wav", 50)), track(AUDIO_KIND, clip("a.mov", 25)))
    assert swap_in(timeline, where, new_take(), sound=True) == 2
    assert layout(timeline)[2] == [(20, 30, "new.mov", 3600, True)]
    # a tail extension's source is the clip before it, a head extension's the one after
    timeline, _ = cut(track(AUDIO_KIND, clip("a.mov", 20)), track(AUDIO_KIND, gap(30), clip("b.mov", 20)))
    head = TakeClip(0, 1, 20, 10, "old", take("extend", frame=35, side="head", frames=10), 0)
    assert swap_in(timeline, head, new_take(), sound=True) == 1
    # and without the source's sound anywhere: the lowest free audio track, a new one on a bare timeline
    timeline, where = cut()
    assert swap_in(timeline, where, new_take(), sound=True) == 0
    assert layout(timeline) == [[(20, 30, "new.mov", 3600, True)]]


def test_the_editors_markers_effects_and_metadata_on_the_take_and_its_sound_stay():
    picture, sound = clip("old.mov", 10, 86400), clip("old.mov", 10, 86400)
    picture.markers.append(otio.schema.Marker(name="check the hands", marked_range=TR(RT(86403, 24), RT(0, 24))))
    picture.metadata.update({"Resolve_OTIO": {"Clip Color": "Orange"}, "shotforge": {"take": "old"}})
    sound.effects.append(otio.schema.Effect(name="Gain", effect_name="AudioLevels", metadata={"dB": -6}))
    sound.metadata["fcp_xml"] = {"filter": "fade in 4 frames"}
    timeline, where = cut(track(AUDIO_KIND, clip("a.mov", 20), sound, clip("b.mov", 20)))
    timeline.video_tracks()[0][1] = picture
    assert swap_in(timeline, where, new_take()) == 0
    for swapped in (timeline.video_tracks()[0][1], timeline.audio_tracks()[0][1]):
        assert swapped.media_reference.target_url == "file:///out/new.mov"
        assert swapped.source_range == TR(RT(3600, 24), RT(10, 24))
        assert swapped.name == "new take" and swapped.metadata["shotforge"] == {"engine": "diffusers"}
    placed, heard = timeline.video_tracks()[0][1], timeline.audio_tracks()[0][1]
    assert [(m.name, m.marked_range.start_time) for m in placed.markers] == [("check the hands", RT(3603, 24))]
    assert placed.metadata["Resolve_OTIO"] == {"Clip Color": "Orange"}
    assert [e.name for e in heard.effects] == ["Gain"] and heard.metadata["fcp_xml"] == {"filter": "fade in 4 frames"}


def test_a_take_whose_recipe_cannot_be_read_is_refused_with_the_timeline_as_it_was():
    timeline, where = cut(track(AUDIO_KIND, clip("a.mov", 20)))
    before = otio.adapters.write_to_string(timeline)
    unreadable = TakeClip(0, 1, 20, 10, "old", dataclasses.replace(where.take, request=pack("{}")), 0)
    with pytest.raises(RequestError, match="take take-1: its request has no metadata.shotforge"):
        swap_in(timeline, unreadable, new_take(), sound=True)
    assert otio.adapters.write_to_string(timeline) == before


def test_a_take_whose_old_sound_is_absent_stays_silent_unless_told():
    timeline, where = cut(track(AUDIO_KIND, clip("a.mov", 20)))
    assert swap_in(timeline, where, new_take()) is None
    assert layout(timeline) == [[(0, 20, "a.mov", 0, True)]]


def test_conform_swaps_a_gap_fills_room_tone_to_the_new_take(tmp_path):
    chaplin = Path(shutil.copy(shared(VIDEO / "chaplin.mp4"), tmp_path / "chaplin.mp4"))
    timeline, request = edit_with_sound(chaplin, [(0, 0, 20), (30, 100, 20)], operation="fill_gap", track=0,
                                        frame=25)
    rendered = result_of(run_job(plan_job(timeline, request), tmp_path / "render"))
    exported = tmp_path / "exported.otio"
    otio.adapters.write_to_file(rendered, str(exported))
    (old,), _ = find_takes(rendered, read_tags)
    report = conform(exported, tmp_path / "conformed", engine="classical", include_classical=True)
    assert report.failed == [] and len(report.takes) == 1
    media = report.takes[0]["media"]
    conformed = otio.adapters.read_from_file(report.otio)
    picture = [i for i in track_items(conformed.video_tracks()[0], 25) if i.is_clip]
    sound = [i for i in track_items(conformed.audio_tracks()[0], 25) if i.is_clip]
    assert [(i.start, i.end) for i in sound] == [(0, 20), (20, 30), (30, 50)]
    assert sound[1].item.media_reference.target_url == picture[1].item.media_reference.target_url == \
        Path(media).as_uri()
    assert sound[1].item.source_range == picture[1].item.source_range
    assert media_audio.read_audio(media, Fraction(0), Fraction(1, 5)) is not None  # the new take has sound
    assert report.takes[0]["replaced"] == old.take.id
