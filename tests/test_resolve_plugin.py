"""The Resolve plugin's logic against the fake Resolve, without a server: timecode, the API
check, reading the context, building the request, placing results, settings, the installer."""

from __future__ import annotations

import ast
import io
import sys
from contextlib import redirect_stdout
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest

from resolve_helpers import api_check, PLUGIN, RATES, make_media, new_resolve  # noqa: E402, F401 (sets sys.path; api_check: autouse fixture)

import fake_resolve  # noqa: E402
from shotforge_resolve import client as sf_client  # noqa: E402
from shotforge_resolve import context as sf_context  # noqa: E402
from shotforge_resolve import place as sf_place  # noqa: E402
from shotforge_resolve import settings as sf_settings  # noqa: E402
from shotforge_resolve import timecode as tc  # noqa: E402
from shotforge_resolve import workflow  # noqa: E402
from shotforge_resolve.errors import ContextError, PlacementError, ServerDownError  # noqa: E402

RT = otio.opentime.RationalTime



@pytest.fixture(scope="module")
def media_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("resolve_media")


@pytest.fixture(params=list(RATES))
def setup(request, media_dir):
    media = make_media(request.param, media_dir)
    resolve, timeline, item = new_resolve(request.param, media)
    return request.param, resolve, timeline, item


# ------------------------------------------------------------------------------- timecode
@pytest.mark.parametrize("rate, drop", [(Fraction(24000, 1001), False), (Fraction(25), False), (Fraction(24), False),
                                        (Fraction(30000, 1001), True), (Fraction(30000, 1001), False),
                                        (Fraction(60000, 1001), True), (Fraction(50), False)])
def test_timecode_matches_opentimelineio(rate, drop):
    frames = list(range(0, 40000, 37)) + [107892, 107890, 17982, 17981, 1800, 1799, 86400, 215784]
    for frame in frames:
        expected = otio.opentime.to_timecode(RT(frame, float(rate)), float(rate), drop)
        assert tc.frame_to_timecode(frame, rate, drop) == expected, frame
        assert tc.timecode_to_frame(expected, rate) == frame, expected


def test_rates_and_drop_frame_text():
    assert tc.parse_rate("23.976") == Fraction(24000, 1001)
    assert tc.parse_rate("23.98") == Fraction(24000, 1001)
    assert tc.parse_rate("29.97 DF") == Fraction(30000, 1001)
    assert tc.parse_rate("59.94") == Fraction(60000, 1001)
    assert tc.parse_rate("25") == 25 and tc.parse_rate("24.0") == 24
    assert tc.timecode_to_frame("01:00:00;00", "29.97") == 107892
    assert tc.timecode_to_frame("01:00:00:00", "29.97") == 108000  # non-drop text counts every number
    assert tc.timecode_to_frame("01:00:00:00", "23.976") == 86400
    with pytest.raises(ValueError):
        tc.timecode_to_frame("00:01:00;00", "29.97")  # ;00 and ;01 do not exist after minute 1
    assert tc.seconds_to_frames(2, "23.976") == 48 and tc.seconds_to_frames("1.5", 25) == 38
    with pytest.raises(ValueError):
        tc.parse_rate("fast")


# ------------------------------------------------------------------------------- the API check
def test_fake_refuses_calls_the_reference_does_not_list(setup):
    _, resolve, timeline, _ = setup
    with pytest.raises(fake_resolve.ApiViolation):
        timeline.GetInOutRange()  # plausible, but not in resolve_api.tsv
    with pytest.raises(fake_resolve.ApiViolation):
        timeline.GetItemListInTrack("video")  # wrong number of arguments
    with pytest.raises(fake_resolve.ApiViolation):
        timeline.GetItemListInTrack(trackType="video", index=1)  # Resolve takes no keywords
    with pytest.raises(fake_resolve.ApiViolation):
        resolve.EXPORT_NOT_A_THING
    assert len(fake_resolve.VIOLATIONS) == 4
    fake_resolve.VIOLATIONS.clear()


