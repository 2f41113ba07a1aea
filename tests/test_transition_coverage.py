"""A clip under a dissolve is seen beyond its cut: an inpaint or outpaint covers those frames too.

Plans on built timelines at 24, 23.976 and 29.97 (and reversed, held, mixed-rate clips), and on real
interchange exports with dissolves (Premiere's FCP7 XML, Avid's AAF, a CMX 3600 EDL), each checked
against OpenTimelineIO's own ``visible_range``; placements and result.otio for above and overwrite;
a transition asking for more handles than the media has."""

from __future__ import annotations

from fractions import Fraction

import opentimelineio as otio
import pytest

from otio_tools import RequestError, request_from_timeline
from otio_tools.interchange import read_any
from otio_tools.media import MediaFacts
from otio_tools.plan import plan_request
from otio_tools.retime import ClipTime
from otio_tools.splice import splice_result
from otio_tools.timeline import rate_of, track_items
from otio_tools.timing import frame_to_timecode, to_frame
from tests.shared_data import INTERCHANGE, shared

RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange
PICTURE = (640, 360)
RATES = [Fraction(24), Fraction(24000, 1001), Fraction(30000, 1001)]


def clip(name: str, first: int, duration: int, rate: Fraction, media_frames: int = 400,
         speed: float | None = None) -> otio.schema.Clip:
    made = otio.schema.Clip(name=name, source_range=TR(RT(first, float(rate)), RT(duration, float(rate))),
                            media_reference=otio.schema.ExternalReference(
                                f"file:///media/{name}.mov",
                                available_range=TR(RT(0, float(rate)), RT(media_frames, float(rate)))))
    if speed is not None:
        made.effects.append(otio.schema.LinearTimeWarp(time_scalar=speed))
    return made


def dissolve(rate: Fraction, before: int, after: int, name: str = "Cross Dissolve") -> otio.schema.Transition:
    return otio.schema.Transition(name=name, transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve,
                                  in_offset=RT(before, float(rate)), out_offset=RT(after, float(rate)))


def cut(rate: Fraction, *, a_media: int = 400, speed: float | None = None, v2: list | None = None):
    """V1: P (record 0-19) | dissolve 4/5 | A (media 100-147, record 20-67) | dissolve 6/8 | B
    (media 50-79, record 68-97): A shows from frame 16 (the first dissolve's 4 frames before its
    cut) to 75 (the second's 8 after). ``v2``: (start, length) of clips on V2."""
    timeline = otio.schema.Timeline(name="dissolves")
    track = otio.schema.Track(name="V1")
    timeline.tracks.append(track)
    track.extend([clip("P", 60, 20, rate), dissolve(rate, 4, 5),
                  clip("A", 100, 48, rate, a_media, speed), dissolve(rate, 6, 8), clip("B", 50, 30, rate)])
    if v2 is not None:
        upper = otio.schema.Track(name="V2")
        timeline.tracks.append(upper)
        at = 0
        for start, length in v2:
            upper.append(otio.schema.Gap(source_range=TR(RT(0, float(rate)), RT(start - at, float(rate)))))
            upper.append(clip("title", 0, length, rate))
            at = start + length
    return timeline


def media(frames: dict[str, int] | None = None, rate: Fraction = Fraction(24), default: int = 400):
    """Facts of each file by name: ``frames[name]`` long (``default`` unless told), at ``rate``."""
    def lookup(path: str, where: str) -> MediaFacts:
        name = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        return MediaFacts(path, *PICTURE, rate, (frames or {}).get(name, default))
    return lookup


def ask(timeline: otio.schema.Timeline, operation: str = "inpaint", **shotforge):
    timeline = timeline.deepcopy()
    keys = {"region": [10, 20, 30, 40]} if operation == "inpaint" else {"canvas": [360, 640]}
    timeline.metadata["shotforge"] = {"version": 1, "operation": operation, "frame": 30, **keys, **shotforge}
    return timeline, request_from_timeline(timeline)


def plan_of(timeline, rate, operation="inpaint", frames=None, **shotforge):
    timeline, request = ask(timeline, operation, **shotforge)
    return timeline, plan_request(timeline, request, media(frames, rate))


def visible(timeline: otio.schema.Timeline, track: int, name: str) -> tuple[int, int]:
    """OpenTimelineIO's own record range of what shows of clip ``name`` (its ``visible_range``)."""
    rate = rate_of(timeline)
    lane = timeline.video_tracks()[track]
    item = next(i for i in track_items(lane, rate) if i.item.name == name)
    seen, trimmed = item.item.visible_range(), item.item.trimmed_range()
    head = to_frame(trimmed.start_time - seen.start_time, rate)
    return item.start - head, to_frame(seen.duration, rate)


