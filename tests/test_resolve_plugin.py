"""The Resolve plugin's logic against the fake Resolve, without a server: timecode, the API
check, the editor's targeting on the facts (selection, marks, playhead; what is not a shot), the
request, settings, the installer. (Placing results: test_resolve_place.py.)"""

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
from shotforge_resolve import settings as sf_settings  # noqa: E402
from shotforge_resolve import timecode as tc  # noqa: E402
from shotforge_resolve import workflow  # noqa: E402
from shotforge_resolve.errors import ContextError, ServerDownError  # noqa: E402
from shotforge_resolve.facts import read_facts  # noqa: E402

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


def _prepare(resolve, **values):
    """(description, meta, target) the way both entries get them: facts first, then decisions."""
    return sf_context.prepare(read_facts(resolve), _options(**values))


def _expected_rel(timeline, timecode):
    return fake_resolve.timecode_frame(timecode, timeline.rate) - timeline.start_frame


def _export(resolve, meta, folder):
    Path(folder).mkdir(parents=True, exist_ok=True)
    path = Path(folder) / "shotforge_request.otio"
    assert resolve.project.current_timeline.Export(str(path), resolve.EXPORT_OTIO)
    return sf_context.add_request_metadata(str(path), meta)


def test_request_frames_count_from_the_timeline_start(setup, tmp_path):
    key, resolve, timeline, _ = setup
    # Park by timecode (what an editor sees): inside clip A, a few frames past the start timecode.
    playhead_tc = {"23.976": "01:00:00:21", "25": "10:00:00:21", "29.97DF": "01:00:00;19"}[key]
    timeline.SetCurrentTimecode(playhead_tc)
    rel = _expected_rel(timeline, playhead_tc)
    assert rel == {"23.976": 21, "25": 21, "29.97DF": 21}[key]  # 29.97DF starts at 00:59:59;28
    description, meta, target = _prepare(resolve, operation="extend", side="tail", length=2,
                                         length_unit="seconds", seed=9)
    assert meta["frame"] == rel and meta["track"] == 0 and target.clip["name"] == "A"
    assert meta["frames"] == {"23.976": 48, "25": 50, "29.97DF": 60}[key]
    assert description == "Extend tail by {} frames on 'A' on V1 at {}".format(meta["frames"], playhead_tc)
    path, data = _export(resolve, meta, tmp_path)
    # What is POSTed is a valid request per the contract, checked by the server's own parser.
    from otio_tools.request import parse_request_json

    request_timeline, request = parse_request_json(Path(path).read_text())
    assert request.operation == "extend" and request.frame == rel and request.side == "tail"
    assert request.seed == 9 and request.placement == "auto"
    assert request_timeline.global_start_time.value == timeline.start_frame
    assert data["metadata"]["Resolve_OTIO"]  # Resolve's own metadata is kept


def test_fill_gap_and_generate_ranges(setup):
    key, resolve, timeline, _ = setup
    timeline.set_playhead(45)
    description, meta, _ = _prepare(resolve, operation="fill_gap")
    assert "12-frame gap" in description and meta["frame"] == 45 and meta["placement"] == "auto"
    # generate on a build with In/Out marks but none set: a duration marker under the playhead
    timeline.AddMarker(100, "Blue", "broll", "", 30, "")
    timeline.set_playhead(110)
    description, meta, target = _prepare(resolve, operation="generate", prompt="city at night")
    assert meta["range"] == [100, 130] and target.source == "marker" and "duration marker" in description
    assert meta["track"] == 0 and meta["prompt"] == "city at night" and meta["placement"] == "auto"
    # generate: from the playhead, a length in seconds
    _, meta, _ = _prepare(resolve, operation="generate", generate_range="length", length=1, length_unit="seconds",
                          reference="playhead")
    fps = {"23.976": 24, "25": 25, "29.97DF": 30}[key]
    assert meta["range"] == [110, 110 + fps] and meta["reference_frame"] == 110


def test_outpaint_canvas_presets(setup):
    key, resolve, timeline, item = setup
    timeline.set_playhead(5)
    height = item.info["height"]
    for preset, expect in (("9:16", (height, round(height * 16 / 9 / 2) * 2)), ("1:1", (height, height)),
                           ("16:9", (round(height * 16 / 9 / 2) * 2, height)),
                           ("4:3", (round(height * 4 / 3 / 2) * 2, height))):
        _, meta, _ = _prepare(resolve, operation="outpaint", canvas_preset=preset)
        assert meta["canvas"] == list(expect), preset
        assert meta["placement"] == "auto"
    _, meta, _ = _prepare(resolve, operation="outpaint", canvas_preset="custom", canvas_width=1080,
                          canvas_height=1350)
    assert meta["canvas"] == [1080, 1350]
    with pytest.raises(ContextError, match="even"):
        _prepare(resolve, operation="outpaint", canvas_preset="custom", canvas_width=1081, canvas_height=1350)


