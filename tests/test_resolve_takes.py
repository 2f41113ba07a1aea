"""Takes in Resolve: every result recorded per timeline, "Remove last result" leaving the timeline
exactly as before it, "New take" swapping a re-render into the same slot in one set of steps
(the previous take back exactly when anything fails).

The job side is a small stand-in for the server (``StubServer``: it answers ``submit`` with a
finished job whose placements name a real file) so these tests cover the plugin's take logic;
tests/test_resolve_e2e.py does the same against a real ``shotforge serve``.

The test timeline (resolve_helpers.new_resolve, 25 fps from 10:00:00:00, absolute frame 900000):
V1 = clip A (media 10..49) at 0..39, a gap at 40..51, clip B (media 60..99) at 52..91.
"""

from __future__ import annotations

import json
import shutil

import pytest

from resolve_helpers import api_check, make_media, new_resolve  # noqa: F401 (api_check: autouse fixture)

from shotforge_resolve import takes, workflow  # noqa: E402
from shotforge_resolve.errors import ContextError, PlacementError  # noqa: E402
from shotforge_resolve.facts import read_facts  # noqa: E402
from shotforge_resolve.executor import execute  # noqa: E402

META = {"version": 1, "operation": "extend", "track": 0, "frame": 39, "side": "tail", "frames": 20,
        "prompt": "more sky", "negative_prompt": "", "seed": 7, "engine": "classical", "placement": "auto"}


@pytest.fixture(autouse=True)
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("SHOTFORGE_RESOLVE_HOME", str(tmp_path / "config"))
    return tmp_path / "config" / "takes.json"


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    folder = tmp_path_factory.mktemp("resolve_takes_media")
    source = make_media("25", folder)
    renders = []
    for number in (1, 2):
        render = folder / "render_{:04d}.mp4".format(number)
        shutil.copyfile(source, render)
        renders.append(str(render))
    return source, renders


def job(job_id, render, record=40, frames=20, track=0, meta=META):
    return {"id": job_id, "state": "done", "progress": 1.0, "stage": "done",
            "result": {"media": [render], "engine": "classical", "model": None,
                       "placements": [{"media": render, "track": track, "record_frame": record, "source_in": 0,
                                       "frames": frames}]}}


def place_first_take(resolve, render, meta=META, **kwargs):
    """What workflow.run does after the job: plan, execute, record (the request kept beside the store)."""
    record = job("job-1", render, **kwargs)
    request = takes.keep_request({"OTIO_SCHEMA": "Timeline.1", "metadata": {"shotforge": meta}}, "job-1")
    steps, pending = takes.plan_result(read_facts(resolve), record, meta, {})
    done = execute(resolve, steps)
    return takes.record_result(read_facts(resolve)["timeline"]["id"], record, meta, request, steps, done, pending)


class StubServer:
    """Stands in for the ShotForge server's client: records the requests, answers each with a
    finished job placing ``render``."""

    def __init__(self, render, frames=20, record=40):
        self.render, self.frames, self.record = render, frames, record
        self.requests = []

    def ensure_running(self, *args, **kwargs):
        return {"ok": True}

    def submit(self, request):
        self.requests.append(json.loads(json.dumps(request)))
        return "job-{}".format(len(self.requests) + 1)

    def events(self, job_id, timeout=60.0):
        return iter([job(job_id, self.render, record=self.record, frames=self.frames)])

    def job(self, job_id):
        return job(job_id, self.render, record=self.record, frames=self.frames)

    def cancel(self, job_id):
        return {}


def labels(timeline, track):
    return [(e.start, e.end, e.name, e.color, json.loads(e.markers[0]["customData"][len("shotforge:"):]))
            for e in timeline.entries(track) if e.markers]


def test_the_servers_notes_on_a_result_reach_the_editor_first(media):
    resolve, _timeline, _ = new_resolve("25", media[0])
    record = job("job-1", media[1][0])
    record["result"]["notes"] = ["record frames 38-39 still show the original: the media ends there"]
    _steps, pending = takes.plan_result(read_facts(resolve), record, META, {})
    assert pending["notes"] == record["result"]["notes"]
    assert takes.plan_result(read_facts(resolve), job("job-2", media[1][0]), META, {})[1]["notes"] == []


