"""Idempotent re-renders and batches: a client that times out and retries ``POST
/v1/takes/{id}/rerender`` or ``POST /v1/batches`` with the same ``Idempotency-Key`` gets its first
job or batch back, on a real uvicorn server on 127.0.0.1 rendering with the classical engine."""

from __future__ import annotations

import json
import sqlite3

import opentimelineio as otio
import pytest

from tests.serverutil import at_once, CARPHONE, ThreadServer, request_json, two_clip_timeline, wait_job
from tests.test_server_queue import JSON, env, settings_for  # noqa: F401 (env is a fixture)

SLOT = {"timeline": "reel 1", "track": 0, "record_frame": 55, "frames": 10}


def _timeline(media) -> otio.schema.Timeline:
    tl = two_clip_timeline(media, CARPHONE[1], clip_frames=55, gap=10)  # V1: A 0-54 | gap 55-64 | B 65-119
    tl.name = "reel 1"
    return tl


def _take(c, media) -> str:
    r = c.post("/v1/jobs", content=request_json(_timeline(media), operation="fill_gap", track=0, frame=60),
               headers=JSON)
    assert r.status_code == 202, r.text
    job = wait_job(c, r.json()["id"], timeout=60)
    assert job["state"] == "done", job
    (take_id,) = job["result"]["takes"]
    return take_id


def _jobs(c) -> list[str]:
    return [j["id"] for j in c.get("/v1/jobs").json()["jobs"]]


def _finished(c, job_ids) -> None:
    for job_id in job_ids:
        assert wait_job(c, job_id, timeout=60)["state"] == "done"


def test_a_retried_rerender_gets_its_first_job_and_makes_one_take(env):
    tmp, media = env
    with ThreadServer(settings_for(tmp)) as srv, srv.client() as c:
        old = _take(c, media)
        url, key = f"/v1/takes/{old}/rerender", {"Idempotency-Key": "rerender-3f9c2a1e"}
        first = c.post(url, json={"seed": 8}, headers=key)
        assert first.status_code == 202, first.text
        assert "idempotent-replayed" not in first.headers
        again = c.post(url, json={"seed": 8}, headers=key)
        assert again.status_code == 200, again.text
        assert again.headers["idempotent-replayed"] == "true"
        assert {**again.json(), "state": "queued"} == first.json() and again.json()["rerender_of"] == old
        job_id = first.json()["id"]
        done = wait_job(c, job_id, timeout=60)
        assert done["state"] == "done", done
        after = c.post(url, json={"seed": 8}, headers=key)  # after it finished too: the job as it is now
        assert after.status_code == 200 and after.json() == {**first.json(), "state": "done"}
        (new,) = done["result"]["takes"]
        assert [t["id"] for t in c.get("/v1/takes", params=SLOT).json()["takes"]] == [new, old]
        assert len(_jobs(c)) == 2  # the take's own job and the one re-render

        plain = [c.post(url, json={"seed": 8}) for _ in range(2)]  # no key: a new take each time
        assert [r.status_code for r in plain] == [202, 202]
        assert len({r.json()["id"] for r in plain} | {job_id}) == 3
        _finished(c, [r.json()["id"] for r in plain])
        assert len(c.get("/v1/takes", params=SLOT).json()["takes"]) == 4
        assert len(_jobs(c)) == 4


