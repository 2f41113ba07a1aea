"""otio_tools on real NLE exports: validation, planning and splicing, frame-exact.

The planner is pure: facts about media files are passed in, so these tests use the real
timelines from ../shared/data/interchange (whose media are not here) with stated facts.
"""

from __future__ import annotations

import copy
from fractions import Fraction

import opentimelineio as otio
import pytest

from otio_tools import RequestError, request_from_timeline
from otio_tools.media import MediaFacts, path_from_url
from otio_tools.plan import Layout, fit_layout, plan_request
from otio_tools.splice import overwrite, splice_result
from otio_tools.timeline import track_items
from otio_tools.timing import exact_rate, frame_to_timecode, timecode_to_frame, timeline_rate, to_frame
from tests.shared_data import INTERCHANGE, shared

RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange


def read(name: str, **kwargs) -> otio.schema.Timeline:
    return otio.adapters.read_from_file(str(shared(INTERCHANGE / name)), **kwargs)


def ask(timeline: otio.schema.Timeline, **shotforge) -> tuple[otio.schema.Timeline, object]:
    timeline = copy.deepcopy(timeline)
    timeline.metadata["shotforge"] = {"version": 1, **shotforge}
    return timeline, request_from_timeline(timeline)


class Facts:
    """A media lookup with stated facts per file name; records what was asked."""

    def __init__(self, **by_name: MediaFacts):
        self.by_name = by_name
        self.asked: list[str] = []

    def __call__(self, path: str, where: str) -> MediaFacts:
        self.asked.append(path)
        name = path.replace("\\", "/").rsplit("/", 1)[-1]
        if name not in self.by_name:
            raise RequestError("media_missing", f"{where}: media file {path} does not exist")
        return self.by_name[name]


def facts(name: str, frames: int, rate=Fraction(30), size=(1280, 720), timecode=None) -> MediaFacts:
    return MediaFacts(f"/media/{name}", size[0], size[1], Fraction(rate), frames, timecode)


PREMIERE_MEDIA = Facts(
    **{"sc01_sh010_anim.mov": facts("sc01_sh010_anim.mov", 100),
       "sc01_sh020_anim.mov": facts("sc01_sh020_anim.mov", 175),
       "sc01_sh030_anim.mov": facts("sc01_sh030_anim.mov", 400),
       "sc01_master_layerA_sh030_temp.mov": facts("sc01_master_layerA_sh030_temp.mov", 400, timecode="00:00:03:09")}
)


# --- requests -------------------------------------------------------------------------------

def test_request_defaults_and_placement():
    _, request = ask(read("premiere_example.xml"), operation="fill_gap", track=1, frame=120)
    assert (request.operation, request.track, request.frame, request.placement, request.engine) == \
           ("fill_gap", 1, 120, "auto", "auto")
    _, request = ask(read("premiere_example.xml"), operation="outpaint", frame=540, canvas=[1080, 1920])
    assert request.placement == "auto" and request.canvas == (1080, 1920)
    _, request = ask(read("premiere_example.xml"), operation="extend", side="tail", frame=540, frames=4,
                     placement="overwrite")
    assert request.placement == "overwrite"
    with pytest.raises(RequestError, match="placement 'below' must be 'auto', 'above' or 'overwrite'"):
        ask(read("premiere_example.xml"), operation="extend", side="tail", frame=540, frames=4, placement="below")


@pytest.mark.parametrize("meta, code, words", [
    ({"operation": "zoom"}, "bad_request", "operation 'zoom'"),
    ({"operation": "extend", "side": "tail", "frame": 10, "frames": 0}, "bad_request", "frames is 0"),
    ({"operation": "extend", "side": "tail", "frame": 10, "frames": 10_000_000}, "too_large", "10000000"),
    ({"operation": "extend", "frame": 10, "frames": 5, "side": "middle"}, "bad_request", "side 'middle'"),
    ({"operation": "outpaint", "frame": 10, "canvas": [1081, 1920]}, "bad_request", "even"),
    ({"operation": "generate", "range": [50, 40]}, "bad_request", "empty"),
    ({"operation": "fill_gap"}, "bad_request", "frame is required"),
    ({"operation": "fill_gap", "frame": "12"}, "bad_request", "whole number"),
    ({"version": 2, "operation": "fill_gap", "frame": 1}, "bad_request", "version 2"),
    ({"operation": "fill_gap", "frame": 1, "drop_frame": "yes"}, "bad_request", "drop_frame must be true or false"),
])
def test_bad_requests_name_the_problem(meta, code, words):
    timeline = otio.schema.Timeline()
    timeline.metadata["shotforge"] = meta
    with pytest.raises(RequestError) as caught:
        request_from_timeline(timeline)
    assert caught.value.code == code and words in caught.value.message


