"""Job retention on a real uvicorn server on 127.0.0.1: finished records kept by age and by size,
outputs kept unless opted in, and then kept while a later job's request names their media; list
routes that never read request bodies."""

from __future__ import annotations

import base64
import json
import os
import time

import opentimelineio as otio

from tests.serverutil import (CARPHONE, FakeRenderer, ThreadServer, copy_media, request_json, two_clip_timeline,
                              wait_job)
from tests.test_server_queue import JSON, env, extend, settings_for  # noqa: F401 (env is a fixture)

DAY = 86400


def _run(c, body: str) -> dict:
    r = c.post("/v1/jobs", content=body, headers=JSON)
    assert r.status_code == 202, r.text
    job = wait_job(c, r.json()["id"], timeout=30)
    assert job["state"] == "done", job
    return job


def _padded(media, size: int, frames: int = 5) -> str:
    """An extend request carrying ``size`` characters of incompressible metadata."""
    tl = two_clip_timeline(media, CARPHONE[1])
    tl.metadata["notes"] = base64.b64encode(os.urandom(size * 3 // 4)).decode()
    return request_json(tl, operation="extend", track=0, frame=10, side="tail", frames=frames)


def test_records_past_the_age_go_and_their_media_stays_by_default(env):
    tmp, media = env
    with ThreadServer(settings_for(tmp, keep_jobs_days=1.5 / DAY, keep_jobs_gb=None), FakeRenderer(0.001)) as srv, \
            srv.client() as c:
        old = _run(c, extend(media))
        old_media = old["result"]["media"][0]
        time.sleep(1.6)
        new = _run(c, extend(media))  # its finish prunes what is older than 1.5 s
        assert c.get(f"/v1/jobs/{old['id']}").status_code == 404
        assert c.get(f"/v1/jobs/{new['id']}").status_code == 200
        assert [j["id"] for j in c.get("/v1/jobs").json()["jobs"]] == [new["id"]]
        assert os.path.isfile(old_media)  # prune_outputs is off: rendered media is never deleted


def test_records_beyond_the_size_go_oldest_first_and_the_newest_always_stays(env):
    tmp, media = env
    settings = settings_for(tmp, keep_jobs_days=None, keep_jobs_gb=70_000 / 1e9, workers=2)
    with ThreadServer(settings, FakeRenderer(0.001)) as srv, srv.client() as c:
        a, b = _run(c, _padded(media, 20_000)), _run(c, _padded(media, 20_000))
        # about 27 kB a record: two fit, a third is one too many
        assert {j["id"] for j in c.get("/v1/jobs").json()["jobs"]} == {a["id"], b["id"]}
        cc = _run(c, _padded(media, 20_000))
        assert [j["id"] for j in c.get("/v1/jobs").json()["jobs"]] == [cc["id"], b["id"]]
        huge = _run(c, _padded(media, 80_000))  # alone over the cap: still kept, the others go
        assert [j["id"] for j in c.get("/v1/jobs").json()["jobs"]] == [huge["id"]]
        # a job still running is never pruned, however large its record
        running = c.post("/v1/jobs", content=_padded(media, 80_000, frames=3000), headers=JSON).json()
        wait_job(c, running["id"], states=("running",), timeout=30)
        last = _run(c, _padded(media, 1_000))  # the second worker; its finish prunes
        assert [j["id"] for j in c.get("/v1/jobs").json()["jobs"]] == [last["id"], running["id"]]
        assert c.delete(f"/v1/jobs/{running['id']}").json()["state"] == "canceled"


def test_pruned_outputs_stay_while_a_kept_job_names_their_media(env):
    tmp, media = env
    out = tmp / "out"
    settings = settings_for(tmp, keep_jobs_days=1.5 / DAY, keep_jobs_gb=None, prune_outputs=True,
                            media_roots=[str(tmp / "media"), str(out)])
    with ThreadServer(settings, FakeRenderer(0.001)) as srv, srv.client() as c:
        first = _run(c, extend(media))
        made = first["result"]["media"][0]
        time.sleep(1.6)
        # a later job on a timeline that holds the first result (a take cut in after clip B)
        tl = two_clip_timeline(media, CARPHONE[1])
        tl.tracks[0].append(otio.schema.Clip(
            name="take 1", source_range=otio.opentime.TimeRange(otio.opentime.RationalTime(0, 29.97),
                                                                otio.opentime.RationalTime(5, 29.97)),
            media_reference=otio.schema.ExternalReference(f"file://{made}")))
        second = _run(c, request_json(tl, operation="extend", track=0, frame=10, side="tail", frames=5))
        assert c.get(f"/v1/jobs/{first['id']}").status_code == 404  # the record went
        assert os.path.isfile(made)  # its media stays: the kept job's request names it
        second_dir = out / second["id"]
        time.sleep(1.6)
        third = _run(c, extend(media))
        assert c.get(f"/v1/jobs/{second['id']}").status_code == 404
        assert not second_dir.exists()  # nothing named the second job's media: its folder went
        assert (out / third["id"]).is_dir()


def test_lists_never_read_request_bodies(env):
    tmp, media = env
    with ThreadServer(settings_for(tmp, max_body_bytes=4_000_000), FakeRenderer(0.001)) as srv, srv.client() as c:
        ids = [_run(c, _padded(media, 1_000_000))["id"] for _ in range(4)]
        listed = c.get("/v1/jobs")
        assert listed.status_code == 200 and [j["id"] for j in listed.json()["jobs"]] == ids[::-1]
        assert len(listed.content) < 20_000, len(listed.content)  # 4 MB of requests, a few kB of list
        assert len(c.get(f"/v1/jobs/{ids[0]}").content) < 5_000
        # what the store read for the list and for one record: no request text
        assert all(row.request == "" for row in srv.manager.store.list(limit=10))
        assert srv.manager.store.get(ids[0]).request == ""


def test_batch_items_stay_while_their_batch_runs_and_it_reads_the_same_once_they_go(tmp_path):
    from tests.serverutil import ServerProcess
    from tests.test_batch import storyboard

    media = copy_media(tmp_path / "media", CARPHONE[0])
    body = {"timeline": json.loads(otio.adapters.write_to_string(storyboard(media, tmp_path / "media" / "gone.mp4"),
                                                                 "otio_json")),
            "fill_gaps_up_to": 12, "engine": "classical"}
    env = {"SHOTFORGE_KEEP_JOBS_DAYS": str(0.02 / DAY)}  # each item finishes after the one before is 0.02 s old
    with ServerProcess(tmp_path / "out", env=env) as srv, srv.client() as c:
        batch_id = c.post("/v1/batches", json=body).json()["id"]
        deadline = time.monotonic() + 60  # without the rule, it never finishes
        while (batch := c.get(f"/v1/batches/{batch_id}").json())["state"] != "done":
            assert time.monotonic() < deadline, batch
            time.sleep(0.2)
        states = [(i["key"], i["state"], (i["error"] or {}).get("code")) for i in batch["items"]]
        assert states == [("fill_gap V1 55", "done", None), ("extend tail V1 65", "done", None),
                          ("extend tail V1 160", "failed", "media_missing"), ("generate V1 125-137", "done", None)]
        assert len(batch["result"]["placements"]) == 3  # every item's result: none was pruned mid-batch
        time.sleep(0.1)
        later = _run(c, request_json(two_clip_timeline(media, CARPHONE[1]), operation="fill_gap", track=0, frame=45))
        assert [j["id"] for j in c.get("/v1/jobs").json()["jobs"]] == [later["id"]]  # the items' records went
        again = c.get(f"/v1/batches/{batch_id}").json()
        assert [(i["key"], i["state"], (i["error"] or {}).get("code")) for i in again["items"]] == states
        assert again["result"] == batch["result"]


def test_the_takes_list_leaves_recipes_request_timelines_unread(env):
    from server.takes import NOT_LISTED

    tmp, media = env
    with ThreadServer(settings_for(tmp, max_body_bytes=4_000_000)) as srv, srv.client() as c:  # the real renderer
        tl = two_clip_timeline(media, CARPHONE[1])
        tl.name = "reel 9"
        tl.metadata["notes"] = base64.b64encode(os.urandom(750_000)).decode()  # 1 MB the recipe keeps
        job = _run(c, request_json(tl, operation="fill_gap", track=0, frame=45))
        (take_id,) = job["result"]["takes"]
        listed = c.get("/v1/takes", params={"timeline": "reel 9"})
        assert [t["id"] for t in listed.json()["takes"]] == [take_id]
        assert len(listed.content) < 5_000, len(listed.content)
        (row,) = srv.manager.takes.list(timeline="reel 9")
        assert row[0].request == NOT_LISTED  # what the store read for the list
        full, _, _ = srv.manager.takes.get(take_id)
        assert len(full.request) > 750_000 and "reel 9" in full.request_text()  # one take: its whole recipe


def test_pruned_outputs_keep_a_batch_items_media_its_result_names(tmp_path):
    """A finished batch's result.otio names its items' media (in <batch>/items/): pruning the item
    records with prune_outputs must not delete media a kept batch result still references."""
    from server.batch import Batches
    from server.jobs import JobManager, JobRow, JobStore
    from server.retention import Retention

    store = JobStore(tmp_path / "jobs.sqlite")
    manager = JobManager(store, tmp_path / "out", locate_media=lambda *a: "", workers=0)
    batches = Batches(manager)
    batch_dir = tmp_path / "out" / "batch-1"
    item_dirs = [batch_dir / "items" / f"00{n}-item" for n in range(2)]
    for n, folder in enumerate(item_dirs):
        folder.mkdir(parents=True)
        (folder / "take.mov").write_bytes(b"frames")
        store.insert(JobRow(id=f"job-{n}", state="done", progress=1.0, stage="done", error=None, result=None,
                            operation="fill_gap", description="", source=f"batch:batch-1:item {n}",
                            out_dir=str(folder), base_dir=None, request="{}", meta={"batch": "batch-1"}, created=n,
                            started=n, finished=n, updated=n, version=1))
    with store.locked() as db:
        db.execute("INSERT INTO batches (id, name, out_dir, timeline, options, items, problems, state,"
                   " created) VALUES ('batch-1', 'b', ?, '{}', '{}', '[]', '[]', 'done', 0)",
                   (str(batch_dir),))
    alone = tmp_path / "out" / "job-9"  # a plain job's folder, named by nothing kept: it goes
    alone.mkdir()
    store.insert(JobRow(id="job-9", state="done", progress=1.0, stage="done", error=None, result=None,
                        operation="fill_gap", description="", source="http", out_dir=str(alone), base_dir=None,
                        request="{}", meta={}, created=2, started=2, finished=2, updated=2, version=1))
    newest = tmp_path / "out" / "job-10"
    store.insert(JobRow(id="job-10", state="done", progress=1.0, stage="done", error=None, result=None,
                        operation="fill_gap", description="", source="http", out_dir=str(newest), base_dir=None,
                        request="{}", meta={}, created=3, started=3, finished=3, updated=3, version=1))
    retention = Retention(manager, keep_days=1, keep_bytes=None, prune_outputs=True)
    assert sorted(retention.prune(now=10 * DAY)) == ["job-0", "job-1", "job-9"]
    assert all((folder / "take.mov").is_file() for folder in item_dirs)
    assert not alone.exists()
    assert batches.get("batch-1") is not None
    store.close()
