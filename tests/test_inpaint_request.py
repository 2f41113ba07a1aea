"""Inpaint requests and plans: the keys refused with a message naming the problem, and the plan
covering exactly the clip's placed range (record frames, rate, size, timecode, track), with handles
the media has, through the clip's retime."""

from __future__ import annotations

import math
from fractions import Fraction

import opentimelineio as otio
import pytest

from otio_tools import RequestError, request_from_timeline
from otio_tools.inpaint import HANDLE_SECONDS, handle_frames
from otio_tools.media import MediaFacts
from otio_tools.plan import plan_request
from otio_tools.retime import ClipTime

RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange
PICTURE = (640, 360)


def shot(rate: Fraction, *, first: int = 100, duration: int = 48, gap: int = 10, media_frames: int = 400,
         media_rate: Fraction | None = None, timecode: int = 0, speed: float | None = None,
         enabled: bool = True, above: list[tuple[int, int]] = ()) -> otio.schema.Timeline:
    """V1: a gap of ``gap`` frames, then clip 'A' showing media frames from ``first`` for ``duration``
    record frames; ``above``: (start, length) of clips on V2."""
    media_rate = media_rate or rate
    timeline = otio.schema.Timeline(name="inpaint")
    track = otio.schema.Track(name="V1")
    timeline.tracks.append(track)
    track.append(otio.schema.Gap(source_range=TR(RT(0, rate), RT(gap, rate))))
    clip = otio.schema.Clip(
        name="A", source_range=TR(RT(timecode + first, media_rate), RT(duration, rate)),
        media_reference=otio.schema.ExternalReference(
            "file:///media/a.mov", available_range=TR(RT(timecode, media_rate), RT(media_frames, media_rate))))
    if speed is not None:
        clip.effects.append(otio.schema.LinearTimeWarp(time_scalar=speed))
    clip.enabled = enabled
    track.append(clip)
    if above:
        upper = otio.schema.Track(name="V2")
        timeline.tracks.append(upper)
        at = 0
        for start, length in above:
            upper.append(otio.schema.Gap(source_range=TR(RT(0, rate), RT(start - at, rate))))
            upper.append(otio.schema.Clip(name="title", source_range=TR(RT(0, rate), RT(length, rate)),
                                          media_reference=otio.schema.ExternalReference("file:///media/t.mov")))
            at = start + length
    return timeline


def facts(rate: Fraction, frames: int = 400, start_timecode: str | None = None):
    def media(path: str, where: str) -> MediaFacts:
        return MediaFacts(path, *PICTURE, rate, frames, start_timecode)
    return media


def inpaint(timeline: otio.schema.Timeline, **shotforge):
    timeline = timeline.deepcopy()
    timeline.metadata["shotforge"] = {"version": 1, "operation": "inpaint", "frame": 20, **shotforge}
    return timeline, request_from_timeline(timeline)


def refused(**shotforge) -> RequestError:
    with pytest.raises(RequestError) as caught:
        inpaint(shot(Fraction(24)), **shotforge)
    assert "\n" not in caught.value.message
    return caught.value


# -- the request --------------------------------------------------------------------------------

def test_a_region_a_moving_region_and_a_mask_are_read():
    _, request = inpaint(shot(Fraction(24)), region=[10, 20, 30, 40])
    assert (request.region, request.region_end, request.mask, request.prompt) == ((10, 20, 30, 40), None, None, "")
    _, request = inpaint(shot(Fraction(24)), region=[10, 20, 30, 40.0], region_end=[50, 60, 30, 40], prompt="sky")
    assert (request.region, request.region_end, request.prompt) == ((10, 20, 30, 40), (50, 60, 30, 40), "sky")
    _, request = inpaint(shot(Fraction(24)), mask="/mattes/boom.png", mask_sha256="ab" * 32)
    assert (request.region, request.mask, request.mask_sha256) == (None, "/mattes/boom.png", "ab" * 32)
    assert request.describe() == "inpaint at frame 20 on video track 0"