def test_a_rerender_key_reused_for_another_body_or_take_is_refused(env):
    tmp, media = env
    with ThreadServer(settings_for(tmp)) as srv, srv.client() as c:
        old = _take(c, media)
        key = {"Idempotency-Key": "order-42"}
        first = c.post(f"/v1/takes/{old}/rerender", json={"seed": 8}, headers=key).json()
        new = wait_job(c, first["id"], timeout=60)["result"]["takes"][0]
        # the new take was made from the same recipe with seed 8: re-rendering it with seed 8 makes the same request
        # text as the first re-render, yet it is another take: the key is refused, not replayed
        for take, body in ((old, {"seed": 9}), (old, {"seed": 8, "prompt": "a bridge"}), (new, {"seed": 8})):
            r = c.post(f"/v1/takes/{take}/rerender", json=body, headers=key)
            assert r.status_code == 409, (take, body, r.text)
            error = r.json()["error"]
            assert error["code"] == "idempotency_key_reused"
            assert "'order-42'" in error["message"] and first["id"] in error["message"]
            assert "different request body" in error["message"]
        # a key a job submit used is not a re-render's either
        submitted = c.post("/v1/jobs", content=request_json(_timeline(media), operation="fill_gap", track=0,
                                                            frame=60, seed=3),
                           headers={**JSON, "Idempotency-Key": "submit-1"}).json()
        r = c.post(f"/v1/takes/{old}/rerender", json={"seed": 8}, headers={"Idempotency-Key": "submit-1"})
        assert r.status_code == 409 and submitted["id"] in r.json()["error"]["message"], r.text
        for bad in ("x" * 256, "with space"):
            r = c.post(f"/v1/takes/{old}/rerender", json={"seed": 8}, headers={"Idempotency-Key": bad})
            assert r.status_code == 400 and r.json()["error"]["code"] == "bad_idempotency_key", (bad, r.text)
        # a refused re-render does not use up its key
        r = c.post(f"/v1/takes/{old}/rerender", json={"frames": 20}, headers={"Idempotency-Key": "fixed-later"})
        assert r.status_code == 422 and r.json()["error"]["code"] == "slot_change"
        fixed = c.post(f"/v1/takes/{old}/rerender", json={"seed": 5}, headers={"Idempotency-Key": "fixed-later"})
        assert fixed.status_code == 202, fixed.text
        _finished(c, [submitted["id"], fixed.json()["id"]])
        assert len(c.get("/v1/takes", params=SLOT).json()["takes"]) == 4  # the first, seed 8, the submit, seed 5
        assert len(_jobs(c)) == 4


def test_a_rerender_key_answers_while_its_job_record_stays_and_goes_with_it(env):
    tmp, media = env
    # every finished record but the newest goes at once (each job finishes well after the one before)
    with ThreadServer(settings_for(tmp, keep_jobs_days=0.02 / 86400)) as srv, srv.client() as c:
        old = _take(c, media)
        key = {"Idempotency-Key": "kept-while-its-job-is"}
        first = c.post(f"/v1/takes/{old}/rerender", json={"seed": 8}, headers=key).json()
        wait_job(c, first["id"], timeout=60)
        assert _jobs(c) == [first["id"]] and c.get(f"/v1/takes/{old}").status_code == 404  # the take went with its job
        r = c.post(f"/v1/takes/{old}/rerender", json={"seed": 8}, headers=key)
        assert r.status_code == 200 and r.json() == {**first, "state": "done"}, r.text
        later = _take(c, media)  # the re-render's record goes now, and its key with it
        assert c.get(f"/v1/jobs/{first['id']}").status_code == 404
        r = c.post(f"/v1/takes/{later}/rerender", json={"seed": 9}, headers=key)
        assert r.status_code == 202 and r.json()["id"] != first["id"], r.text
        _finished(c, [r.json()["id"]])


def _batch_body(tmp, media, **options) -> dict:
    timeline = json.loads(otio.adapters.write_to_string(_timeline(media), "otio_json"))
    return {"timeline": timeline, "fill_gaps_up_to": 12, "engine": "classical", **options}


def _batch_count(srv) -> int:
    with srv.manager.store.locked() as db:
        return db.execute("SELECT COUNT(*) FROM batches").fetchone()[0]


def _batch_done(c, batch_id) -> dict:
    for item in c.get(f"/v1/batches/{batch_id}").json()["items"]:
        assert wait_job(c, item["job_id"], timeout=60)["state"] == "done"
    batch = c.get(f"/v1/batches/{batch_id}").json()
    assert batch["state"] == "done", batch
    return batch


def test_concurrent_retries_of_a_batch_make_one_batch_and_a_new_key_or_none_makes_another(env):
    tmp, media = env
    body = _batch_body(tmp, media)
    with ThreadServer(settings_for(tmp)) as srv:
        answers: list = []

        def post():
            with srv.client() as own:
                r = own.post("/v1/batches", json=body, headers={"Idempotency-Key": "batch-burst-7"})
                answers.append((r.status_code, r.json()["id"], r.headers.get("idempotent-replayed")))

        at_once(post)
        assert len(answers) == 6
        assert {batch_id for _, batch_id, _ in answers} == {answers[0][1]}, answers
        assert sorted((status, replayed) for status, _, replayed in answers) == [(200, "true")] * 5 + [(202, None)]
        with srv.client() as c:
            first = _batch_done(c, answers[0][1])
            assert first["url"] == f"/v1/batches/{answers[0][1]}"
            assert _batch_count(srv) == 1 and len(_jobs(c)) == 1  # one batch, its one item rendered once
            r = c.post("/v1/batches", json=body, headers={"Idempotency-Key": "batch-burst-7"})
            assert r.status_code == 200 and r.json() == first  # once done too: the batch as it is now
            other = c.post("/v1/batches", json=body, headers={"Idempotency-Key": "another-key"})
            plain = c.post("/v1/batches", json=body)
            assert [other.status_code, plain.status_code] == [202, 202]
            assert len({first["id"], other.json()["id"], plain.json()["id"]}) == 3
            _batch_done(c, other.json()["id"])
            _batch_done(c, plain.json()["id"])
            assert _batch_count(srv) == 3 and len(_jobs(c)) == 3


