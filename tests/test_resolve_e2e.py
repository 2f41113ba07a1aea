"""The Resolve plugin end to end: fake Resolve (behaving as real Resolve is measured to: dropped
overlapping appends, transitions and titles as items, DeleteClips on the Edit page only; API
checked against resolve_api.tsv) -> facts -> Timeline.Export -> a real ShotForge server
(``shotforge serve`` on a free loopback port, classical engine) -> placements -> planned steps ->
AppendToTimeline, each read back, checked frame-exactly on timelines at 23.976, 25 and 29.97 DF
that start at non-zero timecodes; then the issue's scenarios (the editor's cut is kept, takes).

The test timeline (see resolve_helpers.new_resolve), in frames from the timeline's first frame:
V1 = clip A (media 10..49) at 0..39, a gap at 40..51, clip B (media 60..99) at 52..91.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import sys
from fractions import Fraction
from pathlib import Path

import av
import pytest

from resolve_helpers import (  # noqa: E402, F401 (api_check: autouse; server: fixture)
    api_check, RATES, REPO, Server, free_port, make_media, new_resolve, server)

from shotforge_resolve import settings as sf_settings  # noqa: E402
from shotforge_resolve import workflow  # noqa: E402
from shotforge_resolve.errors import (JobCanceled, JobFailed, OverwriteNeedsConfirmation, PlacementError,  # noqa: E402
                                      ServerError, ShotForgeError)



@pytest.fixture(scope="module")
def media_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("resolve_e2e_media")


@pytest.fixture(params=list(RATES))
def edit(request, media_dir):
    key = request.param
    media = make_media(key, media_dir)
    resolve, timeline, item = new_resolve(key, media)
    return key, resolve, timeline, item


@pytest.fixture(autouse=True)
def config(tmp_path, monkeypatch):
    monkeypatch.setenv("SHOTFORGE_RESOLVE_HOME", str(tmp_path / "config"))  # the take store goes there


def run(resolve, server, tmp_path, **options):
    values = dict(sf_settings.DEFAULTS, server_url=server.url, engine="classical", seed=3)
    use_sse = options.pop("use_sse", True)
    values.update(options)
    updates = []
    result = workflow.run(resolve, values, workdir=str(tmp_path / "requests"), on_update=updates.append,
                          poll_interval=0.05, use_sse=use_sse)
    result["updates"] = updates
    return result


def layout(timeline, track=0):
    """(start, end, name, media file name, first media frame) of each item on a 0-based track."""
    return timeline.layout(track)


def media_facts(path):
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = stream.frames or sum(1 for _ in container.decode(stream))
        return Fraction(stream.average_rate), stream.width, stream.height, frames


def check_generated(path, timeline, placement, size=None):
    rate, width, height, frames = media_facts(path)
    assert rate == timeline.rate, (path, rate)
    assert frames >= placement["source_in"] + placement["frames"]
    if size:
        assert (width, height) == tuple(size)


def recipe(timeline, track, index=0):
    """The ShotForge marker's recipe on the ``index``-th item of a 0-based track."""
    entry = timeline.entries(track, transitions=False)[index]
    return json.loads(entry.markers[0]["customData"][len("shotforge:"):])


EXT = "ShotForge extend take 1"


# ------------------------------------------------------------------------------- operations
def test_extend_tail_into_the_gap_uses_the_real_handle_frames(edit, server, tmp_path):
    key, resolve, timeline, item = edit
    timeline.set_playhead(39)  # the last frame of A
    result = run(resolve, server, tmp_path, operation="extend", side="tail", length=12, track="V1")
    placements = result["job"]["result"]["placements"]
    assert placements == [{"media": str(item.path), "track": 0, "record_frame": 40, "source_in": 50, "frames": 12}]
    name = Path(item.path).name
    assert layout(timeline) == [(0, 40, "A", name, 10), (40, 52, EXT, name, 50), (52, 92, "B", name, 60)]
    placed, = result["placed"]
    assert (placed["start"], placed["end"]) == (timeline.start_frame + 40, timeline.start_frame + 52)
    assert result["updates"][-1]["state"] == "done" and result["take"] == 1
    assert recipe(timeline, 0, 1) == {"job": result["job"]["id"], "take": 1, "operation": "extend",
                                      "engine": "classical", "model": result["job"]["result"].get("model") or "",
                                      "prompt": "", "seed": 3}
    assert timeline.entries(0)[1].color == "Teal"
    # the original clip came from the media pool; nothing new was imported for it
    assert not [f for f in resolve.project.media_pool.root.subfolders if f.clips]


