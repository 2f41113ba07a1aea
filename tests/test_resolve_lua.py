"""The Resolve Lua entry (plugins/resolve/ShotForge.lua) in real Lua 5.1 (lupa), against the
measured fake Resolve (tests/fake_resolve.py, through tests/lua_resolve.py) and a real
``shotforge serve`` on loopback; the bridge runs as a real subprocess through ``io.popen``
(``python -m server.cli resolve-bridge ...``).

The test timeline (resolve_helpers.new_resolve), in frames from the timeline's first frame:
V1 = clip A (media 10..49) at 0..39, a gap at 40..51, clip B (media 60..99) at 52..91.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from resolve_helpers import (  # noqa: F401 (api_check: autouse; server: fixture)
    REPO, api_check, make_media, new_resolve, server)

import fake_resolve  # noqa: E402
from lua_resolve import LuaResolve  # noqa: E402
from shotforge_resolve.bridge import lua_literal  # noqa: E402
from shotforge_resolve.facts import read_facts  # noqa: E402

TRICKY = ['say "cut"', "back\\slash\\", "line\nbreak\r\n\ttab", "caf\u00e9 \u30c6\u30b9\u30c8 \U0001f3ac",
          "C:\\Users\\\u00c9ditor\\Media\\A003 C012.mov", "\\\\server\\share\\dir\\", "nul\x00byte", "\x01\x1f\x7f",
          "digit after escape: \n1 \n12", "]] [[ --", "it's", "%d %s %%", ""]


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """The bridge's config folder (settings, takes, work files) in this test's tmp folder."""
    monkeypatch.setenv("SHOTFORGE_RESOLVE_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    monkeypatch.chdir(REPO)


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("resolve_lua_media")


@pytest.fixture
def lua():
    return LuaResolve()


def options(server, **values):
    base = {"server_url": server.url, "engine": "classical", "seed": 3}
    base.update(values)
    return base


def sf_run(lua, resolve, **opts):
    updates = []
    answer = lua.call("run", resolve, opts, lambda record: updates.append(lua.to_py(record)))
    assert isinstance(answer, dict), answer
    answer["updates"] = updates
    return answer


# ----------------------------------------------------------------------------- values across
def test_lua_literal_and_lua_json_round_trip_tricky_values(lua):
    value = {"strings": TRICKY, "keys": {s: i for i, s in enumerate(TRICKY)}, "ints": [0, -1, 86400, 2 ** 32 - 1,
             2 ** 53], "floats": [0.5, -1.25, 1e-7, 23.976], "bools": [True, False], "nested": [[1, [2, {"a": []}]]]}
    table = lua.module[b"load_answer"](("return " + lua_literal(value)).encode("ascii"))
    back = json.loads(lua.module[b"json_encode"](table).decode("utf-8"))
    value["nested"][0][1][1]["a"] = {}  # an empty Lua table has no kind: JSON writes it as an object
    assert back == value


def test_lua_literal_writes_escapes_lua_reads_exactly(lua):
    assert lua_literal('a"b\\c\n1') == '"a\\"b\\\\c\\0101"'
    assert lua_literal("\u00e9") == '"\\195\\169"'
    assert lua_literal({"k": None, "n": [1, None]}) == '{["n"] = {1, nil}}'
    for text in TRICKY:
        got = lua.module[b"load_answer"](("return {" + lua_literal(text) + "}").encode("ascii"))[1]
        assert got == text.encode("utf-8"), text
    with pytest.raises(ValueError):
        lua_literal(2 ** 60)
    with pytest.raises(ValueError):
        lua_literal({"x": object()})


def test_answers_load_in_an_empty_environment(lua):
    load = lua.module[b"load_answer"]
    assert load(b"return {ok = true}")[b"ok"] is True
    answer, error = load(b"os.exit(1)")
    assert answer is None and b"os" in error  # no globals: an answer cannot run anything
    assert load(b"") == (None, b"no answer table")


def test_lua_json_encoder(lua):
    encode = lua.module[b"json_encode"]
    table = lua.eval('(function() local sf = ShotForge; return {empty_list = sf.as_array(), empty_object = '
                     'sf.as_object(), null = sf.null, list = {1, 2.5, "x"}, [240] = "frame key", big = 2^40, '
                     'nested = {a = {true, false}}} end)()')
    assert json.loads(encode(table)) == {"empty_list": [], "empty_object": {}, "null": None, "list": [1, 2.5, "x"],
                                         "240": "frame key", "big": 2 ** 40, "nested": {"a": [True, False]}}
    for text in TRICKY:
        assert json.loads(encode(text.encode("utf-8"))) == text
    for bad in ("1/0", "0/0", "{[{}] = 1}", "function() end"):
        with pytest.raises(Exception):
            encode(lua.eval(bad))


def _windows_argv(line):
    """Split a command line as MSVCRT's argv parser does (CommandLineToArgvW rules)."""
    args, current, quoted, i, has = [], "", False, 0, False
    while i < len(line):
        c = line[i]
        if c == "\\":
            n = 0
            while i + n < len(line) and line[i + n] == "\\":
                n += 1
            if i + n < len(line) and line[i + n] == '"':
                current += "\\" * (n // 2)
                if n % 2:
                    current += '"'
                    i += n + 1
                else:
                    i += n
                has = True
                continue
            current += "\\" * n
            i += n
            has = True
            continue
        if c == '"':
            quoted = not quoted
            has = True
        elif c in " \t" and not quoted:
            if has:
                args.append(current)
            current, has = "", False
        else:
            current += c
            has = True
        i += 1
    if has:
        args.append(current)
    return args


def test_command_lines_quote_every_argument(lua, tmp_path):
    words = [t for t in TRICKY if "\n" not in t and "\r" not in t and "\x00" not in t] + ["$(touch x)", "`id`", "a b"]
    table = lua.to_lua(words)
    posix = lua.module[b"command_line"](table, False).decode("utf-8")
    printed = subprocess.run("printf '%s\\0' " + posix, shell=True, capture_output=True, cwd=tmp_path).stdout
    assert printed.decode("utf-8").split("\0")[:-1] == words
    assert not (tmp_path / "x").exists()
    no_percent = [w for w in words if "%" not in w]
    windows = lua.module[b"command_line"](lua.to_lua(no_percent), True).decode("utf-8")
    assert _windows_argv(windows) == no_percent
    for refused in (["a\nb"], ["50%"]):
        with pytest.raises(Exception):
            lua.module[b"command_line"](lua.to_lua(refused), True)


def test_a_name_resolve_api_tsv_does_not_have_is_a_violation_from_lua(lua, media_dir):
    resolve, _, _ = new_resolve("25", make_media("25", media_dir))
    call = lua.lua.execute(b"return function(r) return pcall(function() return r:GetProjectManagr() end) end")
    assert call(lua.to_lua(resolve))[0] is False  # no such call: Lua cannot call it
    assert fake_resolve.VIOLATIONS == ["Resolve.GetProjectManagr is not in resolve_api.tsv"]
    fake_resolve.VIOLATIONS.clear()


@pytest.mark.parametrize("absent", ["callable", "nil"])
def test_lua_facts_are_the_python_facts(media_dir, absent):
    """Whatever a name the build lacks reads as in Resolve's Lua, the calls are probed alike."""
    lua = LuaResolve(absent=absent)
    media = make_media("29.97DF", media_dir)
    for version in ((21, 1, 0, 3, ""), (19, 0, 3, 7, "")):
        resolve, timeline, item = new_resolve("29.97DF", media, version=version)
        timeline.title(0, 95, 10)  # a title: an item with no media
        timeline.set_marks(5, 20)
        timeline.set_playhead(12)
        timeline.select(timeline.items(0)[1])
        timeline.AddMarker(30, "Blue", "B-roll \u00e9", 'a "note"', 10, "")
        got = json.loads(lua.module[b"json_encode"](lua.module[b"read_facts"](lua.to_lua(resolve))).decode("utf-8"))
        assert got == read_facts(resolve)
        if version[0] == 19:
            assert got["timeline"]["marks"] is None and got["timeline"]["selected"] is None
        else:
            assert got["timeline"]["marks"]["video"] == {"in": 5, "out": 20}
            assert got["timeline"]["selected"] == [timeline.items(0)[1].GetUniqueId()]


def test_bridge_errors_are_answers_not_tracebacks(tmp_path):
    facts = tmp_path / "facts.json"
    facts.write_text(json.dumps({"product": "DaVinci Resolve", "version": [21, 1], "page": "edit",
                                 "project": "P", "timeline": None}))
    run = lambda *words: subprocess.run([sys.executable, "-m", "server.cli", "resolve-bridge", *words],  # noqa: E731
                                        capture_output=True, text=True, cwd=REPO)
    for words, code in ((["prepare", "--facts", str(facts), "--meta-out", str(tmp_path / "m.json")], "context"),
                        (["prepare", "--facts", str(tmp_path / "missing.json"), "--meta-out", "m"], "bad_input"),
                        (["status"], "usage"), (["bogus"], "usage"),
                        (["remove-last", "--facts", str(facts)], "context")):
        out = run(*words).stdout
        assert out.startswith("return {") and "Traceback" not in out, out
        assert f'["code"] = "{code}"' in out, out


# ----------------------------------------------------------------------------- end to end
@pytest.mark.parametrize("key", ["23.976", "29.97DF"])
def test_extend_tail_lands_exactly(lua, server, media_dir, key):
    resolve, timeline, item = new_resolve(key, make_media(key, media_dir), version=(21, 1, 0, 3, ""),
                                          product="DaVinci Resolve")
    timeline.set_playhead(39)  # the last frame of A
    answer = sf_run(lua, resolve, **options(server, operation="extend", side="tail", length=12, track="V1"))
    assert answer["ok"], answer
    name = item.GetName()
    assert timeline.layout(0) == [(0, 40, "A", name, 10), (40, 52, "ShotForge extend take 1", name, 50),
                                  (52, 92, "B", name, 60)]
    placed, = answer["result"]["placed"]
    assert (placed["track"], placed["start"], placed["duration"], placed["left_offset"]) == (
        1, timeline.start_frame + 40, 12, 50)
    assert answer["updates"][-1]["state"] == "done" and answer["take"] == 1
    labelled = timeline.items(0)[1]
    assert labelled.GetClipColor() == "Teal"
    marker, = labelled.GetMarkers().values()
    assert marker["customData"].startswith("shotforge:") and answer["job"] in marker["customData"]


def test_fill_gap_and_new_take_and_remove_last(lua, server, media_dir):
    resolve, timeline, item = new_resolve("25", make_media("25", media_dir))
    before = timeline.snapshot()
    timeline.set_playhead(45)
    first = sf_run(lua, resolve, **options(server, operation="fill_gap"))
    assert first["ok"], first
    (start, end, name, _media, _source), = [row for row in timeline.layout(0) if row[0] == 40]
    assert (start, end, name) == (40, 52, "ShotForge fill gap take 1")
    render = first["result"]["placed"][0]["media"]

    second = sf_run(lua, resolve, **options(server, operation="fill_gap", new_take=True, seed=11))
    assert second["ok"], second
    assert second["take"] == 2 and second["job"] != first["job"]
    assert [row[:3] for row in timeline.layout(0)] == [(0, 40, "A"), (40, 52, "ShotForge fill gap take 2"),
                                                       (52, 92, "B")]
    new = timeline.items(0)[1]
    assert new.GetMediaPoolItem().GetClipProperty("File Path") == second["result"]["placed"][0]["media"] != render
    assert '"seed":11' in next(iter(new.GetMarkers().values()))["customData"]

    resolve.OpenPage("fairlight")  # DeleteClips is refused there: the executor goes to Edit and back
    session = lua.call_raw("session", lua.to_lua(resolve))
    removed = lua.to_py(lua.module[b"remove_last"](session))
    assert removed["ok"], removed
    assert timeline.snapshot() == before and resolve.GetCurrentPage() == "fairlight"
    again = lua.to_py(lua.module[b"remove_last"](session))
    assert not again["ok"] and again["error"]["code"] == "context"


def test_generate_on_the_in_out_marks_goes_on_a_new_track(lua, server, media_dir):
    resolve, timeline, _ = new_resolve("25", make_media("25", media_dir), version=(21, 1, 0, 3, ""),
                                       product="DaVinci Resolve")
    timeline.set_marks(10, 33)  # In at 10, Out on 33: 24 frames over clip A
    timeline.set_playhead(70)
    answer = sf_run(lua, resolve, **options(server, operation="generate", prompt="rain on a window"))
    assert answer["ok"], answer
    assert timeline.GetTrackCount("video") == 2 and answer["result"]["tracks_added"] == [2]
    (start, end, name, _media, _source), = timeline.layout(1)
    assert (start, end, name) == (10, 34, "ShotForge generate take 1")


@pytest.mark.parametrize("absent", ["callable", "nil"])
def test_a_build_without_otio_export_is_told_so(server, media_dir, absent):
    lua = LuaResolve(absent=absent)
    resolve, timeline, _ = new_resolve("25", make_media("25", media_dir), version=(18, 1, 4, 9, ""))
    timeline.set_playhead(45)
    before = timeline.snapshot()
    answer = sf_run(lua, resolve, **options(server, operation="fill_gap"))
    assert not answer["ok"] and answer["error"]["code"] == "export_failed", answer
    assert "ShotForge needs Resolve 18.5 or later" in answer["error"]["message"]
    assert timeline.snapshot() == before


def test_a_read_back_mismatch_is_rolled_back(lua, server, media_dir):
    resolve, timeline, _ = new_resolve("25", make_media("25", media_dir), version=(21, 1, 0, 3, ""),
                                       product="DaVinci Resolve")
    timeline.set_marks(10, 33)
    before, pool = timeline.snapshot(), len(resolve.project.media_pool.all_clips())
    resolve.project.media_pool.misplace_next_append(short=1)  # lands one frame short
    answer = sf_run(lua, resolve, **options(server, operation="generate"))
    assert not answer["ok"] and answer["error"]["code"] == "placement"
    message = answer["error"]["message"]
    assert "23 frames" in message and "The timeline is as it was before" in message and "kept at" in message
    assert timeline.snapshot() == before and timeline.GetTrackCount("video") == 1
    assert len(resolve.project.media_pool.all_clips()) == pool + 1  # only the render joined the ShotForge bin
    assert resolve.GetCurrentPage() == "edit"


def test_cancel_stops_the_job_and_changes_nothing(lua, server, media_dir):
    resolve, timeline, _ = new_resolve("25", make_media("25", media_dir))
    timeline.set_playhead(100)
    before = timeline.snapshot()
    session = lua.call_raw("session", lua.to_lua(resolve))
    run = lua.module[b"start"](session, lua.to_lua(options(server, operation="generate", generate_range="length",
                                                           length=3000)))
    assert run[b"ok"], lua.to_py(run)
    states = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        record = lua.to_py(lua.module[b"status"](session, run, 0.2))
        states.append(record["state"])
        if record["state"] == "running":
            assert lua.to_py(lua.module[b"cancel"](session, run))["ok"]
        if record["state"] in ("canceled", "done", "failed"):
            break
    assert states[-1] == "canceled", states
    assert timeline.snapshot() == before and not resolve.project.media_pool.appends


def test_the_dialog_follows_the_job_without_waiting(lua, server, media_dir, tmp_path):
    resolve, timeline, item = new_resolve("25", make_media("25", media_dir))
    timeline.set_playhead(100)
    fusion, bmd = lua.fake_ui()
    saved = tmp_path / "config" / "resolve.json"
    saved.parent.mkdir(parents=True)
    saved.write_text(json.dumps({"operation": "generate", "generate_range": "length", "length": 200,
                                 "server_url": server.url, "engine": "classical"}))
    dialog = lua.module[b"dialog"](lua.to_lua(resolve), fusion, bmd)
    items = dialog[b"items"]
    assert items[b"Operation"][b"CurrentIndex"] == 4 and items[b"Length"][b"Value"] == 200
    assert items[b"ServerUrl"][b"Text"] == server.url.encode()
    dialog[b"win"][b"On"][b"Run"][b"Clicked"]()
    assert items[b"Cancel"][b"Enabled"] is True and items[b"Run"][b"Enabled"] is False
    timer = fusion[b"UIManager"][b"timers"][1]
    assert timer[b"running"] is True
    shown, slowest = [], 0.0
    deadline = time.monotonic() + 60
    while timer[b"running"] and time.monotonic() < deadline:
        time.sleep(0.1)
        began = time.monotonic()
        dialog[b"win"][b"On"][b"ShotForgeTimer"][b"Timeout"]()
        if timer[b"running"]:
            slowest = max(slowest, time.monotonic() - began)
        shown.append(items[b"Status"][b"Text"].decode())
    assert not timer[b"running"], shown
    assert slowest < 0.2, slowest  # a tick reads the watcher's file: no process started, no waiting
    progress = [int(text.split("running ")[1].split("%")[0]) for text in shown if "running " in text]
    assert progress and progress == sorted(progress) and any(0 < p < 100 for p in progress), shown
    assert "placed as take 1" in shown[-1], shown
    assert [row[:3] for row in timeline.layout(0)] == [(0, 40, "A"), (52, 92, "B"),
                                                       (100, 300, "ShotForge generate take 1")]
    assert items[b"Run"][b"Enabled"] is True and items[b"Cancel"][b"Enabled"] is False
    assert json.loads(saved.read_text())["operation"] == "generate"
    assert fake_resolve.VIOLATIONS == []


def test_the_dialogs_cancel_button_stops_the_job(lua, server, media_dir, tmp_path):
    resolve, timeline, _ = new_resolve("25", make_media("25", media_dir))
    timeline.set_playhead(100)
    before = timeline.snapshot()
    saved = tmp_path / "config" / "resolve.json"
    saved.parent.mkdir(parents=True)
    saved.write_text(json.dumps({"operation": "generate", "generate_range": "length", "length": 3000,
                                 "server_url": server.url, "engine": "classical"}))
    fusion, bmd = lua.fake_ui()
    dialog = lua.module[b"dialog"](lua.to_lua(resolve), fusion, bmd)
    on, items = dialog[b"win"][b"On"], dialog[b"items"]
    on[b"Run"][b"Clicked"]()
    timer = fusion[b"UIManager"][b"timers"][1]
    shown, deadline = [], time.monotonic() + 60
    while timer[b"running"] and time.monotonic() < deadline:
        time.sleep(0.1)
        on[b"ShotForgeTimer"][b"Timeout"]()
        shown.append(items[b"Status"][b"Text"].decode())
        if "running" in shown[-1] and items[b"Cancel"][b"Enabled"]:
            on[b"Cancel"][b"Clicked"]()
    assert not timer[b"running"] and "canceled" in shown[-1], shown
    assert timeline.snapshot() == before and not resolve.project.media_pool.appends
    assert items[b"Run"][b"Enabled"] is True and items[b"Cancel"][b"Enabled"] is False


def test_an_overwrite_waits_for_the_editors_yes(lua, server, media_dir, tmp_path):
    resolve, timeline, item = new_resolve("25", make_media("25", media_dir))
    timeline.set_playhead(39)
    saved = tmp_path / "config" / "resolve.json"
    saved.parent.mkdir(parents=True)
    saved.write_text(json.dumps({"operation": "extend", "side": "tail", "length": 20, "track": "V1",
                                 "placement": "overwrite", "server_url": server.url, "engine": "classical"}))
    fusion, bmd = lua.fake_ui()
    dialog = lua.module[b"dialog"](lua.to_lua(resolve), fusion, bmd)
    on, items = dialog[b"win"][b"On"], dialog[b"items"]
    on[b"Run"][b"Clicked"]()
    timer = fusion[b"UIManager"][b"timers"][1]
    deadline = time.monotonic() + 60
    while timer[b"running"] and time.monotonic() < deadline:
        time.sleep(0.1)
        on[b"ShotForgeTimer"][b"Timeout"]()
    asked = items[b"Status"][b"Text"].decode()
    assert "'B' on V1" in asked and "shortened" in asked and "tick the box" in asked, asked
    assert [row[:3] for row in timeline.layout(0)] == [(0, 40, "A"), (52, 92, "B")]  # nothing yet
    jobs = len(list((tmp_path / "config" / "lua" / "jobs").iterdir()))
    timeline.clip(0, item, 200, 44, 4, name="C")  # after the question, the editor puts C in the range
    items[b"ConfirmOverwrite"][b"Checked"] = True
    on[b"Run"][b"Clicked"]()
    asked = items[b"Status"][b"Text"].decode()
    assert "'C' on V1" in asked and "removed" in asked and "changed" in asked, asked  # the yes was not to C
    assert [row[:3] for row in timeline.layout(0)] == [(0, 40, "A"), (44, 48, "C"), (52, 92, "B")]
    on[b"Run"][b"Clicked"]()  # yes to this question
    assert "placed as take 1" in items[b"Status"][b"Text"].decode(), items[b"Status"][b"Text"]
    assert len(list((tmp_path / "config" / "lua" / "jobs").iterdir())) == jobs  # the same render, no new job
    assert [row[:3] for row in timeline.layout(0)] == [(0, 40, "A"), (40, 60, "ShotForge extend take 1"),
                                                       (60, 92, "B")]
    assert timeline.layout(0)[2][4] == 68  # what is left of B still shows its own media frames


def test_bridge_status_and_cancel_of_a_job_by_its_server_flags(server, tmp_path):
    run = lambda *words: subprocess.run([sys.executable, "-m", "server.cli", "resolve-bridge", *words],  # noqa: E731
                                        capture_output=True, text=True, cwd=REPO).stdout
    out = run("status", "no-such-job", "--server", server.url)
    assert out.startswith("return {") and '["ok"] = false' in out and "no-such-job" in out, out
    out = run("status", "x", "--server", "http://127.0.0.1:9")  # nothing listens on the discard port
    assert '["code"] = "server_down"' in out and "shotforge serve" in out, out


def test_extend_the_selected_clip_past_its_handles(lua, server, media_dir):
    resolve, timeline, item = new_resolve("25", make_media("25", media_dir), version=(21, 0, 4, 0, ""))
    timeline.set_playhead(10)  # on A, but B is the editor's selection (21.0.4+)
    timeline.select(timeline.items(0)[1])
    handles = item.info["frames"] - 100  # B ends at media frame 100
    answer = sf_run(lua, resolve, **options(server, operation="extend", side="tail", length=handles + 10))
    assert answer["ok"], answer
    source, generated = answer["result"]["placed"]
    assert (source["start"], source["duration"], source["left_offset"], source["media"]) == (
        timeline.start_frame + 92, handles, 100, item.path)
    assert (generated["start"], generated["duration"]) == (timeline.start_frame + 92 + handles, 10)
    rows = timeline.layout(0)
    assert [row[:3] for row in rows] == [(0, 40, "A"), (52, 92, "B"), (92, 92 + handles, "ShotForge extend take 1"),
                                         (92 + handles, 102 + handles, "ShotForge extend take 1")]
    assert rows[2][3:] == (item.GetName(), 100)
    for labelled in timeline.items(0)[2:]:
        marker, = labelled.GetMarkers().values()
        assert answer["job"] in marker["customData"]


# ----------------------------------------------------------------------------- the executors agree
def _scenario(name, resolve, timeline, item, render):
    """Steps (planned in Python) that fail in one of the ways the executors must undo alike."""
    from shotforge_resolve import place
    from shotforge_resolve.errors import OverwriteNeedsConfirmation

    take = {"job": "job-1", "take": 1, "operation": "extend", "engine": "classical", "model": "", "prompt": "",
            "seed": 1}

    def plan(placements, **options):
        return place.plan_steps(read_facts(resolve), placements, dict({"placement": "auto"}, **options), take)

    def result(record, frames, track=0):
        return [{"media": render, "track": track, "record_frame": record, "source_in": 0, "frames": frames}]

    if name in ("put back", "one restore dropped", "restore landed but raised", "restore landed but raised twice",
                "restore landed but raised and stuck"):
        pieces = result(30, 30) if name == "put back" else result(0, 92)
        try:
            plan(pieces, placement="overwrite")
        except OverwriteNeedsConfirmation as asked:
            steps = plan(pieces, placement="overwrite", confirm_overwrite=asked.question)
        if name == "put back":
            resolve.project.media_pool.misplace_next_append(short=1)
        elif name == "one restore dropped":  # the result lands short; then putting A back is dropped
            resolve.project.media_pool.script_appends("short", "dropped")
        else:  # then putting A back lands but raises, once or twice
            resolve.project.media_pool.script_appends("short", *["raise"] * (2 if name.endswith("twice") else 1))
        if name.endswith("stuck"):  # and Resolve will not remove what that append placed
            delete = timeline.DeleteClips
            timeline.DeleteClips = lambda items, ripple=False: (
                False if any(timeline.item(e) in items for e in timeline.failed_appends) else delete(items, ripple))
        return steps
    if name == "transition taken along":
        timeline.clip(0, item, 120, 92, 10, name="C")
        timeline.transition(0, 92, 4)
        facts = place.Facts(read_facts(resolve))
        return [place.check_step(facts), place.delete_step(facts, [facts.find(timeline.entries(0)[1].uid)], "remove B")]
    if name in ("landed but empty", "landed but raised"):
        resolve.project.media_pool.fail_next_append("empty" if name == "landed but empty" else "raise")
        return plan(result(40, 12))
    if name.startswith("answered with a clip already"):
        timeline.tracks.append({"name": "Video 2", "entries": []})
        timeline.clip(1, item, 0, 0, 20, name="on V2")
        other = 1 if name.endswith("on another track") else 0
        resolve.project.media_pool.AppendToTimeline = lambda infos: [timeline.items(other)[0]]
        return plan(result(40, 12))
    if name == "track added meanwhile":
        steps = plan(result(40, 20))  # into B: adds V2
        timeline.AddTrack("video")
        return steps
    raise AssertionError(name)


@pytest.mark.parametrize("name", ["put back", "one restore dropped", "restore landed but raised",
                                  "restore landed but raised twice", "restore landed but raised and stuck", "transition taken along", "landed but empty",
                                  "landed but raised", "answered with a clip already there",
                                  "answered with a clip already on another track", "track added meanwhile"])
def test_the_lua_executor_fails_and_undoes_as_the_python_one(lua, media_dir, tmp_path, name):
    import re
    import shutil

    from shotforge_resolve.errors import PlacementError
    from shotforge_resolve.executor import execute

    media = make_media("25", media_dir)
    render = tmp_path / "render_0001.mp4"
    shutil.copyfile(media, render)
    outcomes = []
    for side in ("python", "lua"):
        resolve, timeline, item = new_resolve("25", media)
        steps = _scenario(name, resolve, timeline, item, str(render))
        if side == "python":
            with pytest.raises(PlacementError) as caught:
                execute(resolve, steps)
            message, restored = caught.value.message, caught.value.restored
        else:
            answer = lua.call("execute_steps", resolve, steps)
            assert answer["ok"] is False and answer["error"]["code"] == "placement", answer
            message, restored = answer["error"]["message"], answer["error"].get("restored") or {}
        message = re.sub(r"AppendToTimeline failed \(.*?\)\. ", "AppendToTimeline failed (...). ", message)
        after = timeline.snapshot()
        resolve.GetProjectManager().SaveProject()  # drops what a failed append placed
        outcomes.append((message, len(restored), after, timeline.snapshot()))
    assert outcomes[0] == outcomes[1]


@pytest.mark.parametrize("absent", ["callable", "nil"])
def test_the_lua_executor_notes_a_build_without_set_name(media_dir, tmp_path, absent):
    import shutil

    from shotforge_resolve import place

    media = make_media("25", media_dir)
    render = tmp_path / "render_0001.mp4"
    shutil.copyfile(media, render)
    lua = LuaResolve(absent=absent)
    resolve, timeline, _ = new_resolve("25", media, lacks=("TimelineItem.SetName",))
    steps = place.plan_steps(read_facts(resolve), [{"media": str(render), "track": 0, "record_frame": 40,
                                                   "source_in": 0, "frames": 12}], {},
                             {"job": "job-1", "take": 1, "operation": "fill_gap", "engine": "classical"})
    answer = lua.call("execute_steps", resolve, steps)
    assert answer["ok"], answer
    assert answer["result"]["notes"] == ["Resolve cannot set (this build has no TimelineItem.SetName) the clip name "
                                         "'ShotForge fill gap take 1': its ShotForge marker names the take."]
    assert timeline.layout(0)[1][:3] == (40, 52, "render_0001.mp4")


def test_an_edit_made_while_the_job_runs_stops_the_placement(lua, server, media_dir):
    resolve, timeline, _ = new_resolve("25", make_media("25", media_dir))
    timeline.set_playhead(45)  # in the gap between A and B
    session = lua.call_raw("session", lua.to_lua(resolve))
    run = lua.module[b"start"](session, lua.to_lua(options(server, operation="fill_gap")))
    assert run[b"ok"], lua.to_py(run)
    deadline = time.monotonic() + 60
    while lua.to_py(lua.module[b"status"](session, run, 0.2))["state"] != "done" and time.monotonic() < deadline:
        pass
    timeline.entries(0)[0].frames -= 2  # the editor trims A's tail meanwhile: the gap is not the one rendered
    before = timeline.snapshot()
    answer = lua.to_py(lua.module[b"finish"](session, run))
    assert not answer["ok"] and answer["error"]["code"] == "placement", answer
    message = answer["error"]["message"]
    assert "The timeline changed while the job ran ('A' was moved, trimmed or slipped" in message, message
    assert "nothing was placed" in message and str(server.output) in message
    assert timeline.snapshot() == before and not resolve.project.media_pool.appends


def test_a_failing_new_take_keeps_the_take_removable(lua, server, media_dir, tmp_path):
    resolve, timeline, _ = new_resolve("25", make_media("25", media_dir))
    before = timeline.snapshot()
    timeline.set_playhead(45)
    first = sf_run(lua, resolve, **options(server, operation="fill_gap"))
    assert first["ok"], first
    with_take = timeline.snapshot()
    resolve.project.media_pool.misplace_next_append(short=1)  # the new take lands short: rolled back
    second = sf_run(lua, resolve, **options(server, operation="fill_gap", new_take=True, seed=11))
    assert not second["ok"] and "was put back from its media" in second["error"]["message"], second
    assert timeline.snapshot() == with_take
    store = json.loads((tmp_path / "config" / "takes.json").read_text())
    (record,) = store["timelines"][timeline.uid]
    assert [piece["id"] for piece in record["placed"]] == [timeline.entries(0)[1].uid]  # followed the new id
    session = lua.call_raw("session", lua.to_lua(resolve))
    removed = lua.to_py(lua.module[b"remove_last"](session))
    assert removed["ok"], removed
    assert timeline.snapshot() == before
