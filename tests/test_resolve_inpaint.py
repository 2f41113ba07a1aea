"""Inpaint in the Resolve plugin: the clip targeted as for the other operations (selection, else the
playhead), the region typed as numbers in the clip's source pixels (a moving region with a second
box at the clip's last frame) or a matte file, checked against the media pool item's "Resolution"
with messages naming the clip; the request's ``operation: inpaint`` keys; the dialogs (Python and
Lua); end to end against a real ``shotforge serve`` from both entries: the result on a free track
above the clip, named, Pink, with its recipe marker, New take into the same slot, Remove last result
leaving the timeline exactly as before.

The test timeline (resolve_helpers.new_resolve, 25 fps from 10:00:00:00; media 640x272): V1 = clip
A (media 10..49) at 0..39, a gap at 40..51, clip B (media 60..99) at 52..91.
"""

from __future__ import annotations

import hashlib
import json
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest

from resolve_helpers import (  # noqa: F401 (api_check: autouse; server: fixture)
    REPO, api_check, make_media, new_resolve, read_frames, server)

import fake_resolve  # noqa: E402
from lua_resolve import LuaResolve  # noqa: E402
from shotforge_resolve import context as sf_context, settings as sf_settings, workflow  # noqa: E402
from shotforge_resolve.errors import ContextError  # noqa: E402
from shotforge_resolve.facts import read_facts  # noqa: E402
from test_resolve_audio import make_sound_media  # noqa: E402
from test_resolve_ui import Bmd, Fusion  # noqa: E402 (the UIManager stand-in)

