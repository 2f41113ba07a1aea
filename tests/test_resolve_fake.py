"""The fake Resolve itself behaves as real Resolve is measured to (resolve_api_notes.md,
"Measured behaviour of real Resolve"): drops, refuses and gates, never forgives."""

from __future__ import annotations

import json
from fractions import Fraction

import opentimelineio as otio
import pytest

from resolve_helpers import api_check, make_media, new_resolve  # noqa: F401 (api_check: autouse fixture)

import fake_resolve  # noqa: E402
from shotforge_resolve.facts import read_facts  # noqa: E402


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("fake_media")


@pytest.fixture
def fake25(media_dir):
    media = make_media("25", media_dir)
    return new_resolve("25", media)


def _append(resolve, item, first, end, track, record_rel):
    timeline = resolve.project.current_timeline
    return resolve.project.media_pool.AppendToTimeline([{
        "mediaPoolItem": item, "startFrame": first, "endFrame": end, "trackIndex": track,
        "recordFrame": timeline.start_frame + record_rel, "mediaType": 1}])


def test_an_overlapping_append_is_dropped_with_an_empty_id(fake25):
    resolve, timeline, item = fake25
    before = timeline.snapshot()
    # A's tail extended into the gap and over B's head: B is there, the append is lost
    placed, = _append(resolve, item, 50, 70, 1, 40)
    assert placed.GetUniqueId() == "" and placed.GetStart() is None and placed.GetDuration() is None
    assert placed.GetTrackTypeAndIndex() is None and placed.SetClipColor("Blue") is False
    assert timeline.snapshot() == before
    assert [row[:2] for row in timeline.rows(0)] == [(0, 40), (52, 92)]
    # into the free gap exactly: lands
    placed, = _append(resolve, item, 50, 62, 1, 40)
    assert placed.GetUniqueId() and placed.GetStart() == timeline.start_frame + 40
    assert [row[:2] for row in timeline.rows(0)] == [(0, 40), (40, 52), (52, 92)]


def test_titles_and_transitions_block_appends_too(fake25):
    resolve, timeline, item = fake25
    timeline.AddTrack("video")
    timeline.title(1, 0, 30, name="Lower third")
    assert _append(resolve, item, 0, 10, 2, 25)[0].GetUniqueId() == ""
    timeline.transition(0, 52, 6)  # at B's head, into the gap: 49..55
    assert _append(resolve, item, 0, 3, 1, 47)[0].GetUniqueId() == ""
    assert _append(resolve, item, 0, 9, 1, 40)[0].GetUniqueId() != ""  # 40..49 is free
    assert [row[:2] for row in timeline.rows(0)] == [(0, 40), (40, 49), (52, 92)]


def test_end_frame_is_exclusive_from_19_and_inclusive_on_18(media_dir):
    media = make_media("25", media_dir)
    for version, frames in (((19, 1, 3, 7, ""), 12), ((21, 1, 0, 3, ""), 12), ((18, 6, 6, 7, ""), 13)):
        resolve, timeline, item = new_resolve("25", media, version=version)
        timeline.AddTrack("video")
        placed, = _append(resolve, item, 50, 62, 2, 100)
        assert placed.GetDuration() == frames, version
        assert placed.GetLeftOffset() == 50 and placed.GetEnd() - placed.GetStart() == frames


def test_mixed_rate_media_floors_the_record_duration(media_dir):
    media = make_media("25", media_dir)  # a 25 fps file ...
    resolve, timeline, _ = new_resolve("23.976", make_media("23.976", media_dir))  # ... on a 23.976 timeline
    item = resolve.project.media_pool.add(media)
    timeline.AddTrack("video")
    placed, = _append(resolve, item, 0, 50, 2, 200)
    assert placed.GetDuration() == 47  # floor(50 * 23.976 / 25) = floor(47.95), not rounded to 48
    assert placed.GetEnd() - placed.GetStart() == 47 and placed.GetLeftOffset() == 0
    assert placed.GetSourceEndFrame() - placed.GetSourceStartFrame() == 50  # all 50 media frames asked for
    placed, = _append(resolve, item, 0, 51, 2, 300)
    assert placed.GetDuration() == 48  # floor(48.9): a planned 49-frame slot lands one frame short


def test_the_misplace_hook_makes_one_append_land_wrong(fake25):
    resolve, timeline, item = fake25
    timeline.AddTrack("video")
    resolve.project.media_pool.misplace_next_append(late=1, short=2)
    placed, = _append(resolve, item, 0, 10, 2, 100)
    assert (placed.GetStart() - timeline.start_frame, placed.GetDuration()) == (101, 8)
    placed, = _append(resolve, item, 0, 10, 2, 200)  # only once
    assert (placed.GetStart() - timeline.start_frame, placed.GetDuration()) == (200, 10)