def test_missing_metadata():
    with pytest.raises(RequestError, match="no metadata.shotforge"):
        request_from_timeline(read("premiere_example.xml"))


# --- timing ---------------------------------------------------------------------------------

def test_rates_are_exact():
    assert exact_rate(23.976) == exact_rate(23.976023976023978) == Fraction(24000, 1001)
    assert exact_rate(29.97) == Fraction(30000, 1001)
    assert exact_rate(15) == 15
    with pytest.raises(RequestError, match="17.5 fps") as caught:
        timeline_rate(17.5)
    assert caught.value.code == "unsupported_rate"


def test_drop_frame_timecode():
    ntsc = Fraction(30000, 1001)
    assert frame_to_timecode(1800, ntsc, drop_frame=True) == "00:01:00;02"
    assert frame_to_timecode(17982, ntsc, drop_frame=True) == "00:10:00;00"
    assert timecode_to_frame("00:59:59;28", ntsc) == 107890
    assert frame_to_timecode(107890 + 2, ntsc, drop_frame=True) == "01:00:00;00"
    # 23.976 timecode counts 24 frames a second
    assert frame_to_timecode(86400, Fraction(24000, 1001)) == "01:00:00:00"


def test_file_urls_from_editors():
    assert path_from_url("file://localhost/D%3a/media/sc01_sh010_anim.mov") == "D:/media/sc01_sh010_anim.mov"
    assert path_from_url("file:///Volumes/Media/a%20b.mov") == "/Volumes/Media/a b.mov"
    assert path_from_url("C:\\Footage\\a.mov") == "C:\\Footage\\a.mov"
    with pytest.raises(RequestError, match="not a local file"):
        path_from_url("https://example.com/a.mov")


# --- planning on Premiere's FCP 7 XML ---------------------------------------------------------

def test_fill_gap_on_premiere_xml():
    timeline, request = ask(read("premiere_example.xml"), operation="fill_gap", track=1, frame=120)
    plan = plan_request(timeline, request, PREMIERE_MEDIA)
    assert (plan.record_frame, plan.frames, plan.make, plan.track) == (113, 52, 52, 1)
    assert plan.rate == 30 and plan.size == (1280, 720)
    assert plan.context.media == "/media/sc01_sh010_anim.mov" and plan.context.indices == tuple(range(92, 100))
    assert plan.after.media == "/media/sc01_sh020_anim.mov" and plan.after.indices == tuple(range(0, 8))
    assert plan.start_timecode == "00:00:03:23"  # record frame 113 at 30 fps NDF
    assert [p.to_dict() for p in plan.placements("/out/new.mov")] == [
        {"media": "/out/new.mov", "track": 1, "record_frame": 113, "source_in": 0, "frames": 52}]


def test_extend_tail_uses_real_handles_first():
    # sh020 shows 157 of its 175 frames: 18 real handle frames, then 12 to make.
    timeline, request = ask(read("premiere_example.xml"), operation="extend", track=1, frame=200, side="tail",
                            frames=30)
    plan = plan_request(timeline, request, PREMIERE_MEDIA)
    assert plan.handles.indices == tuple(range(157, 175)) and plan.handles_in_place
    assert (plan.record_frame, plan.frames, plan.make, plan.media_frames) == (322, 30, 12, 12)
    assert plan.context.indices == tuple(range(167, 175))  # the engine continues from the last real frames
    assert plan.start_timecode == "00:00:05:25"  # source frame 175 at 30 fps
    # sh030 follows at record frame 322: auto puts both pieces on V4, the lowest track free there
    assert [p.to_dict() for p in plan.placements("/out/new.mov")] == [
        {"media": "/media/sc01_sh020_anim.mov", "track": 3, "record_frame": 322, "source_in": 157, "frames": 18},
        {"media": "/out/new.mov", "track": 3, "record_frame": 340, "source_in": 0, "frames": 12}]