def test_context_errors_say_what_to_do(setup):
    key, resolve, timeline, _ = setup
    before = timeline.snapshot()
    timeline.set_playhead(45)  # in the gap
    with pytest.raises(ContextError, match="No clip under the playhead"):
        _prepare(resolve, operation="extend")
    with pytest.raises(ContextError, match="No clip under the playhead on V1"):
        _prepare(resolve, operation="outpaint", track="V1")
    timeline.set_playhead(20)  # on clip A
    with pytest.raises(ContextError, match="not in a gap.*on 'A' on V1"):
        _prepare(resolve, operation="fill_gap")
    timeline.set_playhead(200)  # after the last clip
    with pytest.raises(ContextError, match="no clip after the playhead"):
        _prepare(resolve, operation="fill_gap")
    with pytest.raises(ContextError, match="there is no V3"):
        _prepare(resolve, operation="extend", track="V3")
    timeline.set_playhead(20)
    with pytest.raises(ContextError, match="at least one frame"):
        _prepare(resolve, operation="extend", length=0)
    with pytest.raises(ContextError, match="Placement 'sideways' must be one of auto, above, overwrite"):
        _prepare(resolve, operation="extend", placement="sideways")
    resolve.manager.project.current_timeline = None
    with pytest.raises(ContextError, match="No timeline is open"):
        _prepare(resolve, operation="extend")
    resolve.manager.project.current_timeline = timeline
    assert timeline.snapshot() == before


def test_placement_is_auto_unless_the_editor_chose(setup):
    _, resolve, timeline, _ = setup
    timeline.set_playhead(20)
    for chosen, sent in (("", "auto"), ("default", "auto"), ("auto", "auto"), ("above", "above"),
                         ("overwrite", "overwrite")):
        assert _prepare(resolve, operation="extend", placement=chosen)[1]["placement"] == sent, chosen
    assert not hasattr(sf_context, "DEFAULT_PLACEMENT")


def test_auto_track_takes_the_topmost_clip_under_the_playhead(setup):
    key, resolve, timeline, item = setup
    timeline.AddTrack("video")
    timeline.clip(1, item, 0, 30, 20, name="Top")
    timeline.set_playhead(35)
    _, meta, target = _prepare(resolve, operation="extend", side="head", length=4)
    assert meta["track"] == 1 and target.clip["name"] == "Top"
    _, meta, target = _prepare(resolve, operation="extend", side="head", length=4, track="V1")
    assert meta["track"] == 0 and target.clip["name"] == "A"


# ------------------------------------------------------------------------------- what is not a shot
def test_extend_under_a_title(setup):
    key, resolve, timeline, _ = setup
    timeline.AddTrack("video")
    timeline.AddTrack("video")
    timeline.title(1, 10, 40, name="Lower third")                   # over A's tail and the gap
    timeline.title(2, 0, 30, name="Vignette", kind="adjustment")    # an adjustment clip above all
    timeline.set_playhead(35)
    description, meta, target = _prepare(resolve, operation="extend", side="tail", length=12)
    assert target.clip["name"] == "A" and meta["track"] == 0 and meta["frame"] == 35
    assert description.startswith("Extend tail by 12 frames on 'A' on V1")
    with pytest.raises(ContextError, match="'Lower third' on V2 is a title or generator"):
        _prepare(resolve, operation="extend", track="V2")
    timeline.set_playhead(45)  # the gap on V1 under the title: no shot, and the message says what was skipped
    with pytest.raises(ContextError, match="No clip under the playhead.*'Lower third' on V2 is a title"):
        _prepare(resolve, operation="extend")


def test_extend_at_a_transition(setup):
    key, resolve, timeline, _ = setup
    timeline.transition(0, 52, 8, name="Cross Dissolve")  # at B's head: 48..56
    timeline.clip(0, resolve.project.media_pool.all_clips()[0], 0, 44, 8, name="C")  # A, gap, C, dissolve, B
    timeline.set_playhead(53)  # inside the dissolve, on B
    _, meta, target = _prepare(resolve, operation="extend", side="head", length=6)
    assert target.clip["name"] == "B" and meta["frame"] == 53
    timeline.set_playhead(49)  # inside the dissolve, on C
    _, _, target = _prepare(resolve, operation="extend", track="V1")
    assert target.clip["name"] == "C"