# ------------------------------------------------------------------------------- remove last result
def test_remove_last_result_leaves_the_timeline_exactly_as_before(media, store):
    resolve, timeline, _ = new_resolve("25", media[0])
    before = timeline.snapshot()
    record = place_first_take(resolve, media[1][0])  # into B: on a new V2
    assert timeline.GetTrackCount("video") == 2 and record["tracks_added"] == [2]
    assert record["take"] == 1 and record["recipe"] == {"engine": "classical", "model": "", "prompt": "more sky",
                                                        "seed": 7}
    assert json.loads(store.read_text())["timelines"][timeline.uid][0]["job"] == "job-1"
    removed = workflow.remove_last(resolve, {})
    assert [clip["name"] for clip in removed["removed"]] == ["ShotForge extend take 1"]
    assert removed["tracks_deleted"] == [2] and removed["notes"] == []
    assert timeline.snapshot() == before
    assert takes.last_result(timeline.uid) is None
    with pytest.raises(ContextError, match="no ShotForge result"):
        workflow.remove_last(resolve, {})


def test_remove_last_result_leaves_what_the_editor_changed(media):
    resolve, timeline, item = new_resolve("25", media[0])
    record = place_first_take(resolve, media[1][0])
    placed = timeline.find(record["placed"][0]["id"])[1]
    placed.start += 30  # the editor moved the result along V2
    timeline.clip(1, item, 0, 0, 10, name="mine")  # and put a clip of their own on V2
    before = timeline.snapshot()
    removed = workflow.remove_last(resolve, {})
    assert removed["removed"] == [] and removed["tracks_deleted"] == []
    assert any("was moved or trimmed since" in note for note in removed["notes"])
    assert any("V2 stays: it holds other clips" in note for note in removed["notes"])
    assert timeline.snapshot() == before


def test_remove_last_result_that_fails_puts_it_back(media):
    resolve, timeline, _ = new_resolve("25", media[0], page="color")
    before_take = timeline.snapshot()
    place_first_take(resolve, media[1][0], record=40, frames=12)  # into the gap, on V1
    before = timeline.snapshot()
    placed_id = takes.last_result(timeline.uid)["placed"][0]["id"]
    facts = read_facts(resolve)
    steps, _notes = takes.plan_remove(facts, takes.last_result(timeline.uid))
    steps.append({"op": "check_timeline", "id": "another timeline", "what": "check the timeline again"})
    with pytest.raises(PlacementError) as caught:
        execute(resolve, steps)
    assert "The removed clip 'ShotForge extend take 1' was put back from its media" in caught.value.message
    assert "it has a new item id); the rest of the timeline is as it was before." in caught.value.message
    assert timeline.snapshot() == before and resolve.page == "color"
    new_id = timeline.entries(0)[1].uid
    assert new_id != placed_id and caught.value.restored == {placed_id: new_id}
    # the store still names the old id (execute was called on its own): the take is found by its marker
    assert takes.last_result(timeline.uid)["placed"][0]["id"] == placed_id
    removed = workflow.remove_last(resolve, {})
    assert [clip["id"] for clip in removed["removed"]] == [new_id] and removed["notes"] == []
    assert timeline.snapshot() == before_take


def test_a_failed_remove_last_keeps_the_take_under_its_new_id(media, monkeypatch):
    import fake_resolve
    resolve, timeline, _ = new_resolve("25", media[0])
    before_take = timeline.snapshot()
    place_first_take(resolve, media[1][0])  # into B: on a new V2
    with_take = timeline.snapshot()
    original = fake_resolve.Timeline.DeleteTrack
    monkeypatch.setattr(fake_resolve.Timeline, "DeleteTrack", lambda self, kind, index: False)
    with pytest.raises(PlacementError, match="Resolve did not delete V2.*was put back from its media"):
        workflow.remove_last(resolve, {})
    assert timeline.snapshot() == with_take
    assert takes.last_result(timeline.uid)["placed"][0]["id"] == timeline.entries(1)[0].uid  # the store followed
    monkeypatch.setattr(fake_resolve.Timeline, "DeleteTrack", original)
    workflow.remove_last(resolve, {})
    assert timeline.snapshot() == before_take and takes.last_result(timeline.uid) is None