def test_extend_head_respects_source_timecode_and_handles():
    # The layer clip plays source 133.. of a file whose available range starts at 99 (its timecode).
    timeline, request = ask(read("premiere_example.xml"), operation="extend", track=3, frame=1000, side="head",
                            frames=40, placement="above")
    plan = plan_request(timeline, request, PREMIERE_MEDIA)
    assert plan.handles.indices == tuple(range(0, 34))  # media frames before the in point, time order
    assert (plan.record_frame, plan.make, plan.track) == (916, 6, 4)
    assert plan.context.indices == tuple(range(0, 8))
    assert plan.start_timecode == "00:00:03:03"  # 99 + 34 - 40 = frame 93
    assert [(p.record_frame, p.source_in, p.frames) for p in plan.placements("/out/new.mov")] == [
        (916, 0, 6), (922, 0, 34)]


def test_mixed_rate_clip_maps_each_record_frame_to_its_media_frame():
    # V1's clip is cut at 15 fps (timebase 15) from a 30 fps file: 100 record frames.
    timeline, request = ask(read("premiere_example.xml"), operation="outpaint", track=0, frame=600,
                            canvas=[720, 1280])
    plan = plan_request(timeline, request, PREMIERE_MEDIA)
    assert (plan.record_frame, plan.frames, plan.track) == (536, 100, 3)  # V4 is free over 536-635
    assert plan.context.indices == tuple(range(100))
    assert plan.layout == Layout((720, 1280), (720, 406), (0, 437))


def test_generator_and_nested_and_missing_media_are_named():
    timeline, request = ask(read("premiere_example.xml"), operation="extend", side="tail", track=2, frame=100,
                                frames=5)
    with pytest.raises(RequestError, match="'test_title'.*video track 2 \\(V3\\)") as caught:
        plan_request(timeline, request, PREMIERE_MEDIA)
    assert caught.value.code in ("media_not_file", "media_missing")

    timeline, request = ask(read("premiere_example.xml"), operation="outpaint", track=1, frame=700, canvas=[64, 64])
    with pytest.raises(RequestError) as caught:
        plan_request(timeline, request, PREMIERE_MEDIA)
    assert caught.value.code == "nested_sequence" and "frames 636-955" in caught.value.message

    timeline, request = ask(read("premiere_example.xml"), operation="fill_gap", track=1, frame=120)
    with pytest.raises(RequestError, match="sc01_sh010_anim.mov does not exist") as caught:
        plan_request(timeline, request, Facts())
    assert caught.value.code == "media_missing"


@pytest.mark.parametrize("operation, frame, code, words", [
    ("fill_gap", 50, "no_gap_at_frame", "no gap at frame 50 on video track 1 (V2)"),
    ("fill_gap", 5000, "no_gap_at_frame", "track ends at frame 956"),
    ("fill_gap", 5, "gap_not_between_clips", "no clip before it"),
    ("extend", 120, "no_clip_at_frame", "no clip at frame 120 on video track 1 (V2): it is in a gap"),
    ("extend", 9999, "no_clip_at_frame", "the track ends at frame 956"),
])
def test_wrong_place_errors(operation, frame, code, words):
    extra = {"side": "tail", "frames": 4} if operation == "extend" else {}
    timeline, request = ask(read("premiere_example.xml"), operation=operation, track=1, frame=frame, **extra)
    with pytest.raises(RequestError) as caught:
        plan_request(timeline, request, PREMIERE_MEDIA)
    assert caught.value.code == code and words in caught.value.message


def test_no_such_track():
    timeline, request = ask(read("premiere_example.xml"), operation="fill_gap", track=7, frame=120)
    with pytest.raises(RequestError, match="video track 7 \\(V8\\) does not exist: the timeline has 4"):
        plan_request(timeline, request, PREMIERE_MEDIA)