def made_indices(plan) -> list[int]:
    area = plan.inpaint
    return [plan.context.indices[i] for i in area.made] if area else list(plan.context.indices)


# -- built timelines ----------------------------------------------------------------------------

@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("operation", ["inpaint", "outpaint"])
def test_above_the_result_covers_the_clip_and_both_dissolves_frame_exact(rate, operation):
    timeline, plan = plan_of(cut(rate), rate, operation)
    assert visible(timeline, 0, "A") == (16, 60)  # 4 before its in point, 48, 8 after its out point
    assert (plan.record_frame, plan.frames, plan.make, plan.media_frames, plan.media_in) == (16, 60, 60, 60, 0)
    assert plan.track == 1
    assert made_indices(plan) == list(range(96, 156))  # media frames 96-99, the clip's 100-147, then 148-155
    assert [p.to_dict() for p in plan.placements("/out/A.mov")] == [
        {"media": "/out/A.mov", "track": 1, "record_frame": 16, "source_in": 0, "frames": 60}]
    assert plan.start_timecode == frame_to_timecode(96, rate)  # media frame 96 (the file has no timecode)
    head, tail = plan.notes
    assert "'Cross Dissolve' at the cut at frame 20" in head and "shows 4 frame(s)" in head and \
           "record frames 16-19" in head and "starts with a cut at frame 16" in head
    assert "at the cut at frame 68" in tail and "clip 'B' (frames 68-97)" in tail and \
           "record frames 68-75" in tail and "ends with a cut at frame 76" in tail
    if operation == "inpaint":
        # the region is given over the clip's cut; the engine sees 2 s of handles either side
        assert [plan.context.indices[i] for i in plan.inpaint.placed] == list(range(100, 148))
        assert plan.inpaint.made == range(plan.inpaint.placed.start - 4, plan.inpaint.placed.stop + 8)


@pytest.mark.parametrize("rate", RATES)
def test_overwrite_places_the_cut_from_media_that_holds_the_dissolves_handles(rate):
    timeline, plan = plan_of(cut(rate), rate, placement="overwrite")
    assert (plan.track, plan.record_frame, plan.frames, plan.media_frames, plan.media_in) == (0, 20, 48, 60, 4)
    assert made_indices(plan) == list(range(96, 156))
    assert [p.to_dict() for p in plan.placements("/out/A.mov")] == [
        {"media": "/out/A.mov", "track": 0, "record_frame": 20, "source_in": 4, "frames": 48}]
    assert all("the result replaces the clip's cut only" in note and "an editor's overwrite removes the transition"
               in note for note in plan.notes)
    assert "media frames 96-99" in plan.notes[0] and "media frames 148-155" in plan.notes[1]

    result = splice_result(timeline, plan, plan.placements("/out/A.mov"), {"engine": "classical"})
    track = result.video_tracks()[0]
    new = next(c for c in track if c.name == "A (ShotForge inpaint)")
    assert plan.start_timecode == frame_to_timecode(96, rate)  # the media starts 4 frames before the cut
    assert track.range_of_child(new) == TR(RT(20, float(rate)), RT(48, float(rate)))
    first = to_frame(new.media_reference.available_range.start_time, rate)
    assert to_frame(new.source_range.start_time, rate) - first == 4  # placed from the media's 5th frame
    assert to_frame(new.media_reference.available_range.duration, rate) == 60
    # unlike an editor's overwrite, both dissolves stay on their cuts: the new media holds their handles
    assert [(c.name, to_frame(c.in_offset, rate), to_frame(c.out_offset, rate)) if isinstance(c, otio.schema.Transition)
            else c.name for c in track] == ["P", ("Cross Dissolve", 4, 5), "A (ShotForge inpaint)",
                                            ("Cross Dissolve", 6, 8), "B"]
    assert visible(result, 0, "A (ShotForge inpaint)") == (16, 60)  # what OTIO plays of it: all in its media
    assert "notes" not in result.metadata["shotforge_result"]


def test_a_dissolve_asking_more_than_the_media_has_is_covered_as_far_as_it_goes_and_said():
    rate = Fraction(24)
    timeline, plan = plan_of(cut(rate), rate, frames={"A": 151})  # 3 frames after A's out point, not 8
    assert (plan.record_frame, plan.frames) == (16, 4 + 48 + 3)
    assert made_indices(plan) == list(range(96, 151))
    tail = plan.notes[1]
    assert "shows 8 frame(s)" in tail and "has only 3 of them" in tail
    assert "covers those 3 (record frames 68-70)" in tail and "record frames 71-75 still show the original" in tail
    assert "ends with a cut at frame 71" in tail
    assert "throughout" not in tail and "throughout" in plan.notes[0]


