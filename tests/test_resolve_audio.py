"""Room tone on Resolve's audio tracks: a placement with ``audio_track`` puts the new media's sound
(mediaType 2, audio only) on that audio track at the same record frames as its picture, read back;
an audio track that is taken moves the sound up (a new audio track when none is free); any
mismatch undoes the picture and the sound and the tracks added, leaving the timeline exactly as
before; Remove last result and New take include the sound. The Python and Lua executors agree;
end to end against a real ``shotforge serve`` filling a gap between clips that have sound.

The fake's audio tracks are modelled as documented in tests/fake_resolve_timeline.py (what is
assumed is said there). The test timeline (resolve_helpers.new_resolve, 25 fps from 10:00:00:00,
absolute frame 900000): V1 = clip A (media 10..49) at 0..39, a gap at 40..51, clip B (media 60..99)
at 52..91; A1, with A's and B's sound under them where a test puts it there.
"""

from __future__ import annotations

import json
import shutil

import av
import numpy as np
import pytest

from resolve_helpers import (  # noqa: F401 (api_check: autouse; server: fixture)
    REPO, api_check, make_media, new_resolve, server)

import fake_resolve  # noqa: E402
from lua_resolve import LuaResolve  # noqa: E402
from shotforge_resolve import place, settings as sf_settings, takes, workflow  # noqa: E402
from shotforge_resolve.errors import PlacementError  # noqa: E402
from shotforge_resolve.executor import execute  # noqa: E402
from shotforge_resolve.facts import read_facts  # noqa: E402

START = 900000
TAKE = {"job": "job-1", "take": 1, "operation": "fill_gap", "engine": "classical", "model": "", "prompt": "",
        "seed": 7}
META = {"version": 1, "operation": "fill_gap", "track": 0, "frame": 45, "prompt": "", "negative_prompt": "",
        "seed": 7, "engine": "classical", "placement": "auto"}