def test_extend_tail_past_the_handles_places_source_then_generated_frames(edit, server, tmp_path):
    key, resolve, timeline, item = edit
    timeline.set_playhead(70)  # on B
    handles = item.info["frames"] - 100  # B ends at media frame 100
    result = run(resolve, server, tmp_path, operation="extend", side="tail", length=handles + 10)
    source, generated = result["job"]["result"]["placements"]
    assert source == {"media": str(item.path), "track": 0, "record_frame": 92, "source_in": 100, "frames": handles}
    assert generated["track"] == 0 and generated["record_frame"] == 92 + handles and generated["frames"] == 10
    name = Path(item.path).name
    new = Path(generated["media"]).name
    assert layout(timeline) == [(0, 40, "A", name, 10), (52, 92, "B", name, 60), (92, 92 + handles, EXT, name, 100),
                                (92 + handles, 102 + handles, EXT, new, generated["source_in"])]
    check_generated(generated["media"], timeline, generated, (item.info["width"], item.info["height"]))
    bins = {f.GetName(): f for f in resolve.project.media_pool.root.subfolders}
    assert [c.path for c in bins["ShotForge"].clips] == [generated["media"]]


def test_extend_head_uses_the_frames_before_the_clip(edit, server, tmp_path):
    key, resolve, timeline, item = edit
    timeline.set_playhead(60)
    result = run(resolve, server, tmp_path, operation="extend", side="head", length=8)
    assert result["job"]["result"]["placements"] == [
        {"media": str(item.path), "track": 0, "record_frame": 44, "source_in": 52, "frames": 8}]
    name = Path(item.path).name
    assert layout(timeline) == [(0, 40, "A", name, 10), (44, 52, EXT, name, 52), (52, 92, "B", name, 60)]


def test_fill_gap(edit, server, tmp_path):
    key, resolve, timeline, item = edit
    timeline.set_playhead(45)
    result = run(resolve, server, tmp_path, operation="fill_gap", use_sse=False)
    placement, = result["job"]["result"]["placements"]
    assert (placement["track"], placement["record_frame"], placement["frames"]) == (0, 40, 12)
    name = Path(item.path).name
    assert layout(timeline) == [(0, 40, "A", name, 10),
                                (40, 52, "ShotForge fill gap take 1", Path(placement["media"]).name,
                                 placement["source_in"]),
                                (52, 92, "B", name, 60)]
    assert timeline.entries(0)[1].color == "Lime"
    check_generated(placement["media"], timeline, placement, (item.info["width"], item.info["height"]))


def test_a_timeline_at_47_952_fills_a_gap_and_extends(media_dir, server, tmp_path):
    # a rate OTIO's timecode functions refuse: the fake, the plugin and the server count it themselves
    resolve, timeline, item = new_resolve("47.952", make_media("47.952", media_dir))
    timeline.SetCurrentTimecode("00:59:58:45")  # 45 frames after the start: in the gap
    assert timeline.GetCurrentTimecode() == "00:59:58:45" and timeline.playhead - timeline.start_frame == 45
    result = run(resolve, server, tmp_path, operation="fill_gap")
    placement, = result["job"]["result"]["placements"]
    assert (placement["track"], placement["record_frame"], placement["frames"]) == (0, 40, 12)
    assert [row[:3] for row in layout(timeline)] == [(0, 40, "A"), (40, 52, "ShotForge fill gap take 1"),
                                                     (52, 92, "B")]
    check_generated(placement["media"], timeline, placement)
    assert result["placed"][0]["timecode"] == "00:59:58:40"
    timeline.set_playhead(60)
    result = run(resolve, server, tmp_path, operation="extend", side="tail", length=5)
    placement, = result["job"]["result"]["placements"]
    assert layout(timeline)[-1][:3] == (92, 97, "ShotForge extend take 1")
    check_generated(placement["media"], timeline, placement)