def test_delete_clips_is_refused_off_the_edit_page(fake25):
    resolve, timeline, _ = fake25
    clip_a = timeline.items(0)[0]
    assert resolve.OpenPage("fairlight") and resolve.GetCurrentPage() == "fairlight"
    assert timeline.DeleteClips([clip_a], False) is False and len(timeline.rows(0)) == 2
    assert resolve.OpenPage("nowhere") is False and resolve.GetCurrentPage() == "fairlight"
    assert resolve.OpenPage("edit")
    assert timeline.DeleteClips([clip_a], False) is True and len(timeline.rows(0)) == 1
    assert clip_a.GetStart() is None  # a deleted item is a dead object
    assert timeline.DeleteClips([clip_a], False) is False


def test_clip_colours_are_the_sixteen_names(fake25):
    resolve, timeline, _ = fake25
    clip_a = timeline.items(0)[0]
    for colour in fake_resolve.CLIP_COLORS:
        assert clip_a.SetClipColor(colour) and clip_a.GetClipColor() == colour
    assert len(fake_resolve.CLIP_COLORS) == 16
    for wrong in ("Red", "Cyan", "orange", ""):  # marker colours and wrong case are refused
        assert clip_a.SetClipColor(wrong) is False
    assert clip_a.GetClipColor() == "Chocolate"
    assert clip_a.ClearClipColor() and clip_a.GetClipColor() == ""
    timeline.AddTrack("video")
    title = timeline.title(1, 0, 20)
    assert title.SetClipColor("Orange") is True and title.GetClipColor() == ""  # no effect on titles


def test_names_and_markers_on_items(fake25):
    resolve, timeline, _ = fake25
    clip_b = timeline.items(0)[1]
    assert clip_b.SetName("ShotForge extend take 1") and clip_b.GetName() == "ShotForge extend take 1"
    assert clip_b.AddMarker(0, "Purple", "ShotForge", "job 1", 1, "shotforge:job-1")
    assert clip_b.AddMarker(0, "Blue", "again", "", 1, "") is False  # one marker per frame
    assert clip_b.AddMarker(40, "Blue", "past the end", "", 1, "") is False  # 40 frames long
    assert clip_b.AddMarker(3, "Orange", "clip colour, not a marker colour", "", 1, "") is False
    assert clip_b.GetMarkers() == {0.0: {"color": "Purple", "duration": 1, "note": "job 1", "name": "ShotForge",
                                         "customData": "shotforge:job-1"}}
    assert list(clip_b.GetMarkerByCustomData("shotforge:job-1")) == [0.0]
    timeline.set_playhead(60)
    assert timeline.GetCurrentVideoItem().GetMarkers()  # the marker stays on the item
    assert clip_b.DeleteMarkerByCustomData("shotforge:job-1") and clip_b.GetMarkers() == {}
    assert clip_b.DeleteMarkerByCustomData("shotforge:job-1") is False


def test_marks_and_selection_are_gated_by_version(media_dir):
    media = make_media("25", media_dir)
    cases = (((19, 0, 2, 0, ""), False, False), ((19, 1, 3, 7, ""), True, False),
             ((21, 0, 3, 7, ""), True, False), ((21, 0, 4, 0, ""), True, True), ((21, 1, 0, 3, ""), True, True))
    for version, marks, selection in cases:
        resolve, timeline, _ = new_resolve("25", media, version=version)
        assert ("GetMarkInOut" in dir(timeline)) is marks, version
        assert ("GetSelectedClips" in dir(timeline)) is selection, version
        # as on Resolve, hasattr() says nothing: True for every name
        assert hasattr(timeline, "GetMarkInOut") and hasattr(timeline, "GetSelectedClips")
    resolve, timeline, _ = new_resolve("25", media, version=(19, 0, 2, 0, ""))
    assert timeline.GetMarkInOut() is None  # a missing call answers None ...
    assert len(fake_resolve.VIOLATIONS) == 1 and "probe" in fake_resolve.VIOLATIONS[0]  # ... and is flagged
    fake_resolve.VIOLATIONS.clear()


def test_marks_and_selection_read_back(media_dir):
    media = make_media("25", media_dir)
    resolve, timeline, _ = new_resolve("25", media, version=(21, 0, 4, 0, ""))
    assert timeline.GetMarkInOut() == {} and timeline.GetSelectedClips() == []
    timeline.set_marks(10, 29)
    assert timeline.GetMarkInOut() == {"video": {"in": 10, "out": 29}, "audio": {"in": 10, "out": 29}}
    timeline.set_marks(10, None)
    assert timeline.GetMarkInOut()["video"] == {"in": 10}  # keys omitted when a mark is not set
    assert timeline.SetMarkInOut(5, 8, "video") and timeline.GetMarkInOut()["video"] == {"in": 5, "out": 8}
    assert timeline.ClearMarkInOut("all") and timeline.GetMarkInOut() == {}
    clip_b = timeline.items(0)[1]
    timeline.select(clip_b)
    assert timeline.GetSelectedClips() == [clip_b]