@pytest.mark.parametrize("keys, code, message", [
    ({"region": [0, 0, 8, 8], "mask": "/m.png"}, "bad_request",
     "metadata.shotforge has both region and mask: inpaint takes one of them (a region [x, y, w, h] or the path of "
     "a matte)"),
    ({}, "bad_request", "inpaint needs region: [x, y, w, h] in the clip's source pixels, or mask: the path of a "
                        "matte (white = replace)"),
    ({"region_end": [0, 0, 8, 8]}, "bad_request", "inpaint needs region: [x, y, w, h] in the clip's source pixels, "
                                                  "or mask: the path of a matte (white = replace)"),
    ({"region": [0, 0, 0, 8]}, "bad_request",
     "metadata.shotforge.region [0, 0, 0, 8] has zero size: its width and height must be at least 1 pixel"),
    ({"region": [0, 0, 8, 8], "region_end": [4, 4, 8, -1]}, "bad_request",
     "metadata.shotforge.region_end [4, 4, 8, -1] has zero size: its width and height must be at least 1 pixel"),
    ({"region": [-2, 0, 8, 8]}, "bad_request", "metadata.shotforge.region [-2, 0, 8, 8] starts outside the picture: "
                                               "x and y count from its top-left corner, 0 or more"),
    ({"region": [0, 0, 8]}, "bad_request", "metadata.shotforge.region must be [x, y, w, h]: whole numbers of the "
                                           "clip's source pixels, not [0, 0, 8]"),
    ({"region": [0, 0, 8.5, 8]}, "bad_request", "metadata.shotforge.region must be [x, y, w, h]: whole numbers of "
                                                "the clip's source pixels, not [0, 0, 8.5, 8]"),
    ({"region": "0,0,8,8"}, "bad_request", "metadata.shotforge.region must be [x, y, w, h]: whole numbers of the "
                                           "clip's source pixels, not '0,0,8,8'"),
    ({"region": [0, 0, 70000, 8]}, "too_large", "metadata.shotforge.region [0, 0, 70000, 8] reaches past 65536 "
                                                "pixels: no picture is that large"),
    ({"mask": "/m.png", "region_end": [0, 0, 8, 8]}, "bad_request",
     "metadata.shotforge.region_end moves a region; a mask is a matte that moves by itself: send one of them"),
    ({"mask": ""}, "bad_request", "metadata.shotforge.mask must be the path of a matte file, not ''"),
    ({"mask": 7}, "bad_request", "metadata.shotforge.mask must be the path of a matte file, not 7"),
    ({"mask": "/m.png", "mask_sha256": "xyz"}, "bad_request",
     "metadata.shotforge.mask_sha256 must be 64 lowercase hex digits, not 'xyz'"),
    ({"region": [0, 0, 8, 8], "mask_sha256": "ab" * 32}, "bad_request",
     "metadata.shotforge.mask_sha256 names a matte's content; this inpaint has a region, not a mask"),
    ({"region": [0, 0, 8, 8], "regoin_end": [0, 0, 8, 8]}, "bad_request",
     "unknown key 'regoin_end' in metadata.shotforge: did you mean 'region_end'?"),
])
def test_bad_inpaint_keys_are_refused_naming_the_problem(keys, code, message):
    error = refused(**keys)
    assert (error.code, error.message) == (code, message)


def test_inpaint_keys_on_another_operation_are_refused():
    timeline = shot(Fraction(24))
    timeline.metadata["shotforge"] = {"version": 1, "operation": "outpaint", "frame": 20, "canvas": [360, 640],
                                      "region": [0, 0, 8, 8]}
    with pytest.raises(RequestError) as caught:
        request_from_timeline(timeline)
    assert caught.value.message == "metadata.shotforge.region is for inpaint only, not outpaint"


# -- the plan -----------------------------------------------------------------------------------

@pytest.mark.parametrize("rate, timecode, expected_tc", [
    (Fraction(24), "01:00:00:00", "01:00:08:08"),
    (Fraction(24000, 1001), "01:00:00:00", "01:00:08:08"),
    (Fraction(25), "10:00:00:00", "10:00:08:00"),
    (Fraction(30000, 1001), "01:00:00;00", "01:00:06;20"),
    (Fraction(60000, 1001), "00:59:59;58", "01:00:03;18"),
])
def test_the_result_covers_the_clip_placed_range_at_every_rate(rate, timecode, expected_tc):
    from otio_tools.timing import timecode_to_frame

    tc = timecode_to_frame(timecode, rate)
    timeline, request = inpaint(shot(rate, first=200, timecode=tc), region=[10, 20, 30, 40],
                                region_end=[600, 320, 30, 40])
    plan = plan_request(timeline, request, facts(rate, start_timecode=timecode))
    # the clip: record frames 10-57, media frames 200-247 (the file's timecode is its index 0)
    assert (plan.record_frame, plan.frames, plan.make, plan.media_frames) == (10, 48, 48, 48)
    assert (plan.rate, plan.size, plan.start_timecode, plan.clip_name) == (rate, PICTURE, expected_tc, "A")
    assert plan.track == 1  # the clip's own track is occupied: a new track above
    reach = math.ceil(HANDLE_SECONDS * rate)
    assert reach == handle_frames(rate) and reach >= 2 * int(rate)
    assert plan.context.indices == tuple(range(200 - reach, 248 + reach))
    assert plan.inpaint.placed == range(reach, reach + 48)
    assert [plan.context.indices[i] for i in plan.inpaint.placed] == list(range(200, 248))
    assert (plan.inpaint.region, plan.inpaint.region_end, plan.inpaint.mask) == \
           ((10, 20, 30, 40), (600, 320, 30, 40), None)
    assert [p.to_dict() for p in plan.placements("/out/A_inpaint.mov")] == [
        {"media": "/out/A_inpaint.mov", "track": 1, "record_frame": 10, "source_in": 0, "frames": 48}]