def test_reference_is_parsed_at_test_time():
    api, constants = fake_resolve.load_reference()
    assert api["MediaPool"]["AppendToTimeline"] == (1, 1)
    assert api["Timeline"]["GetItemListInTrack"] == (2, 2)
    assert api["Timeline"]["Export"] == (2, 3)  # exportSubtype only for AAF/EDL (notes)
    assert api["ProjectManager"]["ArchiveProject"] == (2, 5)
    assert "EXPORT_OTIO" in constants
    assert "GetInOutRange" not in api["Timeline"]


# ------------------------------------------------------------------------------- context
def _options(**values):
    options = dict(sf_settings.DEFAULTS)
    options.update(values)
    return options


def _expected_rel(timeline, timecode):
    return fake_resolve.timecode_frame(timecode, timeline.rate) - timeline.start_frame


def test_request_frames_count_from_the_timeline_start(setup, tmp_path):
    key, resolve, timeline, _ = setup
    # Park by timecode (what an editor sees): inside clip A, a few frames past the start timecode.
    playhead_tc = {"23.976": "01:00:00:21", "25": "10:00:00:21", "29.97DF": "01:00:00;19"}[key]
    timeline.SetCurrentTimecode(playhead_tc)
    rel = _expected_rel(timeline, playhead_tc)
    assert rel == {"23.976": 21, "25": 21, "29.97DF": 21}[key]  # 29.97DF starts at 00:59:59;28
    run = workflow.Run(resolve, _options(operation="extend", side="tail", length=2, length_unit="seconds", seed=9))
    run.read_context()
    assert run.meta["frame"] == rel and run.meta["track"] == 0
    assert run.meta["frames"] == {"23.976": 48, "25": 50, "29.97DF": 60}[key]
    path, data = sf_context.export_request(run.info, run.meta, str(tmp_path))
    # What is POSTed is a valid request per the contract, checked by the server's own parser.
    from otio_tools.request import parse_request_json

    request_timeline, request = parse_request_json(Path(path).read_text())
    assert request.operation == "extend" and request.frame == rel and request.side == "tail"
    assert request.seed == 9 and request.placement == "overwrite"
    assert request_timeline.global_start_time.value == timeline.start_frame
    assert data["metadata"]["Resolve_OTIO"]  # Resolve's own metadata is kept


def test_fill_gap_and_generate_ranges(setup):
    key, resolve, timeline, _ = setup
    timeline.set_playhead(45)
    run = workflow.Run(resolve, _options(operation="fill_gap"))
    assert "12-frame gap" in run.read_context()
    assert run.meta["frame"] == 45 and run.meta["placement"] == "overwrite"
    # generate: a duration marker (In/Out turned into a marker) under the playhead
    timeline.AddMarker(100, "Blue", "broll", "", 30, "")
    timeline.set_playhead(110)
    run = workflow.Run(resolve, _options(operation="generate", prompt="city at night"))
    run.read_context()
    assert run.meta["range"] == [100, 130] and run.meta["placement"] == "above"
    assert run.meta["track"] == 0 and run.meta["prompt"] == "city at night"
    # generate: from the playhead, a length in seconds
    run = workflow.Run(resolve, _options(operation="generate", generate_range="length", length=1,
                                         length_unit="seconds", reference="playhead"))
    run.read_context()
    fps = {"23.976": 24, "25": 25, "29.97DF": 30}[key]
    assert run.meta["range"] == [110, 110 + fps] and run.meta["reference_frame"] == 110


def test_outpaint_canvas_presets(setup):
    key, resolve, timeline, item = setup
    timeline.set_playhead(5)
    height = item.info["height"]
    for preset, expect in (("9:16", (height, round(height * 16 / 9 / 2) * 2)), ("1:1", (height, height)),
                           ("16:9", (round(height * 16 / 9 / 2) * 2, height)),
                           ("4:3", (round(height * 4 / 3 / 2) * 2, height))):
        run = workflow.Run(resolve, _options(operation="outpaint", canvas_preset=preset))
        run.read_context()
        assert run.meta["canvas"] == list(expect), preset
        assert run.meta["placement"] == "above"
    run = workflow.Run(resolve, _options(operation="outpaint", canvas_preset="custom", canvas_width=1080,
                                         canvas_height=1350))
    run.read_context()
    assert run.meta["canvas"] == [1080, 1350]
    with pytest.raises(ContextError, match="even"):
        workflow.Run(resolve, _options(operation="outpaint", canvas_preset="custom", canvas_width=1081,
                                       canvas_height=1350)).read_context()