def test_the_undo_of_a_deleted_track_adds_it_back_and_reads_it_back(media, monkeypatch):
    import fake_resolve
    resolve, timeline, _ = new_resolve("25", media[0])
    place_first_take(resolve, media[1][0])  # on a new V2
    with_take = timeline.snapshot()
    steps, _notes = takes.plan_remove(read_facts(resolve), takes.last_result(timeline.uid))
    assert [step["op"] for step in steps] == ["check_timeline", "delete_items", "delete_track"]
    failing = steps + [{"op": "check_timeline", "id": "another timeline", "what": "check the timeline again"}]
    with pytest.raises(PlacementError, match="the rest of the timeline is as it was before"):
        execute(resolve, failing)
    assert timeline.snapshot() == with_take and timeline.GetTrackCount("video") == 2
    # an AddTrack that answers True but adds nothing: the undo says so, it does not claim success
    monkeypatch.setattr(fake_resolve.Timeline, "AddTrack", lambda self, kind, *options: True)
    steps, _notes = takes.plan_remove(read_facts(resolve), takes.last_result(timeline.uid))
    with pytest.raises(PlacementError) as caught:
        execute(resolve, steps + failing[-1:])
    assert "Undoing it failed too (undo delete_track: Resolve did not add back V2;" in caught.value.message
    assert "check the timeline" in caught.value.message


def test_a_track_added_meanwhile_stops_the_plan_that_adds_one(media):
    resolve, timeline, _ = new_resolve("25", media[0])
    facts = read_facts(resolve)
    steps, _pending = takes.plan_result(facts, job("job-1", media[1][0]), META, {})  # into B: adds V2
    assert {"op": "add_track", "index": 2, "what": "add video track V2"} in steps
    timeline.AddTrack("video")  # the editor adds a track before the steps run
    before = timeline.snapshot()
    with pytest.raises(PlacementError, match="has 2 video tracks now, not the 1 the result was planned on"):
        execute(resolve, steps)
    assert timeline.snapshot() == before


# ------------------------------------------------------------------------------- new take
def test_new_take_swaps_into_the_same_slot_as_take_2(media):
    resolve, timeline, _ = new_resolve("25", media[0])
    before = timeline.snapshot()
    place_first_take(resolve, media[1][0])
    server = StubServer(media[1][1])
    result = workflow.new_take(resolve, {}, seed=99, prompt="less sky", client=server, poll_interval=0.01)
    sent = server.requests[0]["metadata"]["shotforge"]
    assert sent == dict(META, seed=99, prompt="less sky")  # the same request, new seed and prompt
    assert result["take"] == 2 and result["name"] == "ShotForge extend take 2"
    assert timeline.GetTrackCount("video") == 2
    assert [row[:4] for row in timeline.layout(1)] == [(40, 60, "ShotForge extend take 2", "render_0002.mp4")]
    (_, _, _, color, recipe), = labels(timeline, 1)
    assert color == "Teal" and (recipe["take"], recipe["seed"], recipe["prompt"], recipe["job"]) == (
        2, 99, "less sky", "job-2")
    record = takes.last_result(timeline.uid)
    assert record["take"] == 2 and record["tracks_added"] == [2] and record["history"][0]["take"] == 1
    assert len(takes.results(timeline.uid)) == 1
    # removing the new take leaves the timeline as before take 1, the track take 1 added included
    workflow.remove_last(resolve, {})
    assert timeline.snapshot() == before


def test_new_take_without_a_seed_draws_a_fresh_one(media):
    resolve, timeline, _ = new_resolve("25", media[0])
    place_first_take(resolve, media[1][0])
    server = StubServer(media[1][1])
    workflow.new_take(resolve, {}, client=server, poll_interval=0.01)
    sent = server.requests[0]["metadata"]["shotforge"]
    assert sent["seed"] != META["seed"] and 0 <= sent["seed"] <= 2 ** 32 - 1
    assert sent["prompt"] == META["prompt"]