def test_zero_length_gap():
    timeline = otio.schema.Timeline(global_start_time=RT(0, 25))
    track = otio.schema.Track()
    timeline.tracks.append(track)
    for name in ("a", "b"):
        if name == "b":
            track.append(otio.schema.Gap(source_range=TR(RT(0, 25), RT(0, 25))))
        track.append(otio.schema.Clip(name=name, media_reference=otio.schema.ExternalReference(f"/m/{name}.mov"),
                                      source_range=TR(RT(0, 25), RT(10, 25))))
    timeline, request = ask(timeline, operation="fill_gap", frame=10)
    with pytest.raises(RequestError, match="the gap at frame 10 on video track 0 \\(V1\\) has length 0") as caught:
        plan_request(timeline, request, Facts())
    assert caught.value.code == "zero_length_gap"


def test_extend_head_before_timeline_start():
    timeline, request = ask(read("premiere_example.xml"), operation="extend", track=1, frame=20, side="head",
                            frames=20)
    with pytest.raises(RequestError, match="7 frames before the timeline's first frame"):
        plan_request(timeline, request, PREMIERE_MEDIA)


# --- other exports --------------------------------------------------------------------------

def test_hiero_export_with_one_hour_start_and_offline_clip():
    media = Facts(**{"A160C005_171213_R0MN.mxf": facts("A160C005_171213_R0MN.mxf", 1200, 24,
                                                        timecode="12:44:37:23")})
    timeline, request = ask(read("hiero_xml_export.xml"), operation="extend", side="tail", frame=500, frames=48)
    plan = plan_request(timeline, request, media)
    # The file's timecode equals the clip's source start, so the clip starts at media frame 0.
    assert plan.handles.indices == tuple(range(1055, 1103)) and plan.make == 0
    assert plan.start_timecode == "12:45:23:22"  # the file's frame 1103
    assert [p.media for p in plan.placements("")] == ["/media/A160C005_171213_R0MN.mxf"]

    timeline, request = ask(read("hiero_xml_export.xml"), operation="fill_gap", frame=1070)
    with pytest.raises(RequestError, match="'/'.*no media reference"):
        plan_request(timeline, request, media)


def test_edl_source_timecodes_locate_frames_in_the_file():
    timeline = read("gap_test.edl", rate=24)
    media = Facts(shot1=facts("shot1", 100, 24, timecode="00:09:59:00"), shot2=facts("shot2", 100, 24,
                                                                                     timecode="23:00:00:00"))
    for clip in timeline.find_clips():  # EDL clips name their reel; point them at files
        clip.media_reference = otio.schema.ExternalReference(target_url=f"/media/{clip.name}")
    timeline, request = ask(timeline, operation="fill_gap", frame=30)
    plan = plan_request(timeline, request, media)
    assert plan.context.indices == tuple(range(24 + 16, 24 + 24))  # 00:10:00:00 is 24 frames into the file
    assert plan.after.indices == tuple(range(0, 8))  # 23:00:00:00 is the file's first frame
    assert plan.start_timecode == "00:00:01:00"  # no global start: the record count starts at 0


def test_resolve_export_with_media_at_another_rate():
    """Resolve labels source frames with the timeline rate without rescaling (see otio_tools.media)."""
    timeline = otio.schema.Timeline(global_start_time=RT(86400, 24))
    timeline.metadata["Resolve_OTIO"] = {"Resolve OTIO Meta Version": "1.0"}
    track = otio.schema.Track()
    timeline.tracks.append(track)
    media_tc = timecode_to_frame("10:00:00:00", Fraction(25))
    clip = otio.schema.Clip(
        name="A001", metadata={"Resolve_OTIO": {}},
        media_reference=otio.schema.ExternalReference("file:///media/A001.mov",
                                                      available_range=TR(RT(media_tc, 24), RT(250, 24))),
        source_range=TR(RT(media_tc + 50, 24), RT(48, 24)))
    track.append(otio.schema.Gap(source_range=TR(RT(0, 24), RT(24, 24))))
    track.append(clip)
    media = Facts(**{"A001.mov": facts("A001.mov", 250, 25, timecode="10:00:00:00")})
    timeline, request = ask(timeline, operation="extend", side="tail", frame=30, frames=48)
    plan = plan_request(timeline, request, media)
    # 48 record frames at 24 play 50 media frames at 25: the clip shows media frames 50..99.
    assert plan.context.indices[-1] == 50 + (95 * 25) // 24  # the last handle, record offset 95
    assert plan.handles.indices[:3] == (100, 101, 102) and len(plan.handles) == 48
    assert not plan.handles_in_place  # mixed rate: the handles are copied into the new media
    assert plan.media_frames == 48 and plan.placements("/o.mov")[0].record_frame == 72