def test_outpaint_goes_on_a_new_track_above(edit, server, tmp_path):
    key, resolve, timeline, item = edit
    timeline.set_playhead(10)
    before_v1 = layout(timeline)
    result = run(resolve, server, tmp_path, operation="outpaint", canvas_preset="9:16")
    placement, = result["job"]["result"]["placements"]
    short = min(item.info["width"], item.info["height"])
    expected_canvas = [short, int(2 * round(short * 16 / 9 / 2))]
    assert (placement["record_frame"], placement["frames"]) == (0, 40)
    assert timeline.GetTrackCount("video") == 2
    assert layout(timeline) == before_v1
    assert layout(timeline, 1) == [(0, 40, "ShotForge outpaint take 1", Path(placement["media"]).name,
                                    placement["source_in"])]
    check_generated(placement["media"], timeline, placement, expected_canvas)


def test_generate_fills_the_marked_range(edit, server, tmp_path):
    key, resolve, timeline, item = edit
    timeline.set_marks(100, 129)  # In at 100, Out on 129: 30 frames
    timeline.set_playhead(0)
    result = run(resolve, server, tmp_path, operation="generate", prompt="rain on a window")
    placement, = result["job"]["result"]["placements"]
    assert (placement["record_frame"], placement["frames"]) == (100, 30)
    # V1 is free after the clips: the generated clip goes there
    assert layout(timeline)[-1] == (100, 130, "ShotForge generate take 1", Path(placement["media"]).name,
                                    placement["source_in"])
    assert recipe(timeline, 0, 2)["prompt"] == "rain on a window"
    check_generated(placement["media"], timeline, placement)
    # and from the playhead with a length in seconds, on V1 after the clips
    timeline.set_playhead(200)
    result = run(resolve, server, tmp_path, operation="generate", generate_range="length", length=1,
                 length_unit="seconds", track="V1")
    placement, = result["job"]["result"]["placements"]
    fps = {"23.976": 24, "25": 25, "29.97DF": 30}[key]
    assert (placement["track"], placement["record_frame"], placement["frames"]) == (0, 200, fps)
    assert layout(timeline)[-1][:2] == (200, 200 + fps)


# ------------------------------------------------------------------------------- the editor's cut is kept
def test_extend_a_tail_into_the_adjacent_clip_lands_on_v2(edit, server, tmp_path):
    key, resolve, timeline, item = edit
    timeline.set_playhead(20)
    before_v1 = layout(timeline)
    result = run(resolve, server, tmp_path, operation="extend", side="tail", length=20)
    assert layout(timeline) == before_v1
    # B's head is in the way on V1: the real handle frames of A go on a new V2, over the whole range
    assert layout(timeline, 1) == [(40, 60, EXT, Path(item.path).name, 50)]
    assert [(p["track"], p["start"] - timeline.start_frame, p["duration"]) for p in result["placed"]] == [(2, 40, 20)]


def test_extend_under_a_title_keeps_the_title(edit, server, tmp_path):
    key, resolve, timeline, item = edit
    timeline.tracks.append({"name": "Video 2", "entries": []})
    timeline.title(1, 30, 40)  # a title over the end of A and the gap
    timeline.set_playhead(35)  # on A, under the title
    before = [layout(timeline, 0), layout(timeline, 1)]
    result = run(resolve, server, tmp_path, operation="extend", side="tail", length=12)
    # the gap on V1 is free: the real handle frames go there; the title stays as it is
    assert layout(timeline, 1) == before[1]
    assert layout(timeline)[1][:3] == (40, 52, EXT)
    assert result["placed"][0]["track"] == 1