def test_a_dissolve_past_the_media_on_both_sides_leaves_the_cut_and_says_so():
    rate = Fraction(24)
    timeline = cut(rate)
    timeline.video_tracks()[0][2].source_range = TR(RT(0, 24), RT(48, 24))  # A from the media's first frame
    timeline, plan = plan_of(timeline, rate, frames={"A": 48})
    assert (plan.record_frame, plan.frames) == (20, 48) and made_indices(plan) == list(range(48))
    assert len(plan.notes) == 2 and all("none of them" in note for note in plan.notes)
    assert "record frames 16-19 still show the original" in plan.notes[0]


def test_v2_taken_over_the_dissolve_but_not_the_cut_sends_the_result_higher():
    rate = Fraction(24000, 1001)
    _, plan = plan_of(cut(rate, v2=[(70, 4)]), rate)  # a title over 70-73: in B's cut, under the dissolve
    assert plan.track == 2
    _, plan = plan_of(cut(rate, v2=[(76, 4)]), rate)  # just after what A shows
    assert plan.track == 1


@pytest.mark.parametrize("speed", [-1.0, 0.5])
def test_a_retimed_clip_under_dissolves_is_covered_as_the_timeline_plays_it(speed):
    rate = Fraction(30000, 1001)
    _, plan = plan_of(cut(rate, speed=speed), rate)
    timing = ClipTime(100, 48, Fraction(speed), rate, rate)
    assert (plan.record_frame, plan.frames) == (16, 60)
    assert made_indices(plan) == timing.indices(range(-4, 56))


def test_a_held_frame_under_a_dissolve_holds_over_it():
    rate = Fraction(24)
    _, plan = plan_of(cut(rate, speed=0.0), rate)
    assert (plan.record_frame, plan.frames) == (16, 60) and made_indices(plan) == [100] * 60


def test_a_mixed_rate_clip_under_a_dissolve_shows_its_own_frames_beyond_the_cut():
    rate = Fraction(24)
    timeline = cut(rate)
    a = timeline.video_tracks()[0][2]
    a.source_range = TR(RT(100, 25), RT(48, 24))
    a.media_reference.available_range = TR(RT(0, 25), RT(400, 25))
    timeline, request = ask(timeline)

    def facts(path, where):
        return MediaFacts(path, *PICTURE, Fraction(25) if "/A." in path else rate, 400)
    plan = plan_request(timeline, request, facts)
    assert made_indices(plan) == ClipTime(100, 48, Fraction(1), Fraction(25), rate).indices(range(-4, 56))


def test_a_clip_without_transitions_is_planned_as_before():
    rate = Fraction(24)
    timeline = otio.schema.Timeline()
    track = otio.schema.Track()
    timeline.tracks.append(track)
    track.extend([clip("P", 60, 20, rate), clip("A", 100, 48, rate)])
    _, plan = plan_of(timeline, rate)
    assert (plan.record_frame, plan.frames, plan.media_in, plan.notes) == (20, 48, 0, ())
    assert plan.inpaint.made == plan.inpaint.placed


def test_a_fade_from_a_gap_is_covered_too():
    rate = Fraction(25)
    timeline = otio.schema.Timeline()
    track = otio.schema.Track()
    timeline.tracks.append(track)
    track.extend([otio.schema.Gap(source_range=TR(RT(0, 25), RT(12, 25))), dissolve(rate, 6, 0, "Fade In"),
                  clip("A", 100, 48, rate)])
    timeline, plan = plan_of(timeline, rate, frame=20)
    assert visible(timeline, 0, "A") == (6, 54)
    assert (plan.record_frame, plan.frames) == (6, 54) and made_indices(plan)[:7] == list(range(94, 101))
    assert "(with gap (frames 0-11))" in plan.notes[0]


# -- real interchange exports -------------------------------------------------------------------

def _relinked(timeline: otio.schema.Timeline) -> otio.schema.Timeline:
    """Each clip's media named by its file (the exports' paths are on other machines)."""
    for item in timeline.find_clips():
        reference = item.media_reference
        if isinstance(reference, otio.schema.ExternalReference):
            reference.target_url = "file:///media/" + reference.target_url.rsplit("/", 1)[-1]
    return timeline