def test_product_name_and_media_pool(fake25, tmp_path, media_dir):
    resolve, timeline, item = fake25
    assert resolve.GetProductName() == "DaVinci Resolve Studio"
    free, _, _ = new_resolve("25", make_media("25", media_dir), product="DaVinci Resolve")
    assert free.GetProductName() == "DaVinci Resolve"
    pool = resolve.project.media_pool
    assert pool.ImportMedia([item.path]) == [item]  # already in the pool: the existing clip
    other = tmp_path / "other.mp4"
    other.write_bytes(open(item.path, "rb").read())
    bin_ = pool.AddSubFolder(pool.GetRootFolder(), "ShotForge")
    assert pool.SetCurrentFolder(bin_)
    new, = pool.ImportMedia([str(other)])
    assert bin_.GetClipList() == [new] and new not in pool.GetRootFolder().GetClipList()


def test_transitions_titles_and_compound_clips_are_items(fake25):
    resolve, timeline, item = fake25
    timeline.transition(0, 40, 8)  # A's tail into the gap
    timeline.AddTrack("video")
    timeline.title(1, 0, 20, name="Lower third")
    timeline.compound(1, 50, 30, name="Compound Clip 1", media=item, source_in=5)
    dissolve = timeline.GetItemListInTrack("video", 1)[1]
    assert [i.GetName() for i in timeline.GetItemListInTrack("video", 1)] == ["A", "Cross Dissolve", "B"]
    assert dissolve.GetMediaPoolItem() is None and dissolve.GetProperty() == {}
    assert (dissolve.GetStart() - timeline.start_frame, dissolve.GetDuration()) == (36, 8)  # centred on 40
    title, compound = timeline.GetItemListInTrack("video", 2)
    assert title.GetMediaPoolItem() is None and title.GetProperty()
    assert compound.GetMediaPoolItem().GetClipProperty("File Path") == ""
    timeline.set_playhead(60)
    assert timeline.GetCurrentVideoItem() == compound  # the compound itself, not what is inside
    adjustment = timeline.title(1, 30, 10, name="Adjustment Clip", kind="adjustment")
    assert adjustment.GetMediaPoolItem() and adjustment.GetMediaPoolItem().GetClipProperty("File Path") == ""
    doc = otio.adapters.read_from_string(_export(timeline), "otio_json")
    v1, v2 = doc.video_tracks()
    kinds = [type(child).__name__ for child in v1]
    assert kinds == ["Clip", "Transition", "Gap", "Clip"]
    assert v1[1].in_offset.value == 4 and v1[1].out_offset.value == 4
    assert isinstance(v2[0].media_reference, otio.schema.GeneratorReference)
    assert isinstance(v2[-1], otio.schema.Stack)


def _export(timeline):
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "t.otio"
        assert timeline.Export(str(path), timeline.resolve.EXPORT_OTIO)
        return path.read_text()


def test_retimed_reversed_and_disabled_clips(fake25):
    resolve, timeline, item = fake25
    timeline.AddTrack("video")
    fast = timeline.clip(1, item, 100, 0, 20, name="Fast", speed=2)        # media 100..139
    back = timeline.clip(1, item, 150, 30, 20, name="Back", speed=-1)      # media 169 down to 150
    off = timeline.clip(1, item, 200, 60, 10, name="Off", enabled=False)
    tc0 = item.start_tc_frame
    assert fast.GetDuration() == 20 and fast.GetLeftOffset() == 50  # warped (record) domain
    assert fast.GetSourceEndFrame() - fast.GetSourceStartFrame() == 40  # span / duration = speed 2
    assert back.GetSourceStartFrame() > back.GetSourceEndFrame() == tc0 + 150
    assert back.GetSourceStartFrame() - back.GetSourceEndFrame() == 20
    assert "Speed" not in fast.GetProperty() and off.GetClipEnabled() is False
    v2 = otio.adapters.read_from_string(_export(timeline), "otio_json").video_tracks()[1]
    clips = {c.name: c for c in v2 if isinstance(c, otio.schema.Clip)}
    warp, = clips["Fast"].effects
    assert isinstance(warp, otio.schema.LinearTimeWarp) and warp.time_scalar == 2
    assert clips["Fast"].source_range.start_time.value == tc0 + 100 and clips["Fast"].source_range.duration.value == 20
    assert clips["Back"].effects[0].time_scalar == -1 and clips["Back"].source_range.start_time.value == tc0 + 150
    assert clips["Off"].enabled is False and clips["Fast"].enabled is True