from shotforge_resolve import ui as sf_ui  # noqa: E402


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    return make_media("25", tmp_path_factory.mktemp("resolve_inpaint_media"))


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("SHOTFORGE_RESOLVE_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("SHOTFORGE_RESOLVE_SETTINGS", str(tmp_path / "config" / "resolve.json"))
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    monkeypatch.chdir(REPO)


def prepare(resolve, facts=None, **values):
    options = dict(sf_settings.DEFAULTS, operation="inpaint", **values)
    return sf_context.prepare(facts or read_facts(resolve), options)


# ------------------------------------------------------------------------------- the request
def test_the_selected_clip_and_its_region(media):
    resolve, timeline, _ = new_resolve("25", media, version=(21, 0, 4, 0, ""))
    timeline.set_playhead(10)             # on A, but B is the editor's selection
    timeline.select(timeline.items(0)[1])
    description, meta, _target = prepare(resolve, inpaint_region="10, 20, 100, 60", prompt="")
    assert {key: meta[key] for key in ("operation", "track", "frame", "region", "prompt")} == {
        "operation": "inpaint", "track": 0, "frame": 52, "region": [10, 20, 100, 60], "prompt": ""}
    assert "region_end" not in meta and "mask" not in meta
    assert description == "Inpaint on 'B' (selected) (region 10, 20, 100, 60) on V1 at 10:00:02:02"


def test_the_frame_under_the_playhead_and_a_moving_region(media):
    resolve, timeline, _ = new_resolve("25", media)
    timeline.set_playhead(20)
    _description, meta, _target = prepare(resolve, inpaint_region=[0, 0, 64.0, 32],
                                          inpaint_region_end="576 240 64 32", prompt="a brick wall")
    assert (meta["frame"], meta["region"], meta["region_end"], meta["prompt"]) == (
        20, [0, 0, 64, 32], [576, 240, 64, 32], "a brick wall")


@pytest.mark.parametrize("region, end, words", [
    ("600, 0, 100, 50", "", "The inpaint region 600, 0, 100, 50 runs past the right edge of 'A', whose source is "
                            "640x272: x + width must be at most 640 and y + height at most 272."),
    ("0, 200, 10, 80", "", "runs past the bottom edge of 'A'"),
    ("0, 0, 0, 10", "", "The inpaint region 0, 0, 0, 10 of 'A' has no area"),
    ("-1, 0, 10, 10", "", "starts outside 'A'"),
    ("10 20 30", "", "The inpaint region '10 20 30' of 'A' must be four whole numbers: x, y, width, height"),
    ("1.5, 2, 3, 4", "", "must be four whole numbers"),
    ([1.5, 2, 3, 4], "", "must be four whole numbers"),
    ("", "", "The inpaint region '' of 'A' must be four whole numbers"),
    ("0, 0, 10, 10", "1 2", "The inpaint region at the clip's last frame '1 2' of 'A' must be four whole numbers"),
    ("0, 0, 10, 10", "630, 0, 20, 20", "The inpaint region at the clip's last frame 630, 0, 20, 20 runs past the "
                                       "right edge of 'A'"),
])
def test_a_region_that_does_not_fit_the_clip_is_refused(media, region, end, words):
    resolve, timeline, _ = new_resolve("25", media)
    timeline.set_playhead(20)
    with pytest.raises(ContextError) as caught:
        prepare(resolve, inpaint_region=region, inpaint_region_end=end)
    assert words in caught.value.message


def test_a_source_resolution_resolve_does_not_tell_is_left_to_the_server(media):
    resolve, timeline, _ = new_resolve("25", media)
    timeline.set_playhead(20)
    facts = read_facts(resolve)
    for item in facts["timeline"]["video_tracks"][0]["items"]:
        item["resolution"] = ""
    _description, meta, _target = prepare(resolve, facts=facts, inpaint_region="0, 0, 5000, 5000")
    assert meta["region"] == [0, 0, 5000, 5000]


def test_a_matte_file(media, tmp_path):
    resolve, timeline, _ = new_resolve("25", media)
    timeline.set_playhead(20)
    matte = tmp_path / "boom matte.png"
    matte.write_bytes(b"\x89PNG not really, the server reads it")
    _description, meta, _target = prepare(resolve, inpaint_with="matte", inpaint_mask=str(matte),
                                          inpaint_region="not used")
    assert meta["mask"] == str(matte) and "region" not in meta
    assert meta["mask_sha256"] == hashlib.sha256(matte.read_bytes()).hexdigest()
    for path, words in ((str(tmp_path / "missing.png"), "The matte file {} for 'A' does not exist".format(
            tmp_path / "missing.png")), ("", "Inpaint of 'A' with a matte needs the matte file's path"),
                        (str(tmp_path), "is not a file")):
        with pytest.raises(ContextError) as caught:
            prepare(resolve, inpaint_with="matte", inpaint_mask=path)
        assert words in caught.value.message


def test_no_clip_to_inpaint_says_so(media):
    resolve, timeline, _ = new_resolve("25", media)
    timeline.set_playhead(45)  # in the gap
    with pytest.raises(ContextError) as caught:
        prepare(resolve, inpaint_region="0, 0, 10, 10")
    assert "No clip under the playhead (10:00:01:20). Park the playhead on the clip to inpaint." == \
        caught.value.message


def test_the_dialog_offers_inpaint_and_remembers_its_fields(media):
    resolve, _timeline, _ = new_resolve("25", media)
    dialog = sf_ui.Dialog(resolve, Fusion(), Bmd())
    items = dialog.items
    items["Operation"].CurrentIndex = items["Operation"].items.index("Inpaint")
    items["InpaintWith"].CurrentIndex = 1
    items["InpaintRegion"].Text = " 1, 2, 3, 4 "
    items["InpaintRegionEnd"].Text = "5, 6, 3, 4"
    items["InpaintMask"].Text = "/mattes/boom.png"
    values = dialog.read_values()
    assert {key: values[key] for key in ("operation", "inpaint_with", "inpaint_region", "inpaint_region_end",
                                         "inpaint_mask")} == {
        "operation": "inpaint", "inpaint_with": "matte", "inpaint_region": "1, 2, 3, 4",
        "inpaint_region_end": "5, 6, 3, 4", "inpaint_mask": "/mattes/boom.png"}
    again = sf_ui.Dialog(resolve, Fusion(), Bmd()).items
    assert again["Operation"].CurrentText == "Inpaint" and again["InpaintWith"].CurrentIndex == 1
    assert again["InpaintRegion"].Text == "1, 2, 3, 4" and again["InpaintMask"].Text == "/mattes/boom.png"


def test_the_lua_dialog_sends_the_region_and_shows_a_refusal(media, tmp_path):
    lua = LuaResolve()
    resolve, timeline, _ = new_resolve("25", media)
    timeline.set_playhead(20)
    before = timeline.snapshot()
    saved = tmp_path / "config" / "resolve.json"
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps({"operation": "inpaint", "inpaint_region": "600, 0, 100, 50",
                                 "server_url": "http://127.0.0.1:9"}))
    fusion, bmd = lua.fake_ui()
    dialog = lua.module[b"dialog"](lua.to_lua(resolve), fusion, bmd)
    items = dialog[b"items"]
    assert items[b"Operation"][b"items"][items[b"Operation"][b"CurrentIndex"] + 1] == b"Inpaint"
    assert items[b"InpaintRegion"][b"Text"] == b"600, 0, 100, 50"
    assert list(items[b"InpaintWith"][b"items"].values())[0].startswith(b"Region")
    dialog[b"win"][b"On"][b"Run"][b"Clicked"]()
    status = items[b"Status"][b"Text"].decode()
    assert "runs past the right edge of 'A', whose source is 640x272" in status, status
    items[b"InpaintRegion"][b"Text"] = b"500, 0, 100, 50"
    dialog[b"win"][b"On"][b"Run"][b"Clicked"]()
    status = items[b"Status"][b"Text"].decode()
    assert "127.0.0.1:9" in status, status  # the request was made; no server answers there
    meta = json.loads((tmp_path / "config" / "lua" / "meta.json").read_text())
    assert (meta["operation"], meta["frame"], meta["region"]) == ("inpaint", 20, [500, 0, 100, 50])
    assert timeline.snapshot() == before


