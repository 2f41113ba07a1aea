"""Idempotent submits: a client that times out and retries POST /v1/jobs with the same
``Idempotency-Key`` gets its first job back, on a real uvicorn server on 127.0.0.1."""

from __future__ import annotations


from tests.serverutil import at_once, FakeRenderer, ThreadServer, wait_job
from tests.test_server_queue import JSON, env, extend, settings_for  # noqa: F401 (env is a fixture)


def test_same_key_same_body_returns_the_first_job(env):
    tmp, media = env
    renderer = FakeRenderer(0.001)
    with ThreadServer(settings_for(tmp), renderer) as srv, srv.client() as c:
        key = {"Idempotency-Key": "3f9c2a1e-submit-1"}
        first = c.post("/v1/jobs", content=extend(media), headers={**JSON, **key})
        assert first.status_code == 202, first.text
        assert "idempotent-replayed" not in first.headers
        again = c.post("/v1/jobs", content=extend(media), headers={**JSON, **key})
        assert again.status_code == 200, again.text
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json()["id"] == first.json()["id"]
        wait_job(c, first.json()["id"], timeout=30)
        done = c.post("/v1/jobs", content=extend(media), headers={**JSON, **key})  # after it finished too
        assert done.status_code == 200 and done.json() == {**first.json(), "state": "done"}
        other = c.post("/v1/jobs", content=extend(media), headers={**JSON, "Idempotency-Key": "another-key"})
        assert other.status_code == 202 and other.json()["id"] != first.json()["id"]
        plain = c.post("/v1/jobs", content=extend(media), headers=JSON)  # no key: a new job each time
        assert plain.status_code == 202
        ids = {j["id"] for j in c.get("/v1/jobs").json()["jobs"]}
        assert ids == {first.json()["id"], other.json()["id"], plain.json()["id"]}
        for job_id in ids:
            wait_job(c, job_id, timeout=30)
        assert len(renderer.runs) == 3


def test_same_key_different_body_is_refused(env):
    tmp, media = env
    with ThreadServer(settings_for(tmp), FakeRenderer(0.001)) as srv, srv.client() as c:
        key = {"Idempotency-Key": "order-42"}
        first = c.post("/v1/jobs", content=extend(media, frames=10), headers={**JSON, **key}).json()
        r = c.post("/v1/jobs", content=extend(media, frames=11), headers={**JSON, **key})
        assert r.status_code == 409, r.text
        error = r.json()["error"]
        assert error["code"] == "idempotency_key_reused"
        assert "'order-42'" in error["message"] and first["id"] in error["message"]
        assert "different request body" in error["message"]
        assert [j["id"] for j in c.get("/v1/jobs").json()["jobs"]] == [first["id"]]


def test_a_refused_submit_does_not_use_up_its_key_and_bad_keys_are_refused(env):
    tmp, media = env
    with ThreadServer(settings_for(tmp), FakeRenderer(0.001)) as srv, srv.client() as c:
        key = {"Idempotency-Key": "retry-after-fix"}
        r = c.post("/v1/jobs", content=b'{"OTIO_SCHEMA": "Timeline.1", "tracks": ', headers={**JSON, **key})
        assert r.status_code == 400 and r.json()["error"]["code"] == "malformed_otio"
        r = c.post("/v1/jobs", content=extend(media), headers={**JSON, **key})  # the fixed request, same key
        assert r.status_code == 202, r.text
        for bad in ("x" * 256, "with space", ""):
            r = c.post("/v1/jobs", content=extend(media), headers={**JSON, "Idempotency-Key": bad})
            assert r.status_code == 400, (bad, r.text)
            assert r.json()["error"]["code"] == "bad_idempotency_key" and "1 to 255" in r.json()["error"]["message"]
        assert len(c.get("/v1/jobs").json()["jobs"]) == 1


def test_concurrent_retries_make_one_job_and_the_key_survives_a_restart(env):
    tmp, media = env
    settings = settings_for(tmp)
    key = {"Idempotency-Key": "burst-7"}
    with ThreadServer(settings, FakeRenderer(0.001)) as srv:
        answers: list = []

        def post():
            with srv.client() as own:
                r = own.post("/v1/jobs", content=extend(media), headers={**JSON, **key})
                answers.append((r.status_code, r.json()["id"]))

        at_once(post)
        assert len(answers) == 6
        assert {job_id for _, job_id in answers} == {answers[0][1]}, answers
        assert sorted(status for status, _ in answers) == [200] * 5 + [202], answers
        with srv.client() as c:
            assert len(c.get("/v1/jobs").json()["jobs"]) == 1
            wait_job(c, answers[0][1], timeout=30)
    with ThreadServer(settings, FakeRenderer(0.001)) as srv, srv.client() as c:  # the same data folder
        r = c.post("/v1/jobs", content=extend(media), headers={**JSON, **key})
        assert r.status_code == 200 and r.json()["id"] == answers[0][1] and r.json()["state"] == "done"
