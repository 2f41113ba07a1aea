"""Placement: auto (the default) and above put a result only where the track is free over its whole
record range, and splicing it in leaves every clip and transition of the cut exactly as it was;
overwrite, when asked for, still overwrites. On real exports and on hand-built OTIO."""

from __future__ import annotations

import copy
from fractions import Fraction

import opentimelineio as otio
import pytest

from otio_tools import RequestError
from otio_tools.placement import choose_track, is_free, occupied_ranges
from otio_tools.plan import plan_request
from otio_tools.splice import place_in_free_space, splice_result
from otio_tools.timeline import track_items
from tests.test_otio_tools import PREMIERE_MEDIA, Facts, ask, facts, read

RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange


def cut(timeline: otio.schema.Timeline) -> list[list[tuple]]:
    """Every clip, stack and transition of each video track that ShotForge did not make, with its
    source range and record range (gaps left out: a placement may split them)."""
    tracks = []
    for track in timeline.video_tracks():
        kept = []
        for index, child in enumerate(track):
            if isinstance(child, otio.schema.Gap) or "shotforge" in child.metadata:
                continue
            record = track.range_of_child_at_index(index)
            if isinstance(child, otio.schema.Transition):
                kept.append(("Transition", child.name, child.in_offset, child.out_offset, record))
            else:
                kept.append((type(child).__name__, child.name, child.source_range, record, child.enabled))
        tracks.append(kept)
    return tracks


def placed(timeline, request_meta, media=PREMIERE_MEDIA):
    """Plan and splice a request; check nothing of the cut changed; return (plan, result)."""
    timeline, request = ask(timeline, **request_meta)
    plan = plan_request(timeline, request, media)
    result = splice_result(timeline, plan, plan.placements("/out/new.mov"), {"engine": "classical"})
    before, after = cut(timeline), cut(result)
    assert after[:len(before)] == before  # every original item exactly as it was
    assert all(not track for track in after[len(before):])  # a new track holds only the result
    return plan, result


def clips_on(result, track: int, rate) -> list[tuple]:
    return [(type(i.item).__name__, i.start, i.end) for i in track_items(result.video_tracks()[track], rate)]


# --- real exports ---------------------------------------------------------------------------

def test_gap_fill_goes_into_its_own_gap():
    plan, result = placed(read("premiere_example.xml"), {"operation": "fill_gap", "track": 1, "frame": 120})
    assert plan.track == 1
    assert clips_on(result, 1, plan.rate)[:4] == [("Gap", 0, 13), ("Clip", 13, 113), ("Clip", 113, 165),
                                                  ("Clip", 165, 322)]


def test_tail_extension_into_a_gap_splits_the_gap_exactly():
    plan, result = placed(read("premiere_example.xml"),
                          {"operation": "extend", "track": 1, "frame": 400, "side": "tail", "frames": 30})
    assert plan.track == 1
    assert clips_on(result, 1, plan.rate)[4:] == [("Clip", 322, 557), ("Clip", 557, 587), ("Gap", 587, 636),
                                                  ("Stack", 636, 956)]


def test_tail_extension_into_the_next_clip_goes_above_both_pieces_on_one_track():
    # sh020 ends where sh030 starts (322); V3's title covers 15-955; V4 is free over 322-351.
    plan, result = placed(read("premiere_example.xml"),
                          {"operation": "extend", "track": 1, "frame": 200, "side": "tail", "frames": 30})
    pieces = plan.placements("/out/new.mov")
    assert [(p.track, p.record_frame, p.frames) for p in pieces] == [(3, 322, 18), (3, 340, 12)]
    assert clips_on(result, 3, plan.rate)[:3] == [("Gap", 0, 322), ("Clip", 322, 340), ("Clip", 340, 352)]
    assert len(result.video_tracks()) == 4


def test_outpaint_covers_the_clip_itself_so_goes_above():
    plan, _ = placed(read("premiere_example.xml"),
                     {"operation": "outpaint", "track": 1, "frame": 20, "canvas": [180, 320]})
    assert plan.track == 3  # V3's title is over 13-112 too