# ------------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def short_media(tmp_path_factory):
    """24 frames at 176x144 (so the engine's work, handles included, stays small)."""
    return str(make_sound_media(tmp_path_factory.mktemp("resolve_inpaint_short") / "C001.mov", frames=24))


def short_edit(media):
    """25 fps from 10:00:00:00: V1 = clip A (media 4..15) at 0..11, clip B (media 8..19) at 20..31."""
    resolve = fake_resolve.Resolve((19, 1, 3, 7, ""))
    timeline = resolve.project.new_timeline("Inpaint", Fraction(25), start_tc="10:00:00:00")
    item = resolve.project.media_pool.add(media)
    timeline.clip(0, item, 4, 0, 12, name="A")
    timeline.clip(0, item, 8, 20, 12, name="B")
    return resolve, timeline, item


def check_result(timeline, placed, job_id, record=0, take=1):
    (piece,) = placed
    assert (piece["track"], piece["start"], piece["duration"]) == (2, timeline.start_frame + record, 12)
    (row,) = timeline.layout(1)
    assert row[:3] == (record, record + 12, "ShotForge inpaint take {}".format(take))
    entry = timeline.entries(1)[0]
    recipe = json.loads(entry.markers[0]["customData"][len("shotforge:"):])
    assert entry.color == "Pink" and (recipe["operation"], recipe["job"], recipe["take"]) == ("inpaint", job_id, take)
    with av.open(piece["media"]) as made:
        stream = made.streams.video[0]
        assert (stream.width, stream.height) == (176, 144)
    return piece["media"]


def test_inpaint_end_to_end_with_new_take_and_remove_last(short_media, server, tmp_path):
    resolve, timeline, item = short_edit(short_media)
    before = timeline.snapshot()
    timeline.set_playhead(5)
    values = dict(sf_settings.DEFAULTS, server_url=server.url, engine="classical", seed=3, operation="inpaint",
                  inpaint_region="60, 40, 30, 24", inpaint_region_end="80, 50, 30, 24")
    updates = []
    done = workflow.run(resolve, values, workdir=str(tmp_path / "requests"), on_update=updates.append,
                        poll_interval=0.05)
    render = check_result(timeline, done["placed"], done["job"]["id"])
    assert done["audio"] == [] and updates[-1]["state"] == "done"
    assert timeline.layout(0) == [(0, 12, "A", item.name, 4), (20, 32, "B", item.name, 8)]  # untouched
    # outside the region every pixel is the clip's own frame (as the codec keeps it); inside, the
    # sent region was remade from what the shot shows around and beyond it, close to what was there
    assert json.loads(open(done["request"]).read())["metadata"]["shotforge"]["region"] == [60, 40, 30, 24]
    made, shown = read_frames(render, 0, 1)[0].astype(int), read_frames(short_media, 4, 1)[0].astype(int)
    outside = np.ones(made.shape[:2], bool)
    outside[34:80, 54:116] = False
    region = np.zeros(made.shape[:2], bool)
    region[40:64, 60:90] = True  # the region at the clip's first frame
    assert np.abs(made - shown)[outside].mean() < 3 and np.abs(made - shown)[region].mean() < 4
    second = workflow.new_take(resolve, values, seed=9, poll_interval=0.05)
    check_result(timeline, second["placed"], second["job"]["id"], take=2)
    assert json.loads(open(second["request"]).read())["metadata"]["shotforge"]["region_end"] == [80, 50, 30, 24]
    removed = workflow.remove_last(resolve, values)
    assert removed["tracks_deleted"] == [2] and timeline.snapshot() == before


def test_inpaint_with_a_matte_from_the_lua_entry(short_media, server, tmp_path):
    resolve, timeline, _ = short_edit(short_media)
    before = timeline.snapshot()
    timeline.set_playhead(25)  # on B
    matte = np.zeros((144, 176), np.uint8)
    matte[40:80, 60:100] = 255
    path = tmp_path / "matte.png"
    cv2.imwrite(str(path), matte)
    lua = LuaResolve()
    answer = lua.call("run", resolve, {"server_url": server.url, "engine": "classical", "seed": 3,
                                       "operation": "inpaint", "inpaint_with": "matte", "inpaint_mask": str(path)})
    assert answer["ok"], answer
    check_result(timeline, answer["result"]["placed"], answer["job"], record=20)
    assert "placed as take 1" in answer["message"]
    session = lua.call_raw("session", lua.to_lua(resolve))
    assert lua.to_py(lua.module[b"remove_last"](session))["ok"]
    assert timeline.snapshot() == before