def test_extend_into_the_next_clip_under_a_title_goes_above_the_title(edit, server, tmp_path):
    key, resolve, timeline, item = edit
    timeline.tracks.append({"name": "Video 2", "entries": []})
    timeline.title(1, 30, 40)  # the title covers 30..70 on V2
    timeline.set_playhead(35)
    before = [layout(timeline, 0), layout(timeline, 1)]
    result = run(resolve, server, tmp_path, operation="extend", side="tail", length=20)  # 40..60: into B
    assert [layout(timeline, 0), layout(timeline, 1)] == before
    assert layout(timeline, 2) == [(40, 60, EXT, Path(item.path).name, 50)]
    assert result["placed"][0]["track"] == 3


def test_extend_at_a_transition_keeps_the_transition(media_dir, server, tmp_path):
    media = make_media("25", media_dir)
    resolve, timeline, item = new_resolve("25", media)
    timeline.tracks[0]["entries"].clear()
    timeline.clip(0, item, 10, 0, 40, name="A")
    timeline.clip(0, item, 60, 40, 40, name="B")
    timeline.transition(0, 40, 8)  # 36..44
    before_v1 = [(e.kind, e.start, e.end, e.name) for e in timeline.entries(0)]
    timeline.set_playhead(20)
    result = run(resolve, server, tmp_path, operation="extend", side="tail", length=12)
    assert [(e.kind, e.start, e.end, e.name) for e in timeline.entries(0)] == before_v1
    assert [row[:3] for row in layout(timeline, 1)] == [(40, 52, EXT)]
    assert result["placed"][0]["track"] == 2


def test_fill_a_gap_with_a_transition_at_one_side(edit, server, tmp_path):
    key, resolve, timeline, item = edit
    timeline.transition(0, 40, 4)  # A dissolves to black over 38..42, into the gap
    before_v1 = [(e.kind, e.start, e.end, e.name) for e in timeline.entries(0)]
    timeline.set_playhead(46)
    result = run(resolve, server, tmp_path, operation="fill_gap")
    assert [(e.kind, e.start, e.end, e.name) for e in timeline.entries(0)] == before_v1
    assert [row[:3] for row in layout(timeline, 1)] == [(40, 52, "ShotForge fill gap take 1")]
    assert result["placed"][0]["track"] == 2


@pytest.mark.parametrize("speed", [Fraction(1, 2), Fraction(-1)], ids=["half-speed", "reversed"])
def test_extend_a_retimed_clip(media_dir, server, tmp_path, speed):
    media = make_media("25", media_dir)
    resolve, timeline, item = new_resolve("25", media)
    timeline.tracks[0]["entries"].clear()
    timeline.clip(0, item, 100, 0, 40, name="R", speed=speed)  # media 100.. played at ``speed``
    before_v1 = layout(timeline)
    timeline.set_playhead(20)
    result = run(resolve, server, tmp_path, operation="extend", side="tail", length=10)
    generated, = result["job"]["result"]["placements"]
    # the server conforms the retimed handles into a new file; it goes after R on V1, R untouched
    assert layout(timeline) == before_v1 + [(40, 50, EXT, Path(generated["media"]).name, generated["source_in"])]
    check_generated(generated["media"], timeline, generated)


def test_overwrite_asks_then_shortens_the_next_clip(edit, server, tmp_path):
    key, resolve, timeline, item = edit
    timeline.set_playhead(20)
    before = timeline.snapshot()
    with pytest.raises(OverwriteNeedsConfirmation) as caught:
        run(resolve, server, tmp_path, operation="extend", side="tail", length=20, placement="overwrite")
    assert "'B' on V1" in caught.value.message and "shortened" in caught.value.message
    assert timeline.snapshot() == before
    result = run(resolve, server, tmp_path, operation="extend", side="tail", length=20, placement="overwrite",
                 confirm_overwrite=caught.value.question)  # yes to exactly what was asked
    name = Path(item.path).name
    assert layout(timeline) == [(0, 40, "A", name, 10), (40, 60, EXT, name, 50), (60, 92, "B", name, 68)]
    assert [clip["name"] for clip in result["removed"]] == ["B"]
    assert any("re-placed from its media" in note for note in result["notes"])


