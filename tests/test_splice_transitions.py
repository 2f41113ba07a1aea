"""result.otio's overwrite keeps the editor's transitions: an editor's overwrite drops a transition at
the edit's edges, ShotForge's leaves it on its cut, fitted to the media and length of what is now on
either side, and its notes name each one it shortened or could not keep.

Built timelines with OpenTimelineIO's own ``Transition`` at 24, 23.976 and 29.97, and real exports
with dissolves (Premiere's FCP7 XML at 30 fps, Avid's AAF at 24); every result is checked against
OpenTimelineIO's own ``visible_range`` (what a dissolve shows of a clip lies in its media)."""

from __future__ import annotations

from fractions import Fraction

import opentimelineio as otio
import pytest

from otio_tools import request_from_timeline
from otio_tools.interchange import read_any
from otio_tools.media import MediaFacts
from otio_tools.plan import plan_request
from otio_tools.splice import overwrite, splice_result
from otio_tools.timeline import rate_of, track_items
from otio_tools.timing import to_frame
from tests.shared_data import INTERCHANGE, shared
from tests.test_transition_coverage import (PICTURE, RATES, _lengths, _relinked, clip, cut, dissolve, media, plan_of,
                                            visible)

RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange


def shape(track: otio.schema.Track, rate: Fraction) -> list:
    """Each child as its name, a transition as (name, frames before its cut, frames after)."""
    return [(c.name, to_frame(c.in_offset, rate), to_frame(c.out_offset, rate))
            if isinstance(c, otio.schema.Transition) else c.name for c in track]


def assert_every_dissolve_fits(track: otio.schema.Track, rate: Fraction) -> None:
    """What each transition shows of a clip beyond its cut is in the clip's media (OpenTimelineIO's
    ``visible_range`` inside its ``available_range``), and each lies within the items beside it."""
    children = list(track)
    for index, child in enumerate(children):
        if isinstance(child, otio.schema.Transition):
            before, after = children[index - 1], children[index + 1]
            assert to_frame(child.in_offset, rate) <= to_frame(before.duration(), rate)
            assert to_frame(child.out_offset, rate) <= to_frame(after.duration(), rate)
        elif isinstance(child, otio.schema.Clip) and "shotforge" in child.metadata:
            seen, available = child.visible_range(), child.media_reference.available_range
            assert available.start_time <= seen.start_time
            assert seen.end_time_exclusive() <= available.end_time_exclusive()


def overwritten(timeline, rate, frames=None, **shotforge):
    timeline, plan = plan_of(timeline, rate, placement="overwrite", frames=frames, **shotforge)
    result = splice_result(timeline, plan, plan.placements("/out/new.mov"), {"engine": "classical"})
    return plan, result, result.video_tracks()[plan.track]


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("operation", ["inpaint", "outpaint"])
def test_an_overwrite_keeps_both_dissolves_of_the_clip_it_replaces(rate, operation):
    plan, result, track = overwritten(cut(rate), rate, operation=operation)
    new = f"A (ShotForge {operation})"
    assert shape(track, rate) == ["P", ("Cross Dissolve", 4, 5), new, ("Cross Dissolve", 6, 8), "B"]
    assert visible(result, 0, new) == (16, 60)  # as the editor's clip A showed
    assert_every_dissolve_fits(track, rate)
    assert "notes" not in result.metadata["shotforge_result"]
    assert not any("result.otio" in note for note in plan.notes)  # what result.otio did is its own notes'


