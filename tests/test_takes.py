"""Takes end to end: ``shotforge serve`` renders with the classical engine, every result is a take
whose recipe is in the media tags, in result.otio and in the job store; a re-render fills exactly
the same slot, and overrides that would move or resize it are refused."""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction

import numpy as np
import opentimelineio as otio
import pytest

from otio_tools.errors import RequestError
from otio_tools.takes import Slot, Take, check_overrides, pack, rerender_request, take_from_metadata, take_from_tags
from server import media_io
from tests.serverutil import CARPHONE, REPO, ServerProcess, copy_media, request_json, two_clip_timeline, wait_job

JSON = {"Content-Type": "application/json"}
CARPHONE_RATE = Fraction(30000, 1001)


@pytest.fixture
def served(tmp_path):
    root = tmp_path / "media"
    clip = copy_media(root, CARPHONE[0])
    with ServerProcess(tmp_path / "out", "--media-root", str(root)) as srv, srv.client() as c:
        yield srv, c, clip


def _done(c, body: str) -> dict:
    r = c.post("/v1/jobs", content=body, headers=JSON)
    assert r.status_code == 202, r.text
    job = wait_job(c, r.json()["id"], timeout=90)
    assert job["state"] == "done", job
    return job


def test_every_result_is_a_take_with_its_recipe_in_tags_result_otio_and_store(served):
    srv, c, clip = served
    tl = two_clip_timeline(clip, CARPHONE[1], clip_frames=55, gap=10)
    tl.name = "reel 1"
    job = _done(c, request_json(tl, operation="generate", track=0, range=[130, 142], prompt="a car at dusk",
                                negative_prompt="rain", seed=7))
    (take_id,) = job["result"]["takes"]
    (media,) = job["result"]["media"]

    tagged = take_from_tags(media_io.probe(media).metadata, media)
    assert tagged.id == take_id and tagged.placeholder and tagged.operation == "generate"
    assert tagged.slot == Slot(0, 130, 12, CARPHONE_RATE, 176, 144)
    assert (tagged.engine, tagged.model, tagged.model_revision) == ("classical", "classical",
                                                                   tagged.shotforge_version)
    assert (tagged.prompt, tagged.negative_prompt, tagged.seed, tagged.timeline) == ("a car at dusk", "rain", 7,
                                                                                    "reel 1")
    recipe = json.loads(tagged.request_text())  # the request itself travels with the take
    assert recipe["metadata"]["shotforge"]["range"] == [130, 142]
    assert tagged.media_frames == 12 and tagged.media_start_timecode

    result = otio.adapters.read_from_file(job["result"]["otio"])
    (made,) = [clip for clip in result.find_clips() if take_from_metadata(clip.metadata)]
    assert take_from_metadata(made.metadata) == tagged

    (listed,) = c.get("/v1/takes", params={"timeline": "reel 1"}).json()["takes"]
    assert listed["id"] == take_id and listed["job_id"] == job["id"] and listed["media"] == media
    assert listed["slot"] == {"track": 0, "record_frame": 130, "frames": 12, "rate": "30000/1001",
                              "width": 176, "height": 144}
    assert c.get(f"/v1/takes/{take_id}").json() == listed
    assert c.get("/v1/takes", params={"timeline": "reel 2"}).json()["takes"] == []
    assert c.get("/v1/takes/take-nope").status_code == 404


def test_rerender_makes_a_new_take_of_exactly_the_same_slot(served):
    srv, c, clip = served
    tl = two_clip_timeline(clip, CARPHONE[1], clip_frames=55, gap=10)
    tl.name = "reel 1"
    first = _done(c, request_json(tl, operation="fill_gap", track=0, frame=60))
    (old_id,) = first["result"]["takes"]
    old = c.get(f"/v1/takes/{old_id}").json()

    r = c.post(f"/v1/takes/{old_id}/rerender", json={"seed": 8, "prompt": "a bridge"})
    assert r.status_code == 202, r.text
    assert r.json()["rerender_of"] == old_id
    second = wait_job(c, r.json()["id"], timeout=90)
    assert second["state"] == "done", second
    (new_id,) = second["result"]["takes"]
    new = c.get(f"/v1/takes/{new_id}").json()
    assert new_id != old_id and new["slot"] == old["slot"] == {
        "track": 0, "record_frame": 55, "frames": 10, "rate": "30000/1001", "width": 176, "height": 144}
    assert (new["seed"], new["prompt"], new["engine"], new["operation"]) == (8, "a bridge", "classical", "fill_gap")
    (placement,) = second["result"]["placements"]
    assert (placement["track"], placement["record_frame"], placement["frames"]) == (0, 55, 10)
    assert media_io.probe(new["media"]).frames == 10

    slot = {"timeline": "reel 1", "track": 0, "record_frame": 55, "frames": 10}
    assert [t["id"] for t in c.get("/v1/takes", params=slot).json()["takes"]] == [new_id, old_id]
    assert c.get("/v1/takes", params={**slot, "record_frame": 54}).json()["takes"] == []

    for body, status, code in (({"frames": 20}, 422, "slot_change"), ({"record_frame": 0}, 422, "slot_change"),
                               ({"canvas": [64, 64]}, 422, "slot_change"), ({"speed": 2}, 400, "bad_request"),
                               ({"engine": "magic"}, 422, "invalid_parameter"), ({"seed": -1}, 422, "invalid_parameter")):
        r = c.post(f"/v1/takes/{old_id}/rerender", json=body)
        assert r.status_code == status, (body, r.text)
        assert r.json()["error"]["code"] == code, (body, r.json())
    assert c.post("/v1/takes/take-nope/rerender", json={"seed": 1}).status_code == 404
    assert len(c.get("/v1/jobs").json()["jobs"]) == 2  # nothing refused became a job