def test_fill_a_gap_with_a_transition_at_one_side(setup):
    key, resolve, timeline, _ = setup
    timeline.transition(0, 40, 6)  # A's tail dissolves to black: 37..43, into the gap
    for playhead in (41, 45, 51):
        timeline.set_playhead(playhead)
        description, meta, target = _prepare(resolve, operation="fill_gap")
        assert target.gap == (40, 52) and meta["track"] == 0 and meta["frame"] == playhead, playhead
        assert "12-frame gap" in description


def test_a_compound_clip_is_refused_clearly(setup):
    key, resolve, timeline, item = setup
    timeline.AddTrack("video")
    timeline.compound(1, 52, 40, name="Compound Clip 1", media=item, source_in=0)  # over B
    timeline.set_playhead(60)
    with pytest.raises(ContextError, match="'Compound Clip 1' on V2 has no media file.*decompose"):
        _prepare(resolve, operation="outpaint", track="V2")
    _, _, target = _prepare(resolve, operation="outpaint")  # auto: the shot under it
    assert target.clip["name"] == "B"
    timeline.DeleteClips(timeline.items(0)[1:], False)  # nothing under the compound
    with pytest.raises(ContextError, match="No clip under the playhead.*'Compound Clip 1' on V2 has no media"):
        _prepare(resolve, operation="outpaint")


def test_disabled_clips_are_not_shots(setup):
    key, resolve, timeline, item = setup
    timeline.AddTrack("video")
    timeline.clip(1, item, 0, 0, 30, name="Muted", enabled=False)
    timeline.set_playhead(10)
    _, _, target = _prepare(resolve, operation="extend")
    assert target.clip["name"] == "A"
    with pytest.raises(ContextError, match="'Muted' on V2 is disabled"):
        _prepare(resolve, operation="extend", track="V2")


# ------------------------------------------------------------------------------- the editor's targeting
def test_generate_on_in_out_marks_and_the_fallback_before_19_1(media_dir):
    media = make_media("25", media_dir)
    for version, source, expect in (((19, 1, 3, 7, ""), "marks", [60, 90]), ((19, 0, 2, 0, ""), "marker", [100, 130])):
        resolve, timeline, _ = new_resolve("25", media, version=version)
        timeline.set_marks(60, 89)  # In at 60, Out on frame 89: 30 frames (invisible to scripts before 19.1)
        timeline.AddMarker(100, "Blue", "broll", "", 30, "")
        timeline.set_playhead(110)
        description, meta, target = _prepare(resolve, operation="generate")
        assert (target.source, meta["range"]) == (source, expect), version
        if source == "marks":
            assert description.endswith("10:00:02:10 to 10:00:03:15 (30 frames, the In/Out marks)")
    # 19.0 with no duration marker: the playhead plus the length
    resolve, timeline, _ = new_resolve("25", media, version=(19, 0, 2, 0, ""))
    timeline.set_playhead(110)
    description, meta, target = _prepare(resolve, operation="generate", length=24)
    assert meta["range"] == [110, 134] and target.source == "length" and "from the playhead" in description
    resolve, timeline, _ = new_resolve("25", media)
    timeline.set_marks(60, None)
    with pytest.raises(ContextError, match="mark Out too"):
        _prepare(resolve, operation="generate")


def test_selection_on_21_0_4_and_the_playhead_on_21_0_3(media_dir):
    media = make_media("25", media_dir)
    for version, chosen in (((21, 0, 4, 0, ""), "B"), ((21, 0, 3, 7, ""), "A")):
        resolve, timeline, _ = new_resolve("25", media, version=version)
        timeline.select(timeline.items(0)[1])  # B selected ...
        timeline.set_playhead(20)              # ... the playhead on A
        description, meta, target = _prepare(resolve, operation="extend", side="tail", length=5)
        assert target.clip["name"] == chosen, version
        assert target.source == ("selection" if chosen == "B" else "playhead")
        assert meta["frame"] == (52 if chosen == "B" else 20)  # a frame inside the chosen clip
        if chosen == "B":
            assert "on 'B' (selected) on V1" in description
    resolve, timeline, item = new_resolve("25", media, version=(21, 1, 0, 3, ""))
    timeline.AddTrack("video")
    title = timeline.title(1, 0, 10)
    timeline.select(title)  # only a title selected: not a shot, the playhead decides
    timeline.set_playhead(60)
    assert _prepare(resolve, operation="extend")[2].clip["name"] == "B"
    clip_a, clip_b = timeline.items(0)
    timeline.select(clip_a, clip_b)
    assert _prepare(resolve, operation="extend")[2].clip["name"] == "B"  # several: the one under the playhead
    timeline.set_playhead(45)
    with pytest.raises(ContextError, match="2 clips are selected \\('A' on V1, 'B' on V1\\)"):
        _prepare(resolve, operation="extend")