def _lengths(timeline: otio.schema.Timeline, rate: Fraction) -> dict[str, int]:
    """Each file's length in frames at ``rate``, as its available range says."""
    out = {}
    for item in timeline.find_clips():
        reference = item.media_reference
        if isinstance(reference, otio.schema.ExternalReference) and reference.available_range is not None:
            out[reference.target_url.rsplit("/", 1)[-1]] = to_frame(reference.available_range.duration, rate)
    return out


@pytest.mark.parametrize("export, track, name, frame, expected", [
    # Premiere (FCP7 XML, 30 fps): V4 'sc01_master_layerA_sh030_temp.mov' dissolves (12/13) into 'sc01_sh010_anim.mov'
    ("premiere_example.xml", 3, "sc01_master_layerA_sh030_temp.mov", 1000, (956, 208 + 13)),
    ("premiere_example.xml", 3, "sc01_sh010_anim.mov", 1200, (1164 - 12, 12 + 82)),
    # Avid Media Composer (AAF, 24 fps): 't-hawk' dissolves in over 48 frames and fades out over 12
    ("avid_mc_8.6_transitions.aaf", 0, "t-hawk (loop)-HD.mp4", 150, (117 - 48, 48 + 77 + 12)),
])
def test_a_real_exports_dissolves_are_covered_as_opentimelineio_sees_them(export, track, name, frame, expected):
    timeline, _ = read_any(shared(INTERCHANGE / export))
    timeline = _relinked(timeline)
    rate = rate_of(timeline)
    timeline.metadata["shotforge"] = {"version": 1, "operation": "inpaint", "frame": frame, "track": track,
                                      "region": [0, 0, 8, 8]}
    request = request_from_timeline(timeline)
    lengths = _lengths(timeline, rate)

    def lookup(path, where):  # each file as long as its available range says, counted from its first frame
        return MediaFacts(path, *PICTURE, rate, lengths[path.rsplit("/", 1)[-1]])
    plan = plan_request(timeline, request, lookup)
    assert visible(timeline, track, name) == expected
    assert (plan.record_frame, plan.frames) == expected
    assert plan.track == len(timeline.video_tracks())  # every track is taken there: a new one on top
    assert len(plan.inpaint.made) == plan.media_frames == expected[1]
    made = made_indices(plan)
    assert made == list(range(made[0], made[0] + expected[1]))  # consecutive media frames, the cut's among them
    assert plan.notes and all("throughout" in note for note in plan.notes)


@pytest.mark.parametrize("rate", [Fraction(24000, 1001), Fraction(30000, 1001)])
def test_an_edl_dissolve_read_at_an_ntsc_rate_is_covered(rate):
    """dissolve_test.edl: clip_A (9 frames), then a 10-frame dissolve from its out point into clip_B."""
    timeline, _ = read_any(shared(INTERCHANGE / "dissolve_test.edl"), rate)
    for item in timeline.find_clips():  # an EDL names no files: each tape's frames from 00:00:00:00
        item.media_reference = otio.schema.ExternalReference(
            f"file:///media/{item.name}.mov", available_range=TR(RT(0, float(rate)), RT(200000, float(rate))))
    first = track_items(timeline.video_tracks()[0], rate)[0].start  # the record timecode 01:00:00:00
    timeline.metadata["shotforge"] = {"version": 1, "operation": "outpaint", "frame": first + 3,
                                      "canvas": [360, 640]}
    plan = plan_request(timeline, request_from_timeline(timeline), media(rate=rate, default=200000))
    assert visible(timeline, 0, "clip_A") == (first, 9 + 10)
    assert (plan.record_frame, plan.frames, plan.media_frames) == (first, 19, 19)
    start = to_frame(timeline.video_tracks()[0][0].source_range.start_time, rate)
    assert list(plan.context.indices) == list(range(start, start + 19))


def test_a_clip_at_the_job_limit_with_a_dissolve_beyond_it_is_refused_naming_both(monkeypatch):
    import otio_tools.transitions as transitions

    monkeypatch.setattr(transitions, "MAX_FRAMES", 59)  # the clip's 48 and the dissolves' 12 are 60
    with pytest.raises(RequestError) as caught:
        plan_of(cut(Fraction(24)), Fraction(24))
    assert caught.value.code == "too_large" and "its transitions show 12 more of it: 60 frames" in caught.value.message
    monkeypatch.setattr(transitions, "MAX_FRAMES", 60)
    assert plan_of(cut(Fraction(24)), Fraction(24))[1].frames == 60