def test_rerender_refused_when_the_media_changed_so_the_slot_cannot_be_filled(tmp_path, served):
    srv, c, clip = served
    tl = two_clip_timeline(clip, CARPHONE[1], clip_frames=55, gap=10)
    job = _done(c, request_json(tl, operation="extend", track=0, frame=70, side="tail", frames=12))
    (take_id,) = job["result"]["takes"]
    # Same file name, another picture size: the new take would not be the slot's size.
    small = tmp_path / "small.mov"
    with media_io.MediaWriter(str(small), width=64, height=48, rate=CARPHONE_RATE, codec="prores") as writer:
        for _ in range(120):
            writer.write(np.zeros((48, 64, 3), np.uint8))
    small.replace(clip)
    r = c.post(f"/v1/takes/{take_id}/rerender", json={"seed": 3})
    assert r.status_code == 422 and r.json()["error"]["code"] == "slot_change", r.text
    assert "width 64, not 176" in r.json()["error"]["message"]


def test_takes_cli_lists_and_rerenders(served):
    srv, c, clip = served
    tl = two_clip_timeline(clip, CARPHONE[1], clip_frames=55, gap=10)
    tl.name = "cli reel"
    job = _done(c, request_json(tl, operation="generate", track=0, range=[130, 136], prompt="sky"))
    (take_id,) = job["result"]["takes"]

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "server.cli", "takes", *args, "--server", srv.url],
                              cwd=REPO, capture_output=True, text=True, timeout=120)

    listed = cli("list", "--timeline", "cli reel")
    assert listed.returncode == 0, listed.stderr
    assert take_id in listed.stdout and "frames 130-135 (6)" in listed.stdout and "placeholder" in listed.stdout
    done = cli("rerender", take_id, "--seed", "8", "--wait")
    assert done.returncode == 0, done.stderr
    assert "seed 8" in done.stdout and "frames 130-135 (6)" in done.stdout
    refused = cli("rerender", "take-nope", "--seed", "8")
    assert refused.returncode == 2 and "take_not_found" in refused.stderr
    nobody = subprocess.run([sys.executable, "-m", "server.cli", "takes", "list", "--server", "http://127.0.0.1:9"],
                            cwd=REPO, capture_output=True, text=True, timeout=60)
    assert nobody.returncode == 3 and "no ShotForge server answers" in nobody.stderr


# ----------------------------------------------------------------------------- the recipe alone
def _take(**meta) -> Take:
    tl = otio.schema.Timeline(name="t")
    tl.metadata["shotforge"] = {"version": 1, "operation": "generate", "range": [0, 4], "engine": "auto", **meta}
    return Take(id="take-1", operation="generate", slot=Slot(0, 0, 4, CARPHONE_RATE, 64, 32), engine="diffusers",
                model="tiny", model_revision="sha256:ab", request=pack(otio.adapters.write_to_string(tl, "otio_json")),
                shotforge_version="0.1.0", seed=3)


def test_rerender_request_pins_what_made_the_take_and_applies_overrides():
    meta = json.loads(rerender_request(_take()))["metadata"]["shotforge"]
    assert (meta["engine"], meta["model"], meta["range"]) == ("diffusers", "tiny", [0, 4])
    meta = json.loads(rerender_request(_take(steps=4), {"engine": "classical", "seed": 9}))["metadata"]["shotforge"]
    assert meta["engine"] == "classical" and "model" not in meta and "steps" not in meta and meta["seed"] == 9
    with pytest.raises(RequestError, match="needs engine diffusers"):
        rerender_request(_take(), {"engine": "classical", "model": "tiny"})
    with pytest.raises(RequestError) as refused:
        check_overrides({"range": [0, 8]})
    assert refused.value.code == "slot_change"
    broken = Take.from_dict({**_take().to_dict(), "request": "not base64!"})
    with pytest.raises(RequestError, match="cannot be read"):
        broken.request_text()
    with pytest.raises(RequestError) as bad:
        take_from_tags({"take": "{\"id\": \"x\"}"}, "a.mov")
    assert bad.value.code == "bad_take" and "a.mov" in bad.value.message


def test_a_job_killed_after_recording_its_takes_leaves_no_take_behind(tmp_path):
    """kill -9 between the takes rows and the job's 'done': on restart the job is interrupted and its
    output removed, so its takes (media gone) must not stay listed as takes of that slot."""
    from server.jobs import JobManager, JobRow, JobStore

    store = JobStore(tmp_path / "jobs.sqlite")
    out = tmp_path / "out" / "job-1"
    out.mkdir(parents=True)
    (out / "take.mov").write_bytes(b"frames")
    store.insert(JobRow(id="job-1", state="queued", progress=0.0, stage="queued", error=None, result=None,
                        operation="generate", description="", source="http", out_dir=str(out), base_dir=None,
                        request="{}", meta={}, created=0.0, started=None, finished=None, updated=0.0, version=1))
    store.claim_next()
    JobManager(store, tmp_path / "out", locate_media=lambda *a: "").takes.record(_take(), "job-1",
                                                                                 str(out / "take.mov"))
    store.close()  # the process died here

    store = JobStore(tmp_path / "jobs.sqlite")
    manager = JobManager(store, tmp_path / "out", locate_media=lambda *a: "", workers=0)
    assert [row.id for row in manager.start()] == ["job-1"]
    assert not out.exists()
    assert manager.takes.list(job_id="job-1") == [] and manager.takes.get("take-1") is None
    manager.stop()
    store.close()