def test_retimed_and_reversed_clips_are_exported_with_linear_time_warp(media_dir, tmp_path):
    from otio_tools.request import parse_request_json
    from otio_tools.retime import clip_speed

    media = make_media("25", media_dir)
    resolve, timeline, item = new_resolve("25", media)
    timeline.AddTrack("video")
    timeline.clip(1, item, 100, 100, 20, name="Fast", speed=2)
    timeline.clip(1, item, 150, 130, 20, name="Back", speed=-1)
    facts = read_facts(resolve)
    fast, back = facts["timeline"]["video_tracks"][1]["items"]
    assert fast["source_end"] - fast["source_start"] == 40 and fast["end"] - fast["start"] == 20
    assert back["source_start"] > back["source_end"]
    for name, playhead, speed in (("Fast", 110, 2), ("Back", 135, -1)):
        timeline.set_playhead(playhead)
        _, meta, target = _prepare(resolve, operation="extend", side="tail", length=6)
        assert target.clip["name"] == name and meta["track"] == 1
        path, _ = _export(resolve, meta, tmp_path / name)
        request_timeline, request = parse_request_json(Path(path).read_text())
        clip = next(c for c in request_timeline.video_tracks()[1] if c.name == name)
        assert clip_speed(clip, name) == speed and clip.source_range.duration.value == 20
        assert clip.source_range.start_time.value == item.start_tc_frame + (100 if speed == 2 else 150)


# ------------------------------------------------------------------------------- request file
def test_add_request_metadata_refuses_what_is_not_an_otio_timeline(tmp_path):
    from shotforge_resolve.errors import ShotForgeError

    with pytest.raises(ShotForgeError, match="did not write"):
        sf_context.add_request_metadata(str(tmp_path / "none.otio"), {})
    bad = tmp_path / "bad.otio"
    bad.write_text("{not json")
    with pytest.raises(ShotForgeError, match="not readable JSON"):
        sf_context.add_request_metadata(str(bad), {})
    bad.write_text('{"OTIO_SCHEMA": "Clip.2"}')
    with pytest.raises(ShotForgeError, match="not an OTIO timeline"):
        sf_context.add_request_metadata(str(bad), {})


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
    assert sorted(p.name for p in dest.iterdir()) == ["ShotForge.lua", "ShotForge.py"]  # only the menu entries
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


def test_script_imports_with_the_standard_library_alone(tmp_path):
    """Every module of shotforge_resolve imports in a Python with no site-packages (``-S -I``), so
    an import of anything outside the standard library, even one made at run time, fails here."""
    import subprocess

    names = sorted(p.stem for p in (PLUGIN / "shotforge_resolve").glob("*.py") if p.stem != "__init__")
    code = ("import sys; sys.path.insert(0, {!r}); import importlib\n"
            "for name in {!r}: importlib.import_module('shotforge_resolve.' + name)\n"
            "import ShotForge\n"
            "bad = sorted(m.split('.')[0] for m in sys.modules if m.split('.')[0] not in sys.stdlib_module_names"
            " and m.split('.')[0] not in ('shotforge_resolve', 'ShotForge', '__main__'))\n"
            "assert not bad, bad\n").format(str(PLUGIN), names)
    done = subprocess.run([sys.executable, "-S", "-I", "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr


def test_a_resolve_without_otio_export_is_told_so(media_dir, tmp_path):
    # resolve.EXPORT_OTIO exists from 18.5; on Resolve getattr() never answers None, so it is probed
    resolve, timeline, _ = new_resolve("25", make_media("25", media_dir), version=(18, 1, 4, 0, ""))
    assert "EXPORT_OTIO" not in dir(resolve)
    with pytest.raises(Exception, match="needs DaVinci Resolve 18.5 or later") as caught:  # (the launcher
        workflow.export_timeline(resolve, {}, str(tmp_path))                             # test reloads the classes)
    assert caught.value.code == "no_otio_export" and not list(tmp_path.iterdir())


def test_drop_frame_read_from_the_rate_text_too(media_dir):
    # Some Resolve versions write the rate as "29.97 DF"; the DF setting alone must also do.
    media = make_media("29.97DF", media_dir)
    for rate_text, drop in (("29.97 DF", True), ("29.97", True)):
        resolve, timeline, _ = new_resolve("29.97DF", media, rate_text=rate_text, drop_frame=drop)
        timeline.SetCurrentTimecode("01:00:01;00")  # 30 frames after 01:00:00;00, 32 after the start
        _, meta, target = _prepare(resolve, operation="extend")
        assert target.info.drop_frame and target.info.start_frame == 107890
        assert meta["frame"] == 32