def test_generate_over_an_empty_range_stays_on_its_track_and_a_nested_stack_occupies():
    plan, _ = placed(read("premiere_example.xml"), {"operation": "generate", "track": 1, "range": [1246, 1294]})
    assert plan.track == 1  # past the track's end
    plan, _ = placed(read("premiere_example.xml"), {"operation": "generate", "track": 1, "range": [700, 720]})
    assert plan.track == 3  # the nested sequence on V2 and the title on V3 are in the way


def test_transitions_occupy_what_they_cover():
    # V4's dissolve at cut 1164 covers 1152-1176 (12 frames before, 13 after).
    track = read("premiere_example.xml").video_tracks()[3]
    assert (1152, 1177) in occupied_ranges(track, Fraction(30))
    assert not is_free(track, Fraction(30), 1140, 1153) and is_free(track, Fraction(30), 1247, 1300)


def test_avid_fill_next_to_transitions_goes_on_a_new_track():
    """The Avid filler at 194-246 has dissolves reaching 12 and 24 frames into it: not free."""
    timeline = read("avid_mc_8.6_transitions.aaf")
    names = {c.media_reference.target_url.rsplit("/", 1)[-1] for c in timeline.find_clips()}
    media = Facts(**{n: facts(n, 720, 24, timecode="01:00:00:00" if "KOLL" not in n else None) for n in names})
    plan, result = placed(timeline, {"operation": "fill_gap", "frame": 200}, media)
    assert plan.track == 1 and len(result.video_tracks()) == 2
    assert clips_on(result, 1, plan.rate) == [("Gap", 0, 194), ("Clip", 194, 247)]


def test_transition_otio_extension_into_the_next_clip_goes_on_a_new_track():
    timeline = read("transition.otio")
    media = Facts(**{c.media_reference.target_url.rsplit("/", 1)[-1]:
                     facts(c.media_reference.target_url.rsplit("/", 1)[-1], 120, 24) for c in timeline.find_clips()})
    plan, result = placed(timeline, {"operation": "extend", "frame": 4, "side": "tail", "frames": 20}, media)
    assert plan.track == 1 and len(result.video_tracks()) == 2


def test_above_always_goes_above_even_over_a_free_range():
    plan, _ = placed(read("premiere_example.xml"),
                     {"operation": "fill_gap", "track": 1, "frame": 120, "placement": "above"})
    assert plan.track == 3


def test_explicit_overwrite_still_overwrites():
    timeline, request = ask(read("premiere_example.xml"), operation="extend", track=1, frame=200, side="tail",
                            frames=30, placement="overwrite")
    plan = plan_request(timeline, request, PREMIERE_MEDIA)
    assert plan.track == 1
    result = splice_result(timeline, plan, plan.placements("/out/new.mov"), {"engine": "classical"})
    # sh030 loses its first 30 frames, and the dissolve into its tail goes with the trim
    assert clips_on(result, 1, plan.rate)[3:7] == [("Clip", 165, 322), ("Clip", 322, 340), ("Clip", 340, 352),
                                                   ("Clip", 352, 557)]
    assert cut(result)[1] != cut(timeline)[1]


# --- hand-built timelines -------------------------------------------------------------------

def clip(name: str, start: int, frames: int, enabled: bool = True) -> otio.schema.Clip:
    made = otio.schema.Clip(name=name, media_reference=otio.schema.ExternalReference(f"/media/{name}.mov"),
                            source_range=TR(RT(start, 24), RT(frames, 24)))
    made.enabled = enabled
    return made


def gap(frames: int) -> otio.schema.Gap:
    return otio.schema.Gap(source_range=TR(RT(0, 24), RT(frames, 24)))


def timeline_of(*tracks: list) -> otio.schema.Timeline:
    timeline = otio.schema.Timeline(global_start_time=RT(86400, 24))
    for children in tracks:
        track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
        track.extend(children)
        timeline.tracks.append(track)
    return timeline


MEDIA = Facts(**{f"{n}.mov": facts(f"{n}.mov", 100, 24) for n in ("a", "b", "c", "title")})


