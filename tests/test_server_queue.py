"""The server's HTTP surface and queue mechanics, on a real uvicorn server in a thread.

The render itself is a fake here (it only sleeps per frame and honours the cancel flag) so the
queue, cancel, limits and safety checks are tested quickly and deterministically; the real
render path runs in tests/test_server.py.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from server.jobs import JobRow, JobStore
from server.paths import MediaPolicy, PathMapper
from server.settings import SettingsError, load_settings
from tests.serverutil import (CARPHONE, FAIL_PLAN, FAIL_RUN, HANG, FakeRenderer, ThreadServer, copy_media,
                              request_json, two_clip_timeline, wait_job)


@pytest.fixture
def env(tmp_path):
    media = copy_media(tmp_path / "media", CARPHONE[0])
    (tmp_path / "empty.toml").write_text("")
    return tmp_path, media


def settings_for(tmp_path: Path, **kw):
    kw.setdefault("output", str(tmp_path / "out"))
    kw.setdefault("media_roots", [str(tmp_path / "media")])
    return load_settings(tmp_path / "empty.toml", **kw)


def extend(media: Path, frames: int = 10, **extra) -> str:
    return request_json(two_clip_timeline(media, CARPHONE[1]), operation="extend", track=0, frame=10, side="tail",
                        frames=frames, **extra)


JSON = {"Content-Type": "application/json"}


def test_job_runs_to_done_with_ordered_events_and_downloads(env):
    tmp, media = env
    with ThreadServer(settings_for(tmp), FakeRenderer(0.01)) as srv, srv.client() as c:
        r = c.post("/v1/jobs", content=extend(media, 30), headers=JSON)
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        assert r.json()["events_url"] == f"/v1/jobs/{job_id}/events"
        from tests.serverutil import read_events

        events = read_events(c, job_id)
        states = [e["state"] for e in events]
        assert states[-1] == "done" and set(states) <= {"queued", "running", "done"}
        progress = [e["progress"] for e in events]
        assert progress == sorted(progress) and progress[-1] == 1.0
        assert len(events) >= 4  # several progress steps, not just the end
        job = c.get(f"/v1/jobs/{job_id}").json()
        assert job["state"] == "done" and job["error"] is None and job["operation"] == "extend"
        assert job["result"]["placements"][0]["record_frame"] == 40
        assert job["result"]["media"][0] == str(tmp / "out" / job_id / "fake.mov")
        got = c.get(job["result"]["media_urls"][0])
        assert got.status_code == 200 and got.content == b"not really a movie"
        assert c.get(f"/v1/jobs/{job_id}/media/1").json()["error"]["code"] == "media_not_found"
        listed = c.get("/v1/jobs").json()["jobs"]
        assert [j["id"] for j in listed] == [job_id]
        assert c.get("/v1/jobs", params={"state": "queued"}).json()["jobs"] == []
        assert c.get("/v1/jobs/nope-123").json()["error"]["code"] == "job_not_found"
        assert c.get("/v1/jobs/../../etc").status_code == 404


def test_cancel_queued_at_once_and_running_within_a_second(env):
    tmp, media = env
    renderer = FakeRenderer(0.05)
    with ThreadServer(settings_for(tmp), renderer) as srv, srv.client() as c:
        first = c.post("/v1/jobs", content=extend(media, 400), headers=JSON).json()["id"]
        second = c.post("/v1/jobs", content=extend(media, 10), headers=JSON).json()["id"]
        t0 = time.monotonic()
        r = c.delete(f"/v1/jobs/{second}")
        assert r.status_code == 200 and r.json()["state"] == "canceled"
        assert time.monotonic() - t0 < 0.5
        deadline = time.monotonic() + 5
        while c.get(f"/v1/jobs/{first}").json()["progress"] < 0.05:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        t0 = time.monotonic()
        r = c.delete(f"/v1/jobs/{first}")
        assert r.json()["state"] == "canceled", r.json()
        assert time.monotonic() - t0 < 1.0
        assert r.json()["error"]["code"] == "canceled"
        assert not (tmp / "out" / first).exists() and not (tmp / "out" / second).exists()
        assert renderer.runs == [str(tmp / "out" / first)]  # the canceled queued job never ran
        assert c.delete(f"/v1/jobs/{first}").json()["state"] == "canceled"  # idempotent


def test_a_cancel_the_engine_does_not_answer_cancels_after_the_grace_and_the_queue_goes_on(env):
    tmp, media = env
    renderer = FakeRenderer(0.01)
    with ThreadServer(settings_for(tmp, cancel_grace_s=4), renderer) as srv, srv.client() as c:
        hung = c.post("/v1/jobs", content=extend(media, 5, prompt=HANG), headers=JSON).json()["id"]
        assert renderer.hung.wait(5)
        after = c.post("/v1/jobs", content=extend(media, 5), headers=JSON).json()["id"]
        stuck = srv.manager._threads[0]
        assert c.delete(f"/v1/jobs/{hung}").json()["stage"] == "canceling"  # the answer waits 2 s for the stop
        assert c.get(f"/v1/jobs/{after}").json()["state"] == "queued"  # within the grace the worker is waited for
        job = wait_job(c, hung)
        assert job["state"] == "canceled" and "did not stop within 4 s" in job["error"]["message"]
        assert wait_job(c, after)["state"] == "done"  # a new worker took the queue
        assert stuck.is_alive() and stuck not in srv.manager._threads
        renderer.release.set()  # the load returns: the job it was for stays canceled, nothing of it is kept
        stuck.join(5)
        assert not stuck.is_alive() and len(srv.manager._threads) == 1
        job = c.get(f"/v1/jobs/{hung}").json()
        assert job["state"] == "canceled" and job["result"] is None
        assert not (tmp / "out" / hung).exists() and (tmp / "out" / after).is_dir()


def test_failures_are_recorded_and_leave_nothing(env):
    tmp, media = env
    with ThreadServer(settings_for(tmp), FakeRenderer(0.001)) as srv, srv.client() as c:
        job_id = c.post("/v1/jobs", content=extend(media, 5, prompt=FAIL_RUN), headers=JSON).json()["id"]
        from tests.serverutil import wait_job

        job = wait_job(c, job_id)
        assert job["state"] == "failed" and job["error"]["code"] == "internal_error"
        assert "engine exploded" in job["error"]["message"]
        assert not (tmp / "out" / job_id).exists()
        r = c.delete(f"/v1/jobs/{job_id}")
        assert r.status_code == 409 and r.json()["error"]["code"] == "job_finished"
        assert c.get(f"/v1/jobs/{job_id}/media/0").status_code == 409


def test_bounded_queue_answers_429_and_health_stays_responsive(env):
    tmp, media = env
    with ThreadServer(settings_for(tmp, max_queue=2), FakeRenderer(0.05)) as srv, srv.client() as c:
        ids = [c.post("/v1/jobs", content=extend(media, 100), headers=JSON).json()["id"]]
        deadline = time.monotonic() + 5
        while c.get(f"/v1/jobs/{ids[0]}").json()["state"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        ids += [c.post("/v1/jobs", content=extend(media, 5), headers=JSON).json()["id"] for _ in range(2)]
        r = c.post("/v1/jobs", content=extend(media, 5), headers=JSON)
        assert r.status_code == 429 and r.json()["error"]["code"] == "queue_full"
        assert r.headers["retry-after"]
        worst = 0.0
        for _ in range(20):
            t0 = time.monotonic()
            h = c.get("/v1/health")
            worst = max(worst, time.monotonic() - t0)
            assert h.status_code == 200 and h.json()["running"] == 1 and h.json()["queued"] == 2
        assert worst < 0.5
        for job_id in ids:
            c.delete(f"/v1/jobs/{job_id}")


@pytest.mark.parametrize("body, headers, status, code, words", [
    (b"{not json", JSON, 400, "malformed_otio", "not valid OTIO JSON"),
    (b'{"OTIO_SCHEMA": "Clip.1", "name": "x"}', JSON, 400, "malformed_otio", "no OTIO timeline"),
    (b"[1, 2", JSON, 400, "malformed_otio", "not valid OTIO JSON"),
    (b'{"a": 1}', {"Content-Type": "text/plain"}, 415, "unsupported_media_type", "application/json"),
])
def test_malformed_requests_are_refused(env, body, headers, status, code, words):
    tmp, _ = env
    with ThreadServer(settings_for(tmp), FakeRenderer()) as srv, srv.client() as c:
        r = c.post("/v1/jobs", content=body, headers=headers)
        assert r.status_code == status, r.text
        assert r.json()["error"]["code"] == code and words in r.json()["error"]["message"]
        assert c.get("/v1/jobs").json()["jobs"] == []  # nothing queued


def test_semantic_errors_and_limits(env):
    tmp, media = env
    with ThreadServer(settings_for(tmp, max_body_bytes=200_000, max_frames=500), FakeRenderer()) as srv, \
            srv.client() as c:
        import opentimelineio as otio

        bare = otio.adapters.write_to_string(two_clip_timeline(media, CARPHONE[1]), "otio_json")
        r = c.post("/v1/jobs", content=bare, headers=JSON)
        assert r.status_code == 400 and r.json()["error"]["code"] == "not_a_request"
        r = c.post("/v1/jobs", content=extend(media, 10, prompt=FAIL_PLAN), headers=JSON)
        assert r.status_code == 422 and r.json()["error"]["code"] == "no_clip_at_frame"
        r = c.post("/v1/jobs", content=extend(media, 10_000_000), headers=JSON)
        assert r.status_code == 422 and r.json()["error"]["code"] == "too_large"
        r = c.post("/v1/jobs", content=extend(media, 501), headers=JSON)
        assert r.status_code == 422 and "at most 500" in r.json()["error"]["message"]
        big = json.loads(extend(media, 10))
        big["metadata"]["padding"] = "x" * 300_000
        r = c.post("/v1/jobs", content=json.dumps(big), headers=JSON)
        assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"

        def chunks():  # no Content-Length: the limit holds for streamed bodies too
            for _ in range(30):
                yield b" " * 10_000
        r = c.post("/v1/jobs", content=chunks(), headers=JSON)
        assert r.status_code == 413
        assert c.get("/v1/jobs").json()["jobs"] == []


def test_media_outside_roots_traversal_and_symlinks_are_refused(env, tmp_path):
    tmp, media = env
    outside = copy_media(tmp / "elsewhere", CARPHONE[0])
    (tmp / "media" / "link.mp4").symlink_to(outside)
    cases = {
        str(tmp / "media" / ".." / "elsewhere" / CARPHONE[0]): (403, "media_path_traversal", "'..'"),
        (tmp / "media" / ".." / "elsewhere" / CARPHONE[0]).as_uri(): (403, "media_path_traversal", "'..'"),
        str(outside): (403, "media_outside_roots", "outside the server's media roots"),
        str(tmp / "media" / "link.mp4"): (403, "media_outside_roots", "outside"),
        "https://example.com/a.mp4": (403, "media_not_local", "not a local file"),
        "relative/a.mp4": (422, "media_path_relative", "relative"),
        str(tmp / "media" / "missing.mp4"): (422, "media_missing", "does not exist"),
        "Z:\\Footage\\a.mp4": (422, "media_not_mapped", "path_map"),
    }
    with ThreadServer(settings_for(tmp), FakeRenderer()) as srv, srv.client() as c:
        for url, (status, code, words) in cases.items():
            body = request_json(two_clip_timeline(media, CARPHONE[1], url=url), operation="extend", frame=10,
                                side="tail", frames=5)
            r = c.post("/v1/jobs", content=body, headers=JSON)
            assert (r.status_code, r.json()["error"]["code"]) == (status, code), (url, r.text)
            assert words in r.json()["error"]["message"], r.text
        assert c.get("/v1/jobs").json()["jobs"] == []


def test_token_required_off_loopback_and_checked(env):
    tmp, media = env
    with pytest.raises(SettingsError, match="requires a token"):
        settings_for(tmp, host="0.0.0.0").check_safe()
    long = "k" * 16
    with pytest.raises(SettingsError, match="media-root"):
        load_settings(tmp / "empty.toml", host="0.0.0.0", token=long, output=str(tmp / "o")).check_safe()
    settings_for(tmp, host="0.0.0.0", token=long).check_safe()
    with pytest.raises(SettingsError, match="at least 16 characters \\(this one has 15\\)"):
        settings_for(tmp, host="0.0.0.0", token=long[1:]).check_safe()
    settings_for(tmp, token="t").check_safe()  # loopback: any token
    with ThreadServer(settings_for(tmp, token="s3cret"), FakeRenderer(0.001)) as srv:
        with srv.client() as anon:
            assert anon.get("/v1/health").json()["auth"] is True
            r = anon.get("/v1/jobs")
            assert r.status_code == 401 and r.json()["error"]["code"] == "token_required"
            assert r.headers["www-authenticate"] == "Bearer"
            r = anon.post("/v1/jobs", content=extend(media), headers=JSON)
            assert r.status_code == 401
        with srv.client("wrong") as bad:
            r = bad.get("/v1/engines")
            assert r.status_code == 403 and r.json()["error"]["code"] == "token_invalid"
        with srv.client("s3cret") as good:
            assert good.post("/v1/jobs", content=extend(media), headers=JSON).status_code == 202


def test_cors_and_host_checks(env):
    tmp, media = env
    with ThreadServer(settings_for(tmp), FakeRenderer(0.001)) as srv, srv.client() as c:
        r = c.get("/v1/jobs", headers={"Origin": "null"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "origin_not_allowed"
        r = c.post("/v1/jobs", content=extend(media), headers={**JSON, "Origin": "https://evil.example"})
        assert r.status_code == 403
        r = c.get("/v1/health", headers={"Host": "evil.example:8765"})  # DNS rebinding
        assert r.status_code == 400 and r.json()["error"]["code"] == "host_not_allowed"
        assert c.get("/v1/health", headers={"Origin": srv.url}).status_code == 200  # /docs page itself
    with ThreadServer(settings_for(tmp, cors_origins=["null"]), FakeRenderer(0.001)) as srv, srv.client() as c:
        pre = c.options("/v1/jobs", headers={"Origin": "null", "Access-Control-Request-Method": "POST",
                                             "Access-Control-Request-Headers": "content-type,authorization"})
        assert pre.status_code == 200 and pre.headers["access-control-allow-origin"] == "null"
        assert "POST" in pre.headers["access-control-allow-methods"]
        r = c.post("/v1/jobs", content=extend(media), headers={**JSON, "Origin": "null"})
        assert r.status_code == 202 and r.headers["access-control-allow-origin"] == "null"
        r = c.get("/v1/jobs", headers={"Origin": "https://evil.example"})
        assert r.status_code == 403


def test_path_mapping_both_ways(env):
    tmp, media = env
    settings = settings_for(tmp, path_map=[f"Z:\\Footage={tmp / 'media'}", f"/Volumes/Out={tmp / 'out'}"])
    with ThreadServer(settings, FakeRenderer(0.001)) as srv, srv.client() as c:
        url = "file:///Z:/Footage/" + CARPHONE[0]
        body = request_json(two_clip_timeline(media, CARPHONE[1], url=url), operation="extend", frame=10,
                            side="tail", frames=5)
        r = c.post("/v1/jobs", content=body, headers=JSON)
        assert r.status_code == 202, r.text
        from tests.serverutil import wait_job

        job = wait_job(c, r.json()["id"])
        assert job["result"]["media"] == [f"/Volumes/Out/{job['id']}/fake.mov"]
        assert job["result"]["placements"][0]["media"] == f"/Volumes/Out/{job['id']}/fake.mov"
    mapper = PathMapper([("Z:\\Footage", "/mnt/footage"), ("/Volumes/Media", "/mnt/media"),
                         ("\\\\nas\\share", "/mnt/nas")])
    assert mapper.to_server("z:/footage/A/b.mov") == "/mnt/footage/A/b.mov"
    assert mapper.to_server("Z:\\FootageOld\\b.mov") == "Z:\\FootageOld\\b.mov"  # whole components only
    assert mapper.to_editor("/mnt/footage/r/x.mov") == "Z:\\Footage\\r\\x.mov"
    assert mapper.to_editor("/mnt/media/x.mov") == "/Volumes/Media/x.mov"
    assert mapper.reference_to_editor("file:///mnt/footage/a%20b.mov") == "file:///Z:/Footage/a%20b.mov"
    policy = MediaPolicy([tmp / "media"], PathMapper([("\\\\nas\\share", str(tmp / "media"))]))
    assert policy.locate("file://nas/share/" + CARPHONE[0]) == str((tmp / "media" / CARPHONE[0]).resolve())


def test_settings_from_environment_and_config_file(tmp_path, monkeypatch):
    config = tmp_path / "server.toml"
    config.write_text('port = 9100\ntoken = "from-file"\ncors_origins = ["null"]\n'
                      '[[path_map]]\neditor = "Z:\\\\F"\nserver = "/mnt/f"\n')
    monkeypatch.setenv("SHOTFORGE_PORT", "9200")
    monkeypatch.setenv("SHOTFORGE_MEDIA_ROOTS", os.pathsep.join(["/a", "/b"]))
    s = load_settings(config)
    assert s.port == 9200 and s.token_value == "from-file" and s.cors_origins == ["null"]
    assert [str(p) for p in s.media_roots] == ["/a", "/b"] and s.path_map[0].editor == "Z:\\F"
    assert load_settings(config, port=9300).port == 9300  # flags win
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(tmp_path / "missing.toml")


def test_running_jobs_of_a_dead_server_are_marked_interrupted(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite")
    now = time.time()
    for job_id, state in (("a", "running"), ("b", "queued"), ("c", "done")):
        store.insert(JobRow(id=job_id, state=state, progress=0.5, stage=state, error=None, result=None,
                            operation="extend", description="", source="http", out_dir=str(tmp_path / job_id),
                            base_dir=None, request="{}", meta={}, created=now, started=None, finished=None,
                            updated=now, version=1))
    assert [r.id for r in store.mark_interrupted()] == ["a"]
    assert store.get("a").state == "failed" and store.get("a").error["code"] == "interrupted"
    assert store.get("b").state == "queued" and store.get("c").state == "done"
    assert store.claim_next().id == "b" and store.claim_next() is None


def test_openapi_documents_every_route_with_typed_models(env):
    tmp, _ = env
    with ThreadServer(settings_for(tmp), FakeRenderer()) as srv, srv.client() as c:
        spec = c.get("/openapi.json").json()
        assert c.get("/docs").status_code == 200
        paths = spec["paths"]
        for path, methods in {"/v1/health": {"get"}, "/v1/engines": {"get"}, "/v1/jobs": {"get", "post"},
                              "/v1/jobs/{job_id}": {"get", "delete"}, "/v1/jobs/{job_id}/events": {"get"},
                              "/v1/jobs/{job_id}/media/{n}": {"get"}, "/v1/jobs/{job_id}/otio": {"get"}}.items():
            assert methods <= set(paths[path]), path
        schemas = spec["components"]["schemas"]
        assert {"Job", "JobCreated", "JobList", "JobResult", "Placement", "ErrorResponse", "Health",
                "EngineList"} <= set(schemas)
        assert set(schemas["Job"]["properties"]["state"]["enum"]) == {"queued", "running", "done", "failed",
                                                                     "canceled"}
        post = paths["/v1/jobs"]["post"]
        assert "application/json" in post["requestBody"]["content"]
        assert {"202", "400", "413", "422", "429"} <= set(post["responses"])
        engines = c.get("/v1/engines").json()["engines"]
        assert "classical" in [e["name"] for e in engines]
        assert all(isinstance(e["usable"], bool) and e["reason"] for e in engines)


def test_wrong_tokens_are_throttled_per_address_with_growing_back_off(env):
    import httpx

    tmp, media = env
    token = "a-token-of-24-characters"
    with ThreadServer(settings_for(tmp, token=token), FakeRenderer(0.001)) as srv:
        with srv.client("guess-1") as bad, srv.client(token) as good:
            for _ in range(2):  # a mistyped token or two costs nothing
                assert bad.get("/v1/jobs").status_code == 403
                assert good.get("/v1/jobs").status_code == 200  # and a right one clears the count
            assert [bad.get("/v1/jobs").status_code for _ in range(2)] == [403, 403]
            waits = []
            for n in range(3):
                assert bad.get("/v1/jobs").status_code == 403  # the 3rd wrong one in a row, then 4th, 5th
                for client in (bad, good):  # locked out: not even a right token is compared
                    r = client.get("/v1/jobs")
                    assert r.status_code == 429, r.text
                    assert r.json()["error"]["code"] == "too_many_wrong_tokens"
                    assert "try again in" in r.json()["error"]["message"]
                waits.append(int(r.headers["retry-after"]))
                if n < 2:
                    time.sleep(waits[-1] + 0.05)
            assert waits == [1, 2, 4], waits
            # another client address (all of 127/8 is loopback) is not locked out
            other = httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {token}"},
                                 transport=httpx.HTTPTransport(local_address="127.0.0.2"), timeout=10)
            with other:
                assert other.get("/v1/jobs").status_code == 200
            assert bad.get("/v1/health").status_code == 200  # health needs no token: never throttled
            time.sleep(waits[-1] + 0.05)
            assert good.get("/v1/jobs").status_code == 200  # after the lock-out the right token works
            assert bad.get("/v1/jobs").status_code == 403  # and the count started again