def test_a_read_back_mismatch_is_rolled_back_and_says_where_the_render_is(edit, server, tmp_path):
    key, resolve, timeline, item = edit
    timeline.set_playhead(45)
    before = timeline.snapshot()
    resolve.project.media_pool.misplace_next_append(short=1)
    with pytest.raises(PlacementError) as caught:
        run(resolve, server, tmp_path, operation="fill_gap")
    assert "The timeline is as it was before" in caught.value.message
    assert str(server.output) in caught.value.message  # the render is kept there
    assert timeline.snapshot() == before


# ------------------------------------------------------------------------------- takes
def test_remove_last_result_and_new_take(media_dir, server, tmp_path):
    media = make_media("25", media_dir)
    resolve, timeline, item = new_resolve("25", media)
    before = timeline.snapshot()
    timeline.set_playhead(20)
    first = run(resolve, server, tmp_path, operation="extend", side="tail", length=20, prompt="sky")
    assert timeline.GetTrackCount("video") == 2
    values = dict(sf_settings.DEFAULTS, server_url=server.url, engine="classical")
    second = workflow.new_take(resolve, values, seed=41, prompt="more sky", poll_interval=0.05)
    assert second["take"] == 2 and second["job"]["id"] != first["job"]["id"]
    assert {row[2] for row in layout(timeline, 1)} == {"ShotForge extend take 2"}
    assert [(p["track"], p["start"], p["duration"]) for p in second["placed"]] == [
        (p["track"], p["start"], p["duration"]) for p in first["placed"]]
    assert recipe(timeline, 1)["seed"] == 41 and recipe(timeline, 1)["prompt"] == "more sky"
    removed = workflow.remove_last(resolve, values)
    assert removed["tracks_deleted"] == [2]
    assert timeline.snapshot() == before


# ------------------------------------------------------------------------------- errors
def test_a_request_the_server_refuses_changes_nothing(edit, server, tmp_path):
    key, resolve, timeline, item = edit
    timeline.set_playhead(5)
    before, pool = timeline.snapshot(), resolve.project.media_pool.all_clips()
    with pytest.raises(ServerError) as caught:
        run(resolve, server, tmp_path, operation="extend", side="head", length=16)
    assert "before the timeline's first frame" in caught.value.message
    assert caught.value.code == "before_timeline_start"
    assert timeline.snapshot() == before and resolve.project.media_pool.all_clips() == pool
    assert not resolve.project.media_pool.appends


def test_a_failed_job_shows_the_servers_message_and_changes_nothing(media_dir, server, tmp_path):
    media = make_media("25", media_dir)
    resolve, timeline, _ = new_resolve("25", media)
    timeline.set_playhead(45)
    before = timeline.snapshot()
    # No diffusers models exist here: the server fails the job (or refuses it), with its reason.
    with pytest.raises((JobFailed, ServerError)) as caught:
        run(resolve, server, tmp_path, operation="fill_gap", engine="diffusers")
    assert "diffusers" in caught.value.message
    assert timeline.snapshot() == before and not resolve.project.media_pool.appends
    assert not resolve.project.media_pool.root.subfolders


def test_cancel_stops_the_job_and_changes_nothing(media_dir, server, tmp_path):
    media = make_media("25", media_dir)
    resolve, timeline, _ = new_resolve("25", media)
    timeline.set_playhead(100)
    before = timeline.snapshot()
    seen = []
    values = dict(sf_settings.DEFAULTS, server_url=server.url, engine="classical", operation="generate",
                  generate_range="length", length=3000)
    with pytest.raises(JobCanceled, match="canceled"):
        workflow.run(resolve, values, workdir=str(tmp_path), on_update=seen.append,
                     should_cancel=lambda: any(r["state"] == "running" for r in seen), poll_interval=0.05)
    assert seen[-1]["state"] == "canceled"
    assert timeline.snapshot() == before and not resolve.project.media_pool.appends