def test_tail_extension_past_the_last_clip_and_head_extension_into_a_gap():
    timeline = timeline_of([gap(20), clip("a", 10, 30)])
    plan, result = placed(timeline, {"operation": "extend", "frame": 25, "side": "tail", "frames": 12}, MEDIA)
    assert plan.track == 0 and clips_on(result, 0, plan.rate) == [
        ("Gap", 0, 20), ("Clip", 20, 50), ("Clip", 50, 62)]
    plan, result = placed(timeline, {"operation": "extend", "frame": 25, "side": "head", "frames": 8}, MEDIA)
    assert plan.track == 0 and clips_on(result, 0, plan.rate) == [
        ("Gap", 0, 12), ("Clip", 12, 20), ("Clip", 20, 50)]


def test_whole_range_counts_handles_free_but_made_frames_not():
    # a: 10 frames of a 100-frame file, 3 frames of gap, then b. A 6-frame tail extension is
    # 6 real handles over 10-15: the gap holds 3 of them, b the rest, so both go above together.
    timeline = timeline_of([clip("a", 0, 10), gap(3), clip("b", 0, 10)], [gap(12), clip("c", 0, 5)])
    plan, result = placed(timeline, {"operation": "extend", "frame": 5, "side": "tail", "frames": 6}, MEDIA)
    assert plan.track == 2  # V2's c covers 12-16
    assert {p.track for p in plan.placements("/out/new.mov")} == {2}
    plan, _ = placed(timeline, {"operation": "extend", "frame": 5, "side": "tail", "frames": 3}, MEDIA)
    assert plan.track == 0  # just the gap


def test_disabled_clips_still_occupy():
    timeline = timeline_of([clip("a", 0, 40)], [clip("title", 0, 40, enabled=False)])
    plan, result = placed(timeline, {"operation": "outpaint", "frame": 5, "canvas": [64, 64]}, MEDIA)
    assert plan.track == 2 and len(result.video_tracks()) == 3


def test_transition_next_to_the_range_is_kept_and_one_over_it_occupies():
    dissolve = otio.schema.Transition(name="Cross Dissolve", in_offset=RT(4, 24), out_offset=RT(4, 24))
    timeline = timeline_of([clip("a", 0, 10), dissolve, clip("b", 0, 10), gap(20)], [gap(30)])
    # b ends at 20; its dissolve with a covers 6-13: an extension into 20-27 is free
    plan, result = placed(timeline, {"operation": "extend", "frame": 15, "side": "tail", "frames": 8}, MEDIA)
    assert plan.track == 0
    assert [type(c).__name__ for c in result.video_tracks()[0]] == ["Clip", "Transition", "Clip", "Clip", "Gap"]
    rate = Fraction(24)
    assert choose_track(timeline, rate, 0, "auto", 12, 14) == 1  # over the dissolve's tail
    assert choose_track(timeline, rate, 0, "auto", 13, 14) == 1  # b itself
    assert choose_track(timeline, rate, 1, "above", 0, 5) == 2  # above the top: a new track


def test_generate_on_a_new_track_index_and_a_missing_track():
    timeline = timeline_of([clip("a", 0, 10)])
    assert choose_track(timeline, Fraction(24), 1, "auto", 0, 5) == 1  # one past the top: the new track
    with pytest.raises(RequestError, match="video track 3 \\(V4\\) does not exist"):
        choose_track(timeline, Fraction(24), 3, "auto", 0, 5)
    with pytest.raises(RequestError, match="video track 1 \\(V2\\) does not exist"):
        choose_track(timeline, Fraction(24), 1, "overwrite", 0, 5)


def test_free_space_placement_refuses_an_occupied_range_and_changes_nothing():
    timeline = timeline_of([clip("a", 0, 10), gap(5), clip("b", 0, 10)])
    track = timeline.video_tracks()[0]
    before = copy.deepcopy(track)
    with pytest.raises(ValueError, match="record frames 12-17 .* not free"):
        place_in_free_space(track, clip("new", 0, 6), 12, Fraction(24))
    assert otio.adapters.write_to_string(track) == otio.adapters.write_to_string(before)
    place_in_free_space(track, clip("new", 0, 3), 11, Fraction(24))
    assert [(type(i.item).__name__, i.start, i.end) for i in track_items(track, Fraction(24))] == [
        ("Clip", 0, 10), ("Gap", 10, 11), ("Clip", 11, 14), ("Gap", 14, 15), ("Clip", 15, 25)]