@pytest.mark.parametrize("rate", RATES)
def test_a_dissolve_asking_more_handles_than_the_media_has_is_shortened_and_said(rate):
    plan, result, track = overwritten(cut(rate), rate, frames={"A": 151})  # 3 frames after A's out point, not 8
    new = "A (ShotForge inpaint)"
    assert shape(track, rate) == ["P", ("Cross Dissolve", 4, 5), new, ("Cross Dissolve", 6, 3), "B"]
    assert list(track[3].metadata["shotforge_overwrite"]["shortened_from"]) == [6, 8]
    assert_every_dissolve_fits(track, rate)
    [note] = result.metadata["shotforge_result"]["notes"]
    assert note == (f"result.otio keeps the transition 'Cross Dissolve' at the cut at frame 68 on track 'V1' (now "
                    f"between clip '{new}' and clip 'B'), 6 frame(s) before the cut and 3 after instead of 6 and 8: "
                    f"clip '{new}' has 3 frame(s) of media after its out point")

    # the written file holds it as OpenTimelineIO reads it
    back = otio.adapters.read_from_string(otio.adapters.write_to_string(result, "otio_json"), "otio_json")
    assert shape(back.video_tracks()[0], rate) == shape(track, rate)


def test_a_fade_in_with_no_media_before_the_clip_cannot_stay_and_is_named():
    rate = Fraction(25)
    timeline = otio.schema.Timeline()
    track = otio.schema.Track(name="V1")
    timeline.tracks.append(track)
    track.extend([otio.schema.Gap(source_range=TR(RT(0, 25), RT(12, 25))), dissolve(rate, 6, 0, "Fade In"),
                  clip("A", 0, 48, rate, 48)])  # A from its media's first frame: nothing before it
    plan, result, lane = overwritten(timeline, rate, frame=20)
    assert shape(lane, rate) == ["", "A (ShotForge inpaint)"]  # the gap, then the new clip: no transition
    [note] = result.metadata["shotforge_result"]["notes"]
    assert note.startswith("result.otio cannot keep the transition 'Fade In' at the cut at frame 12 on track 'V1' "
                           "(now between a gap and clip 'A (ShotForge inpaint)'): clip 'A (ShotForge inpaint)' has 0 "
                           "frame(s) of media before its in point, so none of its 6+0 frames fit")


def test_an_overwrite_over_a_cut_names_the_dissolve_it_leaves_no_cut_for():
    rate = Fraction(24000, 1001)
    timeline, plan = plan_of(cut(rate), rate, "generate", placement="overwrite", range=[60, 80], frame=None)
    result = splice_result(timeline, plan, plan.placements("/out/new.mov"), {"engine": "classical"})
    track = result.video_tracks()[0]
    # the first dissolve is untouched; the one at frame 68 is under the new clip (record frames 60-79)
    assert shape(track, rate)[:2] == ["P", ("Cross Dissolve", 4, 5)] and shape(track, rate).count(
        ("Cross Dissolve", 6, 8)) == 0
    [note] = result.metadata["shotforge_result"]["notes"]
    assert note == ("the overwrite over record frames 60-79 on track 'V1' covers the cut at frame 68 where the "
                    "transition 'Cross Dissolve' was: result.otio has no cut there to keep it on")


@pytest.mark.parametrize("rate", RATES)
def test_a_clip_the_overwrite_shortens_keeps_its_dissolve_within_what_is_left(rate):
    """B (record 68-97) after a 6/8 dissolve: a new clip over 71-97 leaves 3 frames of B, so the
    dissolve keeps 3 frames after the cut; its frames before the cut (P's, A's) are the editor's."""
    track = cut(rate).video_tracks()[0]
    new = clip("new", 0, 27, rate, 27)
    new.metadata["shotforge"] = {}
    notes = overwrite(track, new, 71, rate)
    assert shape(track, rate) == ["P", ("Cross Dissolve", 4, 5), "A", ("Cross Dissolve", 6, 3), "B", "new"]
    assert [(i.start, i.duration) for i in track_items(track, rate)] == [(0, 20), (20, 48), (68, 3), (71, 27)]
    assert notes == ["result.otio keeps the transition 'Cross Dissolve' at the cut at frame 68 on track 'V1' (now "
                     "between clip 'A' and clip 'B'), 6 frame(s) before the cut and 3 after instead of 6 and 8: "
                     "clip 'B' is 3 frame(s) long"]
    assert_every_dissolve_fits(track, rate)