def test_a_batch_key_reused_for_another_body_is_refused_and_a_refused_batch_keeps_its_key(env):
    tmp, media = env
    body = _batch_body(tmp, media)
    with ThreadServer(settings_for(tmp)) as srv, srv.client() as c:
        key = {"Idempotency-Key": "storyboard-1"}
        refused = c.post("/v1/batches", json={**body, "tracks": [5]}, headers=key)
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "no_such_track"
        first = c.post("/v1/batches", json=body, headers=key)
        assert first.status_code == 202, first.text
        batch_id = first.json()["id"]
        for other in ({**body, "fill_gaps_up_to": 11}, {**body, "tracks": [0]}):
            r = c.post("/v1/batches", json=other, headers=key)
            assert r.status_code == 409, r.text
            error = r.json()["error"]
            assert error["code"] == "idempotency_key_reused"
            assert f"'storyboard-1' was already used for batch {batch_id}" in error["message"]
        r = c.post("/v1/batches", content=b"{not json", headers={**JSON, **key})  # checked before it is read
        assert r.status_code == 409 and r.json()["error"]["code"] == "idempotency_key_reused"
        r = c.post("/v1/batches", json=body, headers={"Idempotency-Key": "x" * 256})
        assert r.status_code == 400 and r.json()["error"]["code"] == "bad_idempotency_key"
        _batch_done(c, batch_id)
        assert _batch_count(srv) == 1 and len(_jobs(c)) == 1


_OLD_BATCHES = """CREATE TABLE batches (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL,
    name TEXT NOT NULL, out_dir TEXT NOT NULL, timeline TEXT NOT NULL, options TEXT NOT NULL, items TEXT NOT NULL,
    problems TEXT NOT NULL, state TEXT NOT NULL, result TEXT, created REAL NOT NULL)"""


@pytest.mark.parametrize("old", [True, False], ids=["database-from-before-keys", "new-database"])
def test_batch_keys_survive_a_restart_and_an_old_database_keeps_working(env, old):
    tmp, media = env
    settings = settings_for(tmp)
    body, key = _batch_body(tmp, media), {"Idempotency-Key": "kept-1"}
    if old:  # a database written before batches had keys, holding a finished batch
        settings.database_dir.mkdir(parents=True)
        with sqlite3.connect(settings.database_dir / "jobs.sqlite") as db:
            db.execute(_OLD_BATCHES)
            db.execute("INSERT INTO batches (id, name, out_dir, timeline, options, items, problems, state, result,"
                       " created) VALUES ('batch-20250101-000000-abcdef', 'old', ?, ?, '{}', '[]', '[]', 'done',"
                       " ?, 0)", (str(tmp / "out" / "old"), json.dumps(body["timeline"]),
                                  json.dumps({"otio": "", "placements": [], "items": [], "failed": []})))
    with ThreadServer(settings) as srv, srv.client() as c:
        batch_id = c.post("/v1/batches", json=body, headers=key).json()["id"]
        first = _batch_done(c, batch_id)
    with ThreadServer(settings) as srv, srv.client() as c:  # the same data folder
        r = c.post("/v1/batches", json=body, headers=key)
        assert r.status_code == 200 and r.json() == first
        assert c.post("/v1/batches", json={**body, "fill_gaps_up_to": 3}, headers=key).status_code == 409
        if old:
            kept = c.get("/v1/batches/batch-20250101-000000-abcdef")
            assert kept.status_code == 200 and kept.json()["state"] == "done", kept.text
        assert _batch_count(srv) == (2 if old else 1)