def test_progress_is_reported_while_rendering(media_dir, server, tmp_path):
    media = make_media("25", media_dir)
    resolve, timeline, _ = new_resolve("25", media)
    timeline.set_playhead(100)
    result = run(resolve, server, tmp_path, operation="generate", generate_range="length", length=400)
    progress = [r["progress"] for r in result["updates"] if r["state"] == "running"]
    assert progress and any(0 < p < 1 for p in progress), result["updates"]
    assert progress == sorted(progress)
    assert layout(timeline)[-1][:2] == (100, 500)  # V1 is free after the clips


def test_token_protected_server(media_dir, tmp_path):
    media = make_media("25", media_dir)
    srv = Server(tmp_path / "out", token="s3cret").start()
    try:
        resolve, timeline, _ = new_resolve("25", media)
        timeline.set_playhead(45)
        with pytest.raises(ServerError, match="token"):
            run(resolve, srv, tmp_path, operation="fill_gap")
        result = run(resolve, srv, tmp_path, operation="fill_gap", token="s3cret")
        assert result["job"]["state"] == "done" and layout(timeline)[1][:2] == (40, 52)
    finally:
        srv.stop()


@pytest.mark.skipif(sys.platform.startswith("win"), reason="uses a shell wrapper")
def test_starts_the_server_when_the_shotforge_path_is_set(media_dir, tmp_path, monkeypatch):
    media = make_media("25", media_dir)
    resolve, timeline, _ = new_resolve("25", media)
    timeline.set_playhead(45)
    monkeypatch.setenv("SHOTFORGE_RESOLVE_HOME", str(tmp_path / "config"))  # server.log goes there
    pid_file, out = tmp_path / "server.pid", tmp_path / "out"
    (tmp_path / "no-config.toml").write_text("")
    wrapper = tmp_path / "shotforge"
    wrapper.write_text(
        "#!/bin/sh\n"
        f"echo $$ > '{pid_file}'\n"
        f"export PYTHONPATH='{REPO}' SHOTFORGE_CONFIG='{tmp_path / 'no-config.toml'}'\n"
        f"exec '{sys.executable}' -c 'import sys; from server.cli import main; sys.exit(main())' "
        f"\"$@\" --output '{out}'\n")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    url = f"http://127.0.0.1:{free_port()}"
    try:
        values = dict(sf_settings.DEFAULTS, server_url=url, engine="classical", operation="fill_gap",
                      shotforge_path=str(wrapper))
        result = workflow.run(resolve, values, workdir=str(tmp_path / "req"))
        assert result["job"]["state"] == "done" and layout(timeline)[1][:2] == (40, 52)
        assert (tmp_path / "config" / "server.log").is_file()
    finally:
        if pid_file.exists():  # the server we started: stop it and reap it
            pid = int(pid_file.read_text())
            try:
                os.kill(pid, signal.SIGTERM)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass


def test_server_going_away_mid_job_is_reported_and_changes_nothing(media_dir, tmp_path):
    media = make_media("25", media_dir)
    srv = Server(tmp_path / "out").start()
    resolve, timeline, _ = new_resolve("25", media)
    timeline.set_playhead(100)
    before = timeline.snapshot()
    seen = []

    def kill_once_running():
        if any(r["state"] == "running" for r in seen) and srv.proc.poll() is None:
            srv.proc.kill()
            srv.proc.wait(10)
        return False

    values = dict(sf_settings.DEFAULTS, server_url=srv.url, engine="classical", operation="generate",
                  generate_range="length", length=3000)
    try:
        with pytest.raises(ShotForgeError) as caught:
            workflow.run(resolve, values, workdir=str(tmp_path / "req"), on_update=seen.append,
                         should_cancel=kill_once_running, poll_interval=0.05)
        assert "not running" in caught.value.message and "shotforge serve" in caught.value.message
    finally:
        srv.stop()
    assert timeline.snapshot() == before and not resolve.project.media_pool.appends