def test_a_clip_the_overwrite_puts_between_two_dissolves_shares_itself_between_them():
    """A new 6-frame clip exactly over A (record 20-67 made 20-25, the rest a new cut): the dissolve
    before it keeps only what 6 frames and its media allow."""
    rate = Fraction(24)
    track = cut(rate).video_tracks()[0]
    new = clip("new", 10, 6, rate, 30)  # 10 frames of media before it, 14 after
    new.metadata["shotforge"] = {}
    notes = overwrite(track, new, 20, rate)
    assert shape(track, rate) == ["P", ("Cross Dissolve", 4, 5), "new", "A", ("Cross Dissolve", 6, 8), "B"]
    # 10 frames of its media before it, 5 of its 6 frames after the cut: it fits, and joins P to it now
    assert notes == ["result.otio keeps the transition 'Cross Dissolve' at the cut at frame 20 on track 'V1' (now "
                     "between clip 'P' and clip 'new'); the new clip (record frames 20-25) replaced only part of "
                     "clip 'A' (frames 20-67), which it joined"]
    new = clip("short", 2, 3, rate, 30)
    notes = overwrite(track, new, 20, rate)
    assert shape(track, rate)[:4] == ["P", ("Cross Dissolve", 2, 3), "short", "new"]
    assert notes == ["result.otio keeps the transition 'Cross Dissolve' at the cut at frame 20 on track 'V1' (now "
                     "between clip 'P' and clip 'short'), 2 frame(s) before the cut and 3 after instead of 4 and 5: "
                     "clip 'short' has 2 frame(s) of media before its in point and clip 'short' is 3 frame(s) long; "
                     "the new clip (record frames 20-22) replaced only part of clip 'new' (frames 20-25), which it "
                     "joined"]


# -- real interchange exports -------------------------------------------------------------------

def _real_plan(export: str, **shotforge):
    timeline, _ = read_any(shared(INTERCHANGE / export))
    timeline = _relinked(timeline)
    rate = rate_of(timeline)
    timeline.metadata["shotforge"] = {"version": 1, "placement": "overwrite", **shotforge}
    lengths = _lengths(timeline, rate)

    def lookup(path, where):
        return MediaFacts(path, *PICTURE, rate, lengths[path.rsplit("/", 1)[-1]])
    plan = plan_request(timeline, request_from_timeline(timeline), lookup)
    return timeline, rate, plan, splice_result(timeline, plan, plan.placements("/out/new.mov"), {"engine": "classical"})


def test_a_premiere_export_inpainted_by_overwrite_keeps_its_dissolves():
    """premiere_example.xml (30 fps), V4: 'sc01_master_layerA_sh030_temp.mov' dissolves (12/13) into
    'sc01_sh010_anim.mov', whose media holds all 12 frames before its in point."""
    timeline, rate, plan, result = _real_plan("premiere_example.xml", operation="inpaint", frame=1200, track=3,
                                              region=[0, 0, 8, 8])
    before = [c for c in timeline.video_tracks()[3] if isinstance(c, otio.schema.Transition)]
    track = result.video_tracks()[3]
    after = [c for c in track if isinstance(c, otio.schema.Transition)]
    assert [(t.name, t.in_offset, t.out_offset) for t in after] == [(t.name, t.in_offset, t.out_offset) for t in before]
    assert plan.track == 3 and visible(result, 3, "sc01_sh010_anim.mov (ShotForge inpaint)") == \
        visible(timeline, 3, "sc01_sh010_anim.mov")
    assert_every_dissolve_fits(track, rate)
    assert "notes" not in result.metadata["shotforge_result"]