def test_context_errors_say_what_to_do(setup):
    key, resolve, timeline, _ = setup
    before = timeline.snapshot()
    timeline.set_playhead(45)  # in the gap
    with pytest.raises(ContextError, match="No clip under the playhead"):
        workflow.Run(resolve, _options(operation="extend")).read_context()
    with pytest.raises(ContextError, match="No clip under the playhead on V1"):
        workflow.Run(resolve, _options(operation="outpaint", track="V1")).read_context()
    timeline.set_playhead(20)  # on clip A
    with pytest.raises(ContextError, match="not in a gap.*on 'A' on V1"):
        workflow.Run(resolve, _options(operation="fill_gap")).read_context()
    timeline.set_playhead(200)  # after the last clip
    with pytest.raises(ContextError, match="no clip after the playhead"):
        workflow.Run(resolve, _options(operation="fill_gap")).read_context()
    with pytest.raises(ContextError, match="No In/Out range"):
        workflow.Run(resolve, _options(operation="generate")).read_context()
    with pytest.raises(ContextError, match="there is no V3"):
        workflow.Run(resolve, _options(operation="extend", track="V3")).read_context()
    timeline.set_playhead(20)
    with pytest.raises(ContextError, match="at least one frame"):
        workflow.Run(resolve, _options(operation="extend", length=0)).read_context()
    assert timeline.snapshot() == before


def test_auto_track_takes_the_topmost_clip_under_the_playhead(setup):
    key, resolve, timeline, item = setup
    timeline.AddTrack("video")
    timeline.clip(1, item, 0, 30, 20, name="Top")
    timeline.set_playhead(35)
    run = workflow.Run(resolve, _options(operation="extend", side="head", length=4))
    run.read_context()
    assert run.meta["track"] == 1 and run.target.clip["name"] == "Top"
    run = workflow.Run(resolve, _options(operation="extend", side="head", length=4, track="V1"))
    run.read_context()
    assert run.meta["track"] == 0 and run.target.clip["name"] == "A"


# ------------------------------------------------------------------------------- placement
def _context(resolve):
    return sf_context.TimelineInfo(resolve)


@pytest.mark.parametrize("version", [(18, 6, 6, 7, ""), (19, 1, 3, 7, ""), (20, 0, 1, 6, "")])
def test_placement_is_frame_exact_for_either_end_frame_convention(version, media_dir, tmp_path):
    media = make_media("25", media_dir)
    resolve, timeline, item = new_resolve("25", media, version=version)
    generated = tmp_path / "generated.mp4"
    generated.write_bytes(media.read_bytes())  # any readable video stands in for a result here
    placements = [
        {"media": str(media), "track": 0, "record_frame": 40, "source_in": 50, "frames": 12},   # handles
        {"media": str(generated), "track": 1, "record_frame": 100, "source_in": 7, "frames": 33},  # new track
    ]
    placed = sf_place.place(_context(resolve), placements)
    assert [(p["track"], p["start"], p["end"]) for p in placed] == [
        (1, timeline.start_frame + 40, timeline.start_frame + 52), (2, timeline.start_frame + 100,
                                                                    timeline.start_frame + 133)]
    rows = timeline.rows(0)
    assert [(s, e, c.name) for s, e, c in rows] == [(0, 40, "A"), (40, 52, media.name), (52, 92, "B")]
    handle = rows[1][2]
    assert timeline.frames_of(handle.source_range.start_time) - item.start_tc_frame == 50
    (start, end, clip), = timeline.rows(1)
    assert (start, end) == (100, 133)
    assert timeline.frames_of(clip.source_range.start_time) == 7 and clip.media_reference.target_url == str(generated)
    # the source clip was reused from the media pool; the new media went into the ShotForge bin
    bins = {f.GetName(): f for f in resolve.project.media_pool.root.subfolders}
    assert [c.path for c in bins["ShotForge"].clips] == [str(generated)]
    infos = [ci for batch in resolve.project.media_pool.appends for ci in batch]
    assert all(isinstance(ci[k], int) for ci in infos for k in ("startFrame", "endFrame", "trackIndex",
                                                                 "recordFrame"))
    assert all(ci["mediaType"] == 1 for ci in infos)