def test_a_failing_new_take_keeps_the_previous_one_exactly(media):
    resolve, timeline, _ = new_resolve("25", media[0])
    before = timeline.snapshot()
    place_first_take(resolve, media[1][0])
    with_take_1 = timeline.snapshot()
    resolve.project.media_pool.misplace_next_append(short=1)
    with pytest.raises(PlacementError) as caught:
        workflow.new_take(resolve, {}, seed=5, client=StubServer(media[1][1]), poll_interval=0.01)
    assert "The removed clip 'ShotForge extend take 1' was put back from its media" in caught.value.message
    assert media[1][1] in caught.value.message
    assert timeline.snapshot() == with_take_1
    record = takes.last_result(timeline.uid)
    assert record["take"] == 1
    assert [piece["id"] for piece in record["placed"]] == [timeline.entries(1)[0].uid]  # the take's new id
    # and take 1 can still be removed, back to the timeline as it was before it
    removed = workflow.remove_last(resolve, {})
    assert removed["tracks_deleted"] == [2] and removed["notes"] == []
    assert timeline.snapshot() == before


def test_new_take_with_nothing_placed_says_so(media):
    resolve, _, _ = new_resolve("25", media[0])
    with pytest.raises(ContextError, match="run an operation first"):
        workflow.new_take(resolve, {}, client=StubServer(media[1][1]))


def test_a_new_take_is_refused_when_its_take_is_no_longer_the_newest(media):
    resolve, timeline, _ = new_resolve("25", media[0])
    place_first_take(resolve, media[1][0])  # take 1 of the extension, on V2
    server = StubServer(media[1][1])
    job_run = workflow.start_new_take(resolve, {}, seed=5, client=server)
    job_run.submit()
    # meanwhile another result lands (a fill of the gap on V1): take 1 is no longer the newest
    fill = dict(META, operation="fill_gap", frame=45)
    steps, pending = takes.plan_result(read_facts(resolve), job("job-9", media[1][0], record=40, frames=12), fill, {})
    takes.record_result(timeline.uid, job("job-9", media[1][0], record=40, frames=12), fill, None, steps,
                        execute(resolve, steps), pending)
    before = timeline.snapshot()
    with pytest.raises(PlacementError, match="no longer the newest ShotForge result"):
        job_run.finish(server.job(job_run.job_id))
    assert timeline.snapshot() == before and len(takes.results(timeline.uid)) == 2


class EditingServer(StubServer):
    """The editor changes the timeline while the job renders (``edit`` runs when it is followed)."""

    def __init__(self, render, edit, **kwargs):
        StubServer.__init__(self, render, **kwargs)
        self.edit = edit

    def events(self, job_id, timeout=60.0):
        self.edit()
        return StubServer.events(self, job_id, timeout)


@pytest.mark.parametrize("change, words", [
    ("trim", "'A' was moved, trimmed or slipped: it is on V1 from 10:00:00:00 to 10:00:01:13 now"),
    ("slip", "'A' was moved, trimmed or slipped"),
    ("remove", "'A' is no longer on it"),
    ("track", "it has 2 video tracks now, not 1")])
def test_edits_made_while_the_job_runs_stop_the_placement(media, change, words):
    resolve, timeline, item = new_resolve("25", media[0])
    timeline.set_playhead(20)  # on A: extend its tail into the gap

    def edit():
        entry = timeline.entries(0)[0]
        if change == "trim":
            entry.frames -= 2
        elif change == "slip":
            entry.source_in += 3
        elif change == "remove":
            timeline.tracks[0]["entries"].remove(entry)
        else:
            timeline.AddTrack("video")

    server = EditingServer(media[1][1], edit, record=40, frames=8)
    options = dict(operation="extend", side="tail", length=8, engine="classical")
    with pytest.raises(PlacementError) as caught:
        workflow.run(resolve, options, client=server, poll_interval=0.01)
    message = caught.value.message
    assert "The timeline changed while the job ran (" + words in message and "nothing was placed" in message
    assert media[1][1] in message and not resolve.project.media_pool.appends