def test_an_avid_fill_by_overwrite_keeps_the_fades_at_the_fillers_ends_as_far_as_the_fill_holds():
    """avid_mc_8.6_transitions.aaf (24 fps): a 53-frame filler between 't-hawk' (a 12/12 dissolve) and
    'KOLL' (24/24). The fill's media is the gap's frames only, so each keeps its other side."""
    timeline, rate, plan, result = _real_plan("avid_mc_8.6_transitions.aaf", operation="fill_gap", frame=200)
    assert (plan.record_frame, plan.frames, plan.media_frames) == (194, 53, 53)
    track = result.video_tracks()[0]
    fill = "t-hawk (loop)-HD.mp4 to KOLL-HD.mp4 (ShotForge fill gap)"
    assert shape(track, rate)[4:9] == ["t-hawk (loop)-HD.mp4", ("Transition", 0, 12), fill, ("Transition", 24, 0),
                                       "KOLL-HD.mp4"]
    assert len([c for c in track if isinstance(c, otio.schema.Transition)]) == \
        len([c for c in timeline.video_tracks()[0] if isinstance(c, otio.schema.Transition)])
    assert_every_dissolve_fits(track, rate)
    first, second = result.metadata["shotforge_result"]["notes"]
    assert "at the cut at frame 194" in first and "0 frame(s) before the cut and 12 after instead of 12 and 12" in first
    assert "at the cut at frame 247" in second and \
        "24 frame(s) before the cut and 0 after instead of 24 and 24" in second


@pytest.mark.parametrize("rate", RATES)
def test_an_extension_by_overwrite_keeps_the_dissolve_on_its_cut_and_says_what_it_now_joins(rate):
    """A's tail (record 20-67, media 100-147 of 400) extended by 10 frames over B's head: from A's own
    handles, placed from its file. The 6/8 dissolve at frame 68 stays on its cut, now into A's
    continuation (which holds all 8 of its frames); B, cut to 78-97, starts with a cut."""
    timeline = cut(rate)
    timeline.metadata["shotforge"] = {"version": 1, "operation": "extend", "frame": 30, "side": "tail", "frames": 10,
                                      "placement": "overwrite"}
    plan = plan_request(timeline, request_from_timeline(timeline), media(rate=rate))
    result = splice_result(timeline, plan, plan.placements("/out/new.mov"), {"engine": "classical"})
    track = result.video_tracks()[0]
    assert plan.handles_in_place and (plan.track, plan.record_frame, plan.frames) == (0, 68, 10)
    assert shape(track, rate) == ["P", ("Cross Dissolve", 4, 5), "A", ("Cross Dissolve", 6, 8), "A", "B"]
    assert [(i.start, i.duration) for i in track_items(track, rate)] == [(0, 20), (20, 48), (68, 10), (78, 20)]
    assert_every_dissolve_fits(track, rate)
    assert list(result.metadata["shotforge_result"]["notes"]) == [
        "result.otio keeps the transition 'Cross Dissolve' at the cut at frame 68 on track 'V1' (now between clip "
        "'A' and clip 'A'); the new clip (record frames 68-77) replaced only part of clip 'B' (frames 68-97), which "
        "it joined"]


def test_a_premiere_listed_transition_whose_cut_an_overwrite_covers_leaves_the_list_and_is_named():
    """The Premiere panel lists transitions in the track's metadata, not as OTIO transitions: one whose
    cut the overwrite covers is gone from result.otio's list; one over a cut still there stays listed."""
    rate = Fraction(24)
    track = otio.schema.Track(name="V1", metadata={"premiere": {"transitions": [
        ["Cross Dissolve", 44, 52], ["Dip to Black", 92, 100]]}})
    track.extend([clip("A", 0, 48, rate), clip("B", 0, 48, rate), clip("C", 0, 48, rate)])
    notes = overwrite(track, clip("new", 100, 40, rate), 30, rate)  # record 30-69: over the cut at 48
    assert [c.name for c in track] == ["A", "new", "B", "C"]
    assert [list(t) for t in track.metadata["premiere"]["transitions"]] == [["Dip to Black", 92, 100]]
    assert notes == ["the overwrite over record frames 30-69 on track 'V1' covers the cut at frame 48 where the "
                     "transition 'Cross Dissolve' over frames 44-51 was: result.otio no longer lists it"]

    # an overwrite that ends on a listed transition's cut leaves it listed, as its cut is still there
    notes = overwrite(track, clip("again", 100, 26, rate), 70, rate)  # record 70-95: up to the cut at 96
    assert [list(t) for t in track.metadata["premiere"]["transitions"]] == [["Dip to Black", 92, 100]]
    assert notes == []