def test_placement_corrects_a_wrong_end_frame_guess(media_dir, monkeypatch):
    # A Resolve whose version does not tell (the guess is then 'inclusive'), counting exclusively:
    # the first try is one frame short, and is replaced by an exact one; the next clip is intact.
    media = make_media("25", media_dir)
    resolve, timeline, _ = new_resolve("25", media, version=(20, 2, 0, 0, ""))
    monkeypatch.setattr(sf_place, "_end_exclusive", lambda resolve: False)
    sf_place.place(_context(resolve), [{"media": str(media), "track": 0, "record_frame": 40, "source_in": 50,
                                        "frames": 12}])
    assert [(s, e) for s, e, _ in timeline.rows(0)] == [(0, 40), (40, 52), (52, 92)]


def test_failed_placement_leaves_the_timeline_as_it_was(media_dir, tmp_path):
    media = make_media("25", media_dir)
    resolve, timeline, _ = new_resolve("25", media)
    before = timeline.snapshot()
    # the second placement asks for frames the file does not have: Resolve refuses it
    bad = [{"media": str(media), "track": 1, "record_frame": 0, "source_in": 0, "frames": 10},
           {"media": str(media), "track": 2, "record_frame": 0, "source_in": 245, "frames": 10}]
    with pytest.raises(PlacementError, match="did not place"):
        sf_place.place(_context(resolve), bad)
    assert timeline.snapshot() == before and timeline.GetTrackCount("video") == 1
    with pytest.raises(PlacementError, match="does not exist"):
        sf_place.place(_context(resolve), [{"media": str(tmp_path / "gone.mov"), "track": 0, "record_frame": 0,
                                            "source_in": 0, "frames": 1}])
    with pytest.raises(PlacementError, match="no placements"):
        sf_place.place(_context(resolve), [])
    assert timeline.snapshot() == before


# ------------------------------------------------------------------------------- server down
def test_server_down_says_how_to_start_it(setup, tmp_path):
    from resolve_helpers import free_port

    _, resolve, timeline, _ = setup
    timeline.set_playhead(20)
    before = timeline.snapshot()
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ServerDownError) as caught:
        workflow.run(resolve, _options(operation="extend", server_url=url), workdir=str(tmp_path))
    message = caught.value.message
    assert url in message and "shotforge serve --port" in message
    assert timeline.snapshot() == before
    with pytest.raises(ServerDownError, match="not a file"):
        workflow.run(resolve, _options(operation="extend", server_url=url, shotforge_path=str(tmp_path / "nope")),
                     workdir=str(tmp_path))


def test_start_hint():
    assert sf_client.start_hint("http://127.0.0.1:8765") == "shotforge serve"
    assert sf_client.start_hint("127.0.0.1:9000") == "shotforge serve --port 9000"
    assert sf_client.start_hint("http://gpu-box:8765") == "shotforge serve --host gpu-box"


# ------------------------------------------------------------------------------- settings
def test_settings_are_remembered(tmp_path, monkeypatch):
    path = tmp_path / "cfg" / "resolve.json"
    monkeypatch.setenv("SHOTFORGE_RESOLVE_SETTINGS", str(path))
    assert sf_settings.load() == sf_settings.DEFAULTS
    values = dict(sf_settings.DEFAULTS, operation="outpaint", canvas_preset="4:3", prompt="sky", seed=42,
                  server_url="http://127.0.0.1:9999", unknown="dropped")
    sf_settings.save(values)
    loaded = sf_settings.load()
    assert loaded["operation"] == "outpaint" and loaded["prompt"] == "sky" and loaded["seed"] == 42
    assert "unknown" not in loaded
    path.write_text("{not json")
    assert sf_settings.load() == sf_settings.DEFAULTS
    assert sf_settings.config_dir("linux", {"HOME": "/h"}) == "/h/.config/shotforge"
    assert sf_settings.config_dir("darwin", {"HOME": "/h"}) == "/h/Library/Application Support/ShotForge"
    assert sf_settings.config_dir("win32", {"APPDATA": "C:\\U\\AppData\\Roaming"}).endswith("ShotForge")