def test_handles_stop_where_the_media_does():
    rate = Fraction(24)
    timeline, request = inpaint(shot(rate, first=5, duration=30, media_frames=50), region=[0, 0, 8, 8])
    plan = plan_request(timeline, request, facts(rate, frames=50))
    assert plan.context.indices == tuple(range(0, 50))  # 5 frames before the clip, 15 after: all the file has
    assert plan.inpaint.placed == range(5, 35)


@pytest.mark.parametrize("speed", [0.5, -1.0, 2.0])
def test_a_retimed_clip_is_shown_as_the_timeline_plays_it_handles_included(speed):
    rate = Fraction(24)
    timeline, request = inpaint(shot(rate, first=100, duration=40, speed=speed), region=[0, 0, 8, 8])
    plan = plan_request(timeline, request, facts(rate))
    timing = ClipTime(100, 40, Fraction(speed), rate, rate)
    reach = handle_frames(rate)
    assert plan.context.indices == tuple(timing.indices(range(-reach, 40 + reach)))
    assert [plan.context.indices[i] for i in plan.inpaint.placed] == timing.indices(range(40))
    if speed < 0:  # reversed: the clip starts on its span's last frame, its head handles come after the span
        assert plan.context.indices[plan.inpaint.placed.start] == 139
        assert plan.context.indices[0] == 139 + reach
    assert (plan.record_frame, plan.frames, plan.size) == (10, 40, PICTURE)


def test_a_mixed_rate_clip_is_read_as_the_timeline_plays_it():
    timeline, request = inpaint(shot(Fraction(24), first=100, duration=24, media_rate=Fraction(25)),
                                region=[0, 0, 8, 8])
    plan = plan_request(timeline, request, facts(Fraction(25)))
    placed = [plan.context.indices[i] for i in plan.inpaint.placed]
    assert placed == ClipTime(100, 24, Fraction(1), Fraction(25), Fraction(24)).indices(range(24))
    assert placed[0] == 100 and placed[-1] == 123 and len(set(placed)) == 24  # 25 fps shown at 24: no repeat
    assert (plan.frames, plan.rate) == (24, Fraction(24))


def test_a_held_frame_gets_no_handles():
    timeline, request = inpaint(shot(Fraction(24), duration=12, speed=0.0), region=[0, 0, 8, 8])
    plan = plan_request(timeline, request, facts(Fraction(24)))
    assert plan.context.indices == (100,) * 12 and plan.inpaint.placed == range(12)


@pytest.mark.parametrize("placement, above, track", [
    ("auto", [], 1), ("above", [], 1), ("overwrite", [], 0),
    ("auto", [(30, 5)], 2),  # V2 holds a title over part of the clip's range: the next free track
    ("auto", [(0, 10), (58, 4)], 1),  # V2 holds clips only next to the range: free over it
])
def test_the_result_is_placed_by_the_rules(placement, above, track):
    timeline, request = inpaint(shot(Fraction(24), above=above), region=[0, 0, 8, 8], placement=placement)
    assert plan_request(timeline, request, facts(Fraction(24))).track == track


@pytest.mark.parametrize("key, region, words", [
    ("region", [600, 0, 41, 10], "metadata.shotforge.region [600, 0, 41, 10] reaches outside the picture of clip "),
    ("region", [0, 360, 10, 10], "it covers x 0-9 and y 360-369, the picture x 0-639 and y 0-359"),
    ("region_end", [0, 300, 10, 61], "metadata.shotforge.region_end [0, 300, 10, 61] reaches outside the picture"),
])
def test_a_region_outside_the_picture_is_refused_naming_its_size(key, region, words):
    keys = {"region": [0, 0, 10, 10], key: region}
    timeline, request = inpaint(shot(Fraction(24)), **keys)
    with pytest.raises(RequestError) as caught:
        plan_request(timeline, request, facts(Fraction(24)))
    assert caught.value.code == "region_outside_picture"
    assert words in caught.value.message and "which is 640x360" in caught.value.message


def test_a_disabled_clip_a_speed_ramp_and_no_clip_are_refused():
    timeline, request = inpaint(shot(Fraction(24), enabled=False), region=[0, 0, 8, 8])
    with pytest.raises(RequestError) as caught:
        plan_request(timeline, request, facts(Fraction(24)))
    assert caught.value.code == "clip_disabled" and "clip 'A'" in caught.value.message

    timeline = shot(Fraction(24))
    timeline.video_tracks()[0][1].effects.append(otio.schema.TimeEffect(name="ramp", effect_name="SpeedRamp"))
    timeline, request = inpaint(timeline, region=[0, 0, 8, 8])
    with pytest.raises(RequestError) as caught:
        plan_request(timeline, request, facts(Fraction(24)))
    assert caught.value.code == "variable_speed"

    timeline, request = inpaint(shot(Fraction(24)), region=[0, 0, 8, 8], frame=3)
    with pytest.raises(RequestError) as caught:
        plan_request(timeline, request, facts(Fraction(24)))
    assert caught.value.code == "no_clip_at_frame" and "frame 3" in caught.value.message