def make_sound_media(path, frames=100, rate=25):
    """A small clip with a moving picture and stereo noise for sound (48 kHz, 16-bit PCM in .mov)."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=rate)
        video.width, video.height, video.pix_fmt = 176, 144, "yuv420p"
        audio = out.add_stream("pcm_s16le", rate=48000, layout="stereo")
        rng = np.random.default_rng(5)
        y, x = np.mgrid[0:144, 0:176]
        per = 48000 // rate
        for n in range(frames):
            picture = np.stack([(x * 2 + n * 3) % 256, (y * 2 + n) % 256, np.full_like(x, 128)], -1).astype(np.uint8)
            for packet in video.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")):
                out.mux(packet)
            sound = av.AudioFrame.from_ndarray(rng.normal(0, 800, (1, per * 2)).astype(np.int16), format="s16",
                                               layout="stereo")
            sound.sample_rate, sound.pts = 48000, n * per
            for packet in audio.encode(sound):
                out.mux(packet)
        for stream in (video, audio):
            for packet in stream.encode():
                out.mux(packet)
    return path


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    """(the editor's media with sound, a render with sound, a render without sound)."""
    folder = tmp_path_factory.mktemp("resolve_audio_media")
    source = make_sound_media(folder / "A003_C012.mov")
    render = folder / "render_0001.mov"
    shutil.copyfile(source, render)
    silent = folder / "silent_0001.mp4"
    shutil.copyfile(make_media("25", folder), silent)
    return str(source), str(render), str(silent)


@pytest.fixture(autouse=True)
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("SHOTFORGE_RESOLVE_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    monkeypatch.chdir(REPO)


@pytest.fixture
def edit(media):
    """The test timeline, its clips' sound on A1 under them."""
    resolve, timeline, item = new_resolve("25", media[0])
    timeline.audio_clip(0, item, 10, 0, 40, name="A")
    timeline.audio_clip(0, item, 60, 52, 40, name="B")
    return resolve, timeline, item


def piece(media, record=40, frames=12, track=0, audio_track=0, source_in=0):
    placed = {"media": media, "track": track, "record_frame": record, "source_in": source_in, "frames": frames}
    if audio_track is not None:
        placed["audio_track"] = audio_track
    return placed


def plan(resolve, placements, **options):
    return place.plan_steps(read_facts(resolve), placements, dict({"placement": "auto"}, **options), TAKE)


def ops(steps):
    return [(step["op"], step.get("track_type", (step.get("expect") or {}).get("track_type", "video")))
            for step in steps if step["op"] != "note"]


# ------------------------------------------------------------------------------- the fake
def test_the_fakes_audio_tracks(edit, media):
    resolve, timeline, item = edit
    pool = resolve.project.media_pool
    render = pool.ImportMedia([media[1]])[0]
    silent = pool.ImportMedia([media[2]])[0]
    assert timeline.GetTrackCount("audio") == 1 and timeline.GetTrackName("audio", 1) == "Audio 1"
    assert [i.GetName() for i in timeline.GetItemListInTrack("audio", 1)] == ["A", "B"]
    a = timeline.GetItemListInTrack("audio", 1)[0]
    assert (a.GetStart(), a.GetDuration(), a.GetLeftOffset(), a.GetTrackTypeAndIndex()) == (START, 40, 10, ["audio", 1])
    assert a.AddMarker(0, "Cyan", "m", "", 1, "") is False  # assumed: audio items take no markers

    def sound(media_item, record, frames, track=1):
        landed = pool.AppendToTimeline([{"mediaPoolItem": media_item, "startFrame": 0, "endFrame": frames,
                                         "trackIndex": track, "recordFrame": START + record, "mediaType": 2}])
        return landed[0] if landed else None

    assert sound(render, 30, 12).GetUniqueId() == ""          # over A's sound: dropped, as video is
    assert sound(silent, 40, 12).GetUniqueId() == ""          # media without sound: dropped
    assert sound(render, 40, 12, track=2) is None             # no A2 yet: nothing at all
    landed = sound(render, 40, 12)
    assert landed.GetUniqueId() and timeline.audio_layout(0)[1] == (40, 52, "render_0001.mov", "render_0001.mov", 0)
    assert [row[:2] for row in timeline.layout(0)] == [(0, 40), (52, 92)]  # audio only: no picture placed
    assert timeline.AddTrack("audio") is False and timeline.GetTrackCount("audio") == 1  # needs its format
    assert timeline.AddTrack("audio", "stereo") is True and timeline.GetTrackCount("audio") == 2
    assert timeline.DeleteClips([landed], False) and len(timeline.audio_layout(0)) == 2
    assert timeline.DeleteTrack("audio", 2) and timeline.GetTrackCount("audio") == 1
    exported = json.loads(fake_resolve.export_otio(timeline))
    audio, = [t for t in exported["tracks"]["children"] if t["kind"] == "Audio"]
    assert [c["OTIO_SCHEMA"].split(".")[0] for c in audio["children"]] == ["Clip", "Gap", "Clip"]


# ------------------------------------------------------------------------------- planning and carrying out
def test_the_sound_goes_on_the_servers_audio_track_at_the_same_record_frame(edit, media):
    resolve, timeline, _ = edit
    steps = plan(resolve, [piece(media[1])])
    assert ops(steps) == [("check_timeline", "video"), ("append", "video"), ("label", "video"), ("append", "audio"),
                          ("label", "video")]
    video, sound = [step for step in steps if step["op"] == "append"]
    assert video["clip_info"]["mediaType"] == 1 and sound["clip_info"] == {
        "startFrame": 0, "endFrame": 12, "trackIndex": 1, "recordFrame": START + 40, "mediaType": 2}
    assert sound["expect"] == {"track_type": "audio", "track": 1, "start": START + 40, "duration": 12,
                               "left_offset": 0} and sound["role"] == "audio"
    assert steps[4]["markers"] == [] and steps[4]["name"] == "ShotForge fill gap take 1"
    done = execute(resolve, steps)
    assert timeline.layout(0)[1][:3] == (40, 52, "ShotForge fill gap take 1")
    assert timeline.audio_layout(0)[1] == (40, 52, "ShotForge fill gap take 1", "render_0001.mov", 0)
    (placed,), (audio,) = done["placed"], done["audio"]
    assert (audio["track"], audio["start"], audio["duration"]) == (1, START + 40, 12) and audio["id"] != placed["id"]
    assert timeline.find_any(audio["id"])[2].color == "Lime"  # fill gap's colour, as its picture


def test_a_new_audio_track_when_the_server_asks_for_one(edit, media):
    resolve, timeline, _ = edit
    steps = plan(resolve, [piece(media[1], audio_track=1)])
    add, = [step for step in steps if step["op"] == "add_track"]
    assert add == {"op": "add_track", "index": 2, "track_type": "audio", "sub_type": "stereo",
                   "what": "add audio track A2"}
    done = execute(resolve, steps)
    assert done["audio_tracks_added"] == [2] and done["tracks_added"] == []
    assert timeline.audio_tracks[1]["sub_type"] == "stereo" and timeline.audio_layout(1)[0][:2] == (40, 52)


def test_a_taken_audio_track_moves_the_sound_up(edit, media):
    resolve, timeline, item = edit
    timeline.audio_tracks.append({"name": "Audio 2", "entries": [], "sub_type": "stereo"})
    timeline.audio_clip(1, item, 0, 38, 6, name="music")   # the editor's sound over 38..44 on A2
    steps = plan(resolve, [piece(media[1], audio_track=1)])
    note, = [step["note"] for step in steps if step["op"] == "note"]
    assert note == "A2 is taken at 10:00:01:15 by 'music': the result's sound goes on a new track A3."
    done = execute(resolve, steps)
    assert done["audio"][0]["track"] == 3 and timeline.audio_layout(1) == [(38, 44, "music", "A003_C012.mov", 0)]


def test_the_sound_of_a_results_pieces_stays_on_one_audio_track(edit, media):
    resolve, timeline, item = edit
    timeline.audio_clip(0, item, 0, 44, 6, name="music")  # the editor's sound on A1 over 44..50
    # an extension of A: its handles from A's own file at 40..44, then the new media at 44..48, both with sound
    steps = plan(resolve, [piece(media[0], record=40, frames=4, source_in=50), piece(media[1], record=44, frames=4)])
    note, = [step["note"] for step in steps if step["op"] == "note"]
    assert note == "A1 is taken at 10:00:01:19 by 'music': the result's sound goes on a new track A2."
    assert [(step["op"], (step.get("expect") or {}).get("track_type", "")) for step in steps
            if step["op"] != "label"] == [("check_timeline", ""), ("append", ""), ("note", ""), ("add_track", ""),
                                          ("append", "audio"), ("append", ""), ("append", "audio")]
    done = execute(resolve, steps)
    assert [(p["track"], p["start"] - START) for p in done["placed"]] == [(1, 40), (1, 44)]
    assert [(p["track"], p["start"] - START) for p in done["audio"]] == [(2, 40), (2, 44)]
    assert [row[:2] for row in timeline.audio_layout(0)] == [(0, 40), (44, 50), (52, 92)]


def test_the_picture_moving_up_keeps_the_sound_on_its_own_track(edit, media):
    resolve, timeline, _ = edit
    done = execute(resolve, plan(resolve, [piece(media[1], record=30, frames=10)], placement="auto"))
    # V1 is taken by A at 30..40: the picture goes on V2; A1 is taken by A's sound: the sound goes on A2
    assert done["placed"][0]["track"] == 2 and done["audio"][0]["track"] == 2
    assert done["tracks_added"] == [2] and done["audio_tracks_added"] == [2]


@pytest.mark.parametrize("how", ["silent media", "lands short", "lands then answers nothing"])
def test_a_sound_that_does_not_read_back_undoes_the_picture_and_the_tracks(edit, media, how):
    resolve, timeline, _ = edit
    before = timeline.snapshot()
    pool = resolve.project.media_pool
    render = media[2] if how == "silent media" else media[1]
    steps = plan(resolve, [piece(render, record=30, frames=10, audio_track=1)])  # adds V2 and A2
    original = pool.AppendToTimeline

    def append(infos):  # the second append is the sound
        if infos[0].get("mediaType") == 2:
            if how == "lands short":
                pool.misplace_next_append(short=1)
            elif how == "lands then answers nothing":
                pool.fail_next_append("empty")
        return original(infos)

    pool.AppendToTimeline = append
    with pytest.raises(PlacementError) as caught:
        execute(resolve, steps)
    message = caught.value.message
    assert message.startswith("Could not place the sound of {} (10 frames) on A2 at 10:00:01:05: ".format(
        render.rsplit("/", 1)[1]))
    assert {"silent media": "Resolve dropped the sound (the range on A2 is not free, or the media has no sound)",
            "lands short": "Resolve placed 9 frames", "lands then answers nothing": "yet a clip landed on A2"}[how] \
        in message
    assert "The timeline is as it was before." in message and "kept at " + render in message
    assert timeline.snapshot() == before
    assert (timeline.GetTrackCount("video"), timeline.GetTrackCount("audio")) == (1, 1)


def test_placements_without_audio_track_place_no_sound(edit, media):
    resolve, timeline, _ = edit
    steps = plan(resolve, [piece(media[1], audio_track=None)])
    assert not any(step.get("role") == "audio" for step in steps)
    with pytest.raises(PlacementError):
        plan(resolve, [piece(media[1], audio_track=-1)])


# ------------------------------------------------------------------------------- takes
def job(job_id, render, audio_track=0):
    return {"id": job_id, "state": "done", "progress": 1.0, "stage": "done",
            "result": {"media": [render], "engine": "classical", "model": None,
                       "placements": [piece(render, audio_track=audio_track)]}}


def place_take(resolve, record, previous=None):
    timeline_id = read_facts(resolve)["timeline"]["id"]
    request = takes.keep_request({"OTIO_SCHEMA": "Timeline.1", "metadata": {"shotforge": META}}, record["id"])
    steps, pending = takes.plan_result(read_facts(resolve), record, META, {}, previous=previous)
    try:
        done = execute(resolve, steps)
    except PlacementError as exc:  # as workflow does: the store follows clips put back under new ids
        takes.follow_ids(timeline_id, exc.restored)
        raise
    return takes.record_result(timeline_id, record, META, request, steps, done, pending)


def test_remove_last_result_takes_the_sound_and_its_track_away(edit, media):
    resolve, timeline, _ = edit
    before = timeline.snapshot()
    record = place_take(resolve, job("job-1", media[1], audio_track=1))
    assert record["audio_tracks_added"] == [2] and [p["track"] for p in record["audio"]] == [2]
    done = workflow.remove_last(resolve)
    assert [clip.get("track_type") for clip in done["removed"]] == [None, "audio"]
    assert (done["tracks_deleted"], done["audio_tracks_deleted"]) == ([], [2])
    assert timeline.snapshot() == before


def test_the_dialog_says_remove_last_took_the_sound_and_the_audio_track_it_added(edit, media):
    from shotforge_resolve import ui as sf_ui
    from test_resolve_ui import Bmd, Fusion

    resolve, _timeline, _ = edit
    place_take(resolve, job("job-1", media[1], audio_track=1))
    dialog = sf_ui.Dialog(resolve, Fusion(), Bmd())
    dialog.on_remove_last(None)
    assert dialog.items["Status"].Text == ("Removed 'ShotForge fill gap take 1': 1 clip, its sound on A2 and the "
                                           "track it added (A2).")


def test_the_dialog_names_the_audio_track_of_an_extensions_sound_once(edit, media):
    from shotforge_resolve import ui as sf_ui
    from test_resolve_ui import Bmd, Fusion

    resolve, _timeline, _ = edit
    steps = plan(resolve, [piece(media[0], record=40, frames=4, source_in=50), piece(media[1], record=44, frames=4)])
    done = execute(resolve, steps)

    class Finished:  # the run's result as workflow.Run.finish gives it
        def finish(self, record, confirm_overwrite=None):
            placed = [dict(p, timecode="10:00:01:{:02d}".format(p["start"] - START - 25)) for p in done["placed"]]
            return {"placed": placed, "audio": done["audio"], "name": "ShotForge extend take 1", "notes": []}

    dialog = sf_ui.Dialog(resolve, Fusion(), Bmd())
    dialog.run = Finished()
    dialog._place({"id": "job-1"}, None)
    assert dialog.items["Status"].Text == ("Done: placed 2 clips as 'ShotForge extend take 1' (V1 at 10:00:01:15, "
                                           "V1 at 10:00:01:19; its sound on A1).")


def test_remove_last_leaves_a_sound_the_editor_moved(edit, media):
    resolve, timeline, _ = edit
    record = place_take(resolve, job("job-1", media[1]))
    timeline.find_any(record["audio"][0]["id"])[2].start += 100  # the editor slid the room tone along A1
    done = workflow.remove_last(resolve)
    assert "The take's sound placed at A1 at 10:00:01:15 was moved or trimmed since" in " ".join(done["notes"])
    assert [row[:2] for row in timeline.audio_layout(0)] == [(0, 40), (52, 92), (140, 152)]
    assert [row[:2] for row in timeline.layout(0)] == [(0, 40), (52, 92)]


def test_new_take_swaps_the_sound_too_and_a_failure_puts_both_back(edit, media):
    resolve, timeline, _ = edit
    first = place_take(resolve, job("job-1", media[1], audio_track=1))
    with_first = timeline.snapshot()
    second = place_take(resolve, job("job-2", media[1], audio_track=1), previous=first)
    assert second["take"] == 2 and [p["track"] for p in second["audio"]] == [2]
    assert second["audio_tracks_added"] == [2]  # the slot's track stays the take's
    assert [row[:3] for row in timeline.audio_layout(1)] == [(40, 52, "ShotForge fill gap take 2")]
    assert timeline.GetTrackCount("audio") == 2
    resolve.project.media_pool.fail_next_append("raise")
    state = timeline.snapshot()
    with pytest.raises(PlacementError) as caught:
        place_take(resolve, job("job-3", media[1], audio_track=1), previous=takes.last_result(timeline.uid))
    assert "were put back from their media" in caught.value.message  # take 2's picture and sound
    assert timeline.snapshot() == state != with_first
    workflow.remove_last(resolve)
    assert timeline.GetTrackCount("audio") == 1 and len(timeline.audio_layout(0)) == 2


# ------------------------------------------------------------------------------- the Lua executor agrees
@pytest.mark.parametrize("side", ["python", "lua"])
def test_a_take_name_the_build_cannot_set_is_said_once_for_all_its_pictures_and_sound(media, side):
    resolve, timeline, item = new_resolve("25", media[0], lacks=("TimelineItem.SetName",))
    timeline.audio_clip(0, item, 10, 0, 40, name="A")
    steps = plan(resolve, [piece(media[0], record=40, frames=4, source_in=50), piece(media[1], record=44, frames=4)])
    done = execute(resolve, steps) if side == "python" else LuaResolve().call("execute_steps", resolve, steps)["result"]
    notes = done["notes"]
    assert [note for note in notes if "TimelineItem.SetName" in note] == [
        "Resolve cannot set (this build has no TimelineItem.SetName) the clip name 'ShotForge fill gap take 1': its "
        "ShotForge marker names the take."]
    assert len(timeline.audio_layout(0)) == 3


@pytest.mark.parametrize("name", ["placed", "new audio track", "sound dropped", "sound lands short", "remove"])
def test_the_lua_executor_places_and_undoes_sound_as_the_python_one(media, name):
    lua = LuaResolve()
    outcomes = []
    for side in ("python", "lua"):
        resolve, timeline, item = new_resolve("25", media[0])
        timeline.audio_clip(0, item, 10, 0, 40, name="A")
        render = media[2] if name == "sound dropped" else media[1]
        steps = plan(resolve, [piece(render, record=30 if name != "placed" else 40, frames=10,
                                     audio_track=0 if name == "placed" else 1)])
        if name == "remove":
            done = execute(resolve, steps)
            facts = read_facts(resolve)
            record = {"job": "job-1", "take": 1, "placed": done["placed"], "audio": done["audio"],
                      "tracks_added": done["tracks_added"], "audio_tracks_added": done["audio_tracks_added"]}
            steps, _notes = takes.plan_remove(facts, record)
        if name == "sound lands short":
            pool, original = resolve.project.media_pool, resolve.project.media_pool.AppendToTimeline

            def append(infos, pool=pool, original=original):
                if infos[0].get("mediaType") == 2:
                    pool.misplace_next_append(short=1)
                return original(infos)

            pool.AppendToTimeline = append
        if side == "python":
            try:
                done = execute(resolve, steps)
                answer = {"ok": True, "result": done}
            except PlacementError as exc:
                answer = {"ok": False, "error": {"message": exc.message}}
        else:
            answer = lua.call("execute_steps", resolve, steps)
        if answer["ok"]:
            result = answer["result"]
            summary = [[(p["track"], p["start"] - START, p["duration"]) for p in result[key]]
                       for key in ("placed", "audio")] + [result[key] for key in (
                           "tracks_added", "audio_tracks_added", "tracks_deleted", "audio_tracks_deleted")] + [
                len(result["removed"])]
        else:
            summary = answer["error"]["message"]
        outcomes.append((answer["ok"], summary, timeline.snapshot().replace(media[1], "R")))
    assert outcomes[0] == outcomes[1]
    if name in ("sound dropped", "sound lands short"):
        assert not outcomes[1][0] and "The timeline is as it was before." in outcomes[1][1]


# ------------------------------------------------------------------------------- end to end
def test_a_gap_fill_brings_its_room_tone_onto_a1_python_and_lua(media, server, tmp_path):
    for entry in ("python", "lua"):
        resolve, timeline, item = new_resolve("25", media[0])
        timeline.audio_clip(0, item, 10, 0, 40, name="A")
        timeline.audio_clip(0, item, 60, 52, 40, name="B")
        before = timeline.snapshot()
        timeline.set_playhead(45)
        values = dict(sf_settings.DEFAULTS, server_url=server.url, engine="classical", seed=3, operation="fill_gap")
        if entry == "python":
            done = workflow.run(resolve, values, workdir=str(tmp_path / "requests"), poll_interval=0.05)
            audio, placed = done["audio"], done["placed"]
        else:
            lua = LuaResolve()
            answer = lua.call("run", resolve, {"server_url": server.url, "engine": "classical", "seed": 3,
                                               "operation": "fill_gap"})
            assert answer["ok"], answer
            assert answer["message"].startswith("Fill gap in the 12-frame gap on V1 ") and \
                ": placed as take 1, its sound on A1." in answer["message"], answer["message"]
            audio, placed = answer["result"]["audio"], answer["result"]["placed"]
        (sound,), (picture,) = audio, placed
        assert (sound["track"], sound["start"], sound["duration"]) == (1, START + 40, 12) == (
            picture["track"], picture["start"], picture["duration"])
        assert sound["media"] == picture["media"] and sound["media"].startswith(str(server.output))
        rows = timeline.audio_layout(0)
        assert [row[:3] for row in rows] == [(0, 40, "A"), (40, 52, "ShotForge fill gap take 1"), (52, 92, "B")]
        with av.open(sound["media"]) as made:
            assert made.streams.audio and made.streams.audio[0].rate == 48000
        if entry == "python":
            workflow.remove_last(resolve)
        else:
            session = lua.call_raw("session", lua.to_lua(resolve))
            removed = lua.to_py(lua.module[b"remove_last"](session))
            assert removed["ok"], removed
            assert removed["message"] == "Removed 'ShotForge fill gap take 1': 1 clip and its sound on A1."
        assert timeline.snapshot() == before


def _delete_takes_linked_sound(timeline):
    """DeleteClips also removing the sound under a removed clip, as a linked clip's might (unmeasured)."""
    original = timeline.DeleteClips

    def delete(items, ripple=False):
        starts = [timeline.find(item.GetUniqueId())[1].start for item in items if timeline.find(item.GetUniqueId())]
        done = original(items, ripple)
        for entry in list(timeline.audio_tracks[0]["entries"]):
            if entry.start in starts:
                timeline.audio_tracks[0]["entries"].remove(entry)
        return done

    timeline.DeleteClips = delete


@pytest.mark.parametrize("side", ["python", "lua"])
def test_an_overwrite_that_takes_the_clips_sound_along_says_so(media, side):
    resolve, timeline, item = new_resolve("25", media[0])
    timeline.audio_clip(0, item, 60, 52, 40, name="B")
    pieces = [piece(media[1], record=52, frames=40, audio_track=None)]  # over all of B
    try:
        plan(resolve, pieces, placement="overwrite")
    except place.OverwriteNeedsConfirmation as asked:
        steps = plan(resolve, pieces, placement="overwrite", confirm_overwrite=asked.question)
    _delete_takes_linked_sound(timeline)
    if side == "python":
        with pytest.raises(PlacementError) as caught:
            execute(resolve, steps)
        message = caught.value.message
    else:
        answer = LuaResolve().call("execute_steps", resolve, steps)
        assert not answer["ok"]
        message = answer["error"]["message"]
    assert "Resolve removed 'B' on A1 along with the clips" in message
    assert "'B' on A1: Resolve's API cannot put it back): check the timeline." in message
    assert [row[:3] for row in timeline.layout(0)][1] == (52, 92, "B")  # the picture was put back