# ------------------------------------------------------------------------------- install
def test_install_puts_the_script_where_resolve_looks(tmp_path):
    sys.path.insert(0, str(PLUGIN))
    try:
        import install
    finally:
        sys.path.remove(str(PLUGIN))
    env = {"HOME": "/home/ed", "APPDATA": "C:\\Users\\ed\\AppData\\Roaming"}
    assert str(install.scripts_dir("linux", env)) == "/home/ed/.local/share/DaVinciResolve/Fusion/Scripts/Edit"
    assert str(install.scripts_dir("darwin", env)) == (
        "/home/ed/Library/Application Support/Blackmagic Design/DaVinci Resolve/Fusion/Scripts/Edit")
    assert str(install.scripts_dir("win32", env)) == (
        "C:\\Users\\ed\\AppData\\Roaming\\Blackmagic Design\\DaVinci Resolve\\Support\\Fusion\\Scripts\\Edit")
    assert str(install.scripts_dir("linux", env, all_users=True)) == "/opt/resolve/Fusion/Scripts/Edit"

    dest, lib = tmp_path / "Scripts" / "Edit", tmp_path / "lib"
    target = install.install(dest, lib=lib)
    assert target == dest / "ShotForge.py"
    assert (lib / "shotforge_resolve" / "workflow.py").is_file()
    assert not list(lib.rglob("__pycache__"))
    assert [p.name for p in dest.iterdir()] == ["ShotForge.py"]  # only the menu entry in Scripts
    text = target.read_text()
    assert f"SHOTFORGE_LIB = {str(lib)!r}" in text
    install.install(dest, lib=lib)  # again: an upgrade in place

    # The installed launcher finds its package and starts the UI (here: no UI objects).
    out = io.StringIO()
    with redirect_stdout(out):
        exec(compile(text, str(target), "exec"), {"__name__": "__main__", "resolve": fake_resolve.Resolve()})
    assert "UI scripting (fusion, bmd) is not available" in out.getvalue()

    # shotforge install-resolve (the lead wires register() into the CLI)
    import argparse

    parser = argparse.ArgumentParser()
    install.register(parser.add_subparsers())
    args = parser.parse_args(["install-resolve", "--dest", str(tmp_path / "d2"), "--lib", str(tmp_path / "l2")])
    with redirect_stdout(io.StringIO()):
        assert args.handler(args) == 0
    assert (tmp_path / "d2" / "ShotForge.py").is_file()
    args = parser.parse_args(["install-resolve", "--dest", str(tmp_path / "d2"), "--lib", str(tmp_path / "l2"),
                              "--uninstall"])
    with redirect_stdout(io.StringIO()):
        assert args.handler(args) == 0
    assert not (tmp_path / "d2" / "ShotForge.py").exists() and not (tmp_path / "l2" / "shotforge_resolve").exists()


# ------------------------------------------------------------------------------- Resolve's Python
def _resolve_side_files():
    return [PLUGIN / "ShotForge.py"] + sorted((PLUGIN / "shotforge_resolve").glob("*.py"))


def test_script_is_python36_and_stdlib_only():
    stdlib = set(sys.stdlib_module_names)
    for path in _resolve_side_files():
        tree = ast.parse(path.read_text(), filename=str(path), feature_version=(3, 6))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top in stdlib or top in ("shotforge_resolve", "DaVinciResolveScript"), (path, name)
            assert not (isinstance(node, ast.ImportFrom) and node.module == "__future__"), path
        assert "dataclass" not in path.read_text(), path  # 3.7+


def test_drop_frame_read_from_the_rate_text_too(media_dir):
    # Some Resolve versions write the rate as "29.97 DF"; the DF setting alone must also do.
    media = make_media("29.97DF", media_dir)
    for rate_text, drop in (("29.97 DF", True), ("29.97", True)):
        resolve, timeline, _ = new_resolve("29.97DF", media, rate_text=rate_text, drop_frame=drop)
        timeline.SetCurrentTimecode("01:00:01;00")  # 30 frames after 01:00:00;00, 32 after the start
        run = workflow.Run(resolve, _options(operation="extend"))
        run.read_context()
        assert run.info.drop_frame and run.info.start_frame == 107890
        assert run.meta["frame"] == 32