def test_a_held_frame_and_other_rate_media_in_test_setups(media_dir):
    from otio_tools.retime import clip_speed

    resolve, timeline, _ = new_resolve("23.976", make_media("23.976", media_dir))
    other = resolve.project.media_pool.add(make_media("25", media_dir))  # 25 fps media on 23.976
    timeline.AddTrack("video")
    plain = timeline.clip(1, other, 0, 0, 47, name="Plain")
    held = timeline.clip(1, other, 30, 60, 10, name="Held", speed=0)
    assert plain.GetSourceEndFrame() - plain.GetSourceStartFrame() == 50  # ceil(47 * 25 / 23.976)
    assert held.GetSourceEndFrame() - held.GetSourceStartFrame() == 1 and held.GetLeftOffset() == 30
    v2 = otio.adapters.read_from_string(_export(timeline), "otio_json").video_tracks()[1]
    clip = next(c for c in v2 if c.name == "Held")
    assert isinstance(clip.effects[0], otio.schema.FreezeFrame) and clip_speed(clip, "Held") == 0


def test_facts_are_raw_json_and_probe_by_dir(media_dir):
    media = make_media("25", media_dir)
    resolve, timeline, item = new_resolve("25", media, version=(21, 0, 4, 0, ""), product="DaVinci Resolve")
    timeline.transition(0, 52, 4)
    timeline.items(0)[0].SetClipColor("Teal")
    timeline.items(0)[0].AddMarker(2, "Blue", "n", "", 1, "shotforge:x")
    timeline.AddMarker(100, "Blue", "broll", "", 30, "")
    timeline.set_marks(10, 29)
    timeline.select(timeline.items(0)[0])
    timeline.set_playhead(20)
    facts = json.loads(json.dumps(read_facts(resolve)))  # JSON-serialisable
    assert facts["product"] == "DaVinci Resolve" and facts["version"] == [21, 0, 4, 0, ""]
    assert facts["page"] == "edit" and facts["project"] == "ShotForge test"
    tl = facts["timeline"]
    assert tl["rate"] == "25" and tl["drop_frame"] == "0" and tl["start_frame"] == 900000
    assert tl["playhead"] == "10:00:00:20" and tl["start_timecode"] == "10:00:00:00"
    assert tl["marks"] == {"video": {"in": 10, "out": 29}, "audio": {"in": 10, "out": 29}}
    clip_a, dissolve, clip_b = tl["video_tracks"][0]["items"]
    assert tl["selected"] == [clip_a["id"]] and "current_item" not in tl
    assert tl["markers"]["100"]["duration"] == 30
    assert clip_a["start"] == 900000 and clip_a["end"] == 900040 and clip_a["left_offset"] == 10
    assert clip_a["file"] == str(media) and clip_a["media"] and clip_a["fps"] == "25"
    assert clip_a["color"] == "Teal" and clip_a["markers"]["2"]["customData"] == "shotforge:x"
    assert clip_a["enabled"] is True and clip_a["props_empty"] is False
    assert dissolve["name"] == "Cross Dissolve" and not dissolve["media"] and dissolve["props_empty"]
    assert dissolve["file"] == "" and dissolve["start"] == 900050
    assert clip_b["source_end"] - clip_b["source_start"] == 40
    # an older build: the facts it cannot have are null, and nothing un-probed was called
    resolve, timeline, _ = new_resolve("25", media, version=(19, 0, 2, 0, ""))
    facts = read_facts(resolve)
    assert facts["timeline"]["marks"] is None and facts["timeline"]["selected"] is None
    resolve.manager.project.current_timeline = None
    assert read_facts(resolve)["timeline"] is None


@pytest.mark.parametrize("rate, drop", [(Fraction(48000, 1001), False), (Fraction(120000, 1001), True),
                                        (Fraction(120000, 1001), False), (Fraction(12), False),
                                        (Fraction(30000, 1001), True), (Fraction(60000, 1001), True)])
def test_the_fakes_timecode_counts_every_resolve_rate(rate, drop):
    # the fake counts timecode itself (OTIO's functions refuse 12-18 and 72-120 fps); checked
    # against the plugin's own timecode module, written separately
    from shotforge_resolve import timecode

    for frame in list(range(0, 20000, 97)) + [431568, 431567, 86400, 107892, 215784]:
        text = fake_resolve.frame_timecode(frame, rate, drop)
        assert text == timecode.frame_to_timecode(frame, rate, drop), frame
        assert fake_resolve.timecode_frame(text, rate) == frame, text
    timeline = fake_resolve.Resolve().project.new_timeline("T", rate, start_tc="00:59:58;00" if drop else
                                                           "00:59:58:00", drop_frame=drop)
    timeline.set_playhead(1000)
    assert fake_resolve.timecode_frame(timeline.GetCurrentTimecode(), rate) == timeline.start_frame + 1000