def test_drop_frame_record_timecode_for_generate():
    timeline = otio.schema.Timeline(global_start_time=RT(timecode_to_frame("00:59:59;28", Fraction(30000, 1001)),
                                                         30000 / 1001))
    timeline.tracks.append(otio.schema.Track())
    timeline, request = ask(timeline, operation="generate", range=[2, 50], prompt="waves")
    plan = plan_request(timeline, request, Facts())
    assert plan.start_timecode == "01:00:00;00" and plan.frames == 48 and plan.track == 0  # the empty V1
    assert plan.size == (1920, 1080)
    timeline, request = ask(timeline, operation="generate", range=[2, 50], drop_frame=False)
    assert plan_request(timeline, request, Facts()).start_timecode == "00:59:56:12"  # 107892 frames counted NDF


def test_fit_layout():
    assert fit_layout((1920, 1080), (1080, 1920)) == Layout((1080, 1920), (1080, 608), (0, 656))
    assert fit_layout((1440, 1080), (1920, 1080)) == Layout((1920, 1080), (1440, 1080), (240, 0))


# --- splicing -------------------------------------------------------------------------------

def test_splice_extension_into_premiere_timeline():
    timeline, request = ask(read("premiere_example.xml"), operation="extend", track=1, frame=400, side="tail",
                            frames=30)
    plan = plan_request(timeline, request, PREMIERE_MEDIA)  # sh030: 400 frames, 235 used: all handles
    assert plan.make == 0 and plan.track == 1  # into the gap after it
    result = splice_result(timeline, plan, plan.placements(""), {"engine": "classical"})
    items = track_items(result.video_tracks()[1], plan.rate)
    assert [(type(i.item).__name__, i.start, i.end) for i in items] == [
        ("Gap", 0, 13), ("Clip", 13, 113), ("Gap", 113, 165), ("Clip", 165, 322), ("Clip", 322, 557),
        ("Clip", 557, 587), ("Gap", 587, 636), ("Stack", 636, 956)]
    handles = items[5].item
    assert handles.source_range == TR(RT(235, 30), RT(30, 30))
    # the transition into sh030's tail (frames 538-556) is kept: the handles only split the gap after it
    assert [c.name for c in result.video_tracks()[1] if isinstance(c, otio.schema.Transition)] == \
           [c.name for c in timeline.video_tracks()[1] if isinstance(c, otio.schema.Transition)]
    # the untouched tracks keep their transitions
    assert sum(isinstance(c, otio.schema.Transition) for c in result.video_tracks()[3]) == 1
    assert result.duration() == timeline.duration()


def test_splice_generated_clip_above():
    timeline, request = ask(read("premiere_example.xml"), operation="fill_gap", track=1, frame=120,
                            placement="above")
    plan = plan_request(timeline, request, PREMIERE_MEDIA)
    placements = plan.placements("/out/fill.mov")
    result = splice_result(timeline, plan, placements, {"engine": "classical", "seed": 3})
    assert plan.track == 3 and len(result.video_tracks()) == 4  # V3's title covers 113-164; V4 is free there
    items = track_items(result.video_tracks()[3], plan.rate)
    assert [(type(i.item).__name__, i.start, i.end) for i in items][:3] == [
        ("Gap", 0, 113), ("Clip", 113, 165), ("Gap", 165, 956)]
    clip = items[1].item
    assert clip.media_reference.target_url == "file:///out/fill.mov"
    assert clip.source_range == TR(RT(113, 30), RT(52, 30))  # timecode 00:00:03:23 = frame 113
    assert clip.metadata["shotforge"]["engine"] == "classical"
    assert [dict(p) for p in result.metadata["shotforge_result"]["placements"]] == [p.to_dict() for p in placements]


def test_overwrite_trims_partly_covered_items_and_pads_past_the_end():
    rate = Fraction(24)
    track = otio.schema.Track()
    track.append(otio.schema.Clip(name="a", source_range=TR(RT(100, 24), RT(10, 24))))
    track.append(otio.schema.Clip(name="b", source_range=TR(RT(200, 24), RT(10, 24))))
    new = otio.schema.Clip(name="new", source_range=TR(RT(0, 24), RT(6, 24)))
    overwrite(track, new, 7, rate)
    assert [(c.name, c.source_range.start_time.value, c.source_range.duration.value) for c in track] == [
        ("a", 100, 7), ("new", 0, 6), ("b", 203, 7)]
    overwrite(track, otio.schema.Clip(name="late", source_range=TR(RT(0, 24), RT(2, 24))), 30, rate)
    assert [(type(i.item).__name__, i.start, i.end) for i in track_items(track, rate)][-2:] == [
        ("Gap", 20, 30), ("Clip", 30, 32)]


# --- AAF exports (Premiere 29.97 drop-frame, Avid with transitions) -------------------------------

def test_premiere_aaf_drop_frame_sequence_with_23976_media():
    """Premiere's 29.97 DF AAF starting at 05:00:00;00 holds a 23.976 clip: 2989 record frames
    play 2391 media frames (the file runs at 24000/1001 and the sequence at 30000/1001)."""
    timeline = read("premiere_2997fps_dftc.aaf")
    clip_file = timeline.find_clips()[0].media_reference.target_url.rsplit("/", 1)[-1]
    media = Facts(**{clip_file: facts(clip_file, 2391, Fraction(24000, 1001), size=(1920, 1080))})
    timeline, request = ask(timeline, operation="outpaint", frame=100, canvas=[1080, 1920])
    plan = plan_request(timeline, request, media)
    assert plan.rate == Fraction(30000, 1001) and (plan.record_frame, plan.frames) == (0, 2989)
    assert plan.context.indices[:6] == (0, 0, 1, 2, 3, 4)  # 4 media frames per 5 record frames
    assert plan.context.indices[-1] == 2390

    timeline, request = ask(read("premiere_2997fps_dftc.aaf"), operation="generate", range=[2989, 3019])
    plan = plan_request(timeline, request, media)
    assert plan.start_timecode == frame_to_timecode(539460 + 2989, Fraction(30000, 1001), drop_frame=True)
    assert plan.start_timecode.startswith("05:01:39;") and plan.size == (1920, 1080)


def test_avid_aaf_fill_between_transitions_and_zero_length_filler():
    timeline = read("avid_mc_8.6_transitions.aaf")
    names = {c.media_reference.target_url.rsplit("/", 1)[-1] for c in timeline.find_clips()}
    media = Facts(**{n: facts(n, 720, 24, timecode="01:00:00:00" if "KOLL" not in n else None) for n in names})
    timeline, request = ask(timeline, operation="fill_gap", frame=200, placement="overwrite")
    plan = plan_request(timeline, request, media)
    # t-hawk plays source 01:00:05:03 (file frame 123) for 77 frames; KOLL starts at file frame 55.
    assert (plan.record_frame, plan.frames) == (194, 53)
    assert plan.context.indices == tuple(range(123 + 69, 123 + 77)) and plan.after.indices == tuple(range(55, 63))
    assert plan.start_timecode == "01:00:08:02"  # the sequence starts at 01:00:00:00
    result = splice_result(timeline, plan, plan.placements("/out/fill.mov"), {"engine": "classical"})
    track = result.video_tracks()[0]
    kinds = [type(c).__name__ for c in track]
    # Every transition stays; the two at the filler's ends keep only their side on the editor's clips
    # (the fill's media is the gap's frames, no handles).
    assert kinds.count("Transition") == sum(isinstance(c, otio.schema.Transition) for c in
                                            timeline.video_tracks()[0])
    assert [(to_frame(t.in_offset, 24), to_frame(t.out_offset, 24)) for t in track
            if isinstance(t, otio.schema.Transition)][2:4] == [(0, 12), (24, 0)]
    filled = next(c for c in track.find_clips() if "shotforge" in c.metadata)  # under the kept transitions' ends
    assert track.range_of_child(filled) == TR(RT(194, 24), RT(53, 24))

    timeline, request = ask(read("avid_mc_8.6_transitions.aaf"), operation="fill_gap", frame=0)
    with pytest.raises(RequestError, match="the gap at frame 0 on video track 0 \\(V1\\) has length 0"):
        plan_request(timeline, request, media)
