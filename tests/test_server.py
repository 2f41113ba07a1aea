"""The render server end to end: ``shotforge serve`` in a subprocess on a free loopback port,
driven over HTTP, rendering real clips with the real planner, media I/O and classical engine."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import opentimelineio as otio
import pytest

from tests.serverutil import (BIKES, CARPHONE, REPO, ServerProcess, copy_media, read_events, request_json,
                              two_clip_timeline, wait_job)

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def media(tmp_path):
    root = tmp_path / "media"
    return root, copy_media(root, CARPHONE[0]), copy_media(root, BIKES[0])


def carphone_requests(clip: Path) -> dict[str, str]:
    """One small request per operation on V1: A = media frames 0-54 at record 0-54, a gap at 55-64,
    B = media frames 65-119 (the file's last) at record 65-119, so B's tail has no handles."""
    tl = two_clip_timeline(clip, CARPHONE[1], clip_frames=55, gap=10)
    return {
        "extend": request_json(tl, operation="extend", track=0, frame=70, side="tail", frames=12),
        "fill_gap": request_json(tl, operation="fill_gap", track=0, frame=60),
        "outpaint": request_json(tl, operation="outpaint", track=0, frame=10, canvas=[144, 256]),
        "generate": request_json(tl, operation="generate", track=0, range=[130, 142], prompt="a car at dusk"),
    }


def slow_request(clip: Path, frames: int = 40) -> str:
    """An outpaint of the 640x272 bikes clip to 1280x720: a few seconds of real rendering."""
    tl = two_clip_timeline(clip, BIKES[1], clip_frames=frames, gap=10, available=250)
    return request_json(tl, operation="outpaint", track=0, frame=5, canvas=[1280, 720])


def media_frames(path: str) -> int:
    with av.open(path) as container:
        return sum(1 for _ in container.decode(video=0))


EXPECTED = {  # operation: (track, record_frame, frames)
    "extend": (0, 120, 12),
    "fill_gap": (0, 55, 10),
    "outpaint": (1, 0, 55),
    "generate": (0, 130, 12),  # placement auto: V1 is free past its last clip
}


def test_each_operation_runs_to_done_with_progress_events_in_order(tmp_path, media):
    root, carphone, bikes = media
    out = tmp_path / "out"
    with ServerProcess(out, "--media-root", str(root)) as srv, srv.client() as c:
        # A job in front keeps the four queued while their event streams connect.
        blocker = c.post("/v1/jobs", content=slow_request(bikes, 15), headers=JSON)
        assert blocker.status_code == 202, blocker.text
        ids, streams, threads = {}, {}, []
        for op, body in carphone_requests(carphone).items():
            r = c.post("/v1/jobs", content=body, headers=JSON)
            assert r.status_code == 202, r.text
            ids[op] = r.json()["id"]

            def follow(op=op, job_id=ids[op]):
                with srv.client() as own:
                    streams[op] = read_events(own, job_id)
            threads.append(threading.Thread(target=follow))
            threads[-1].start()
        for t in threads:
            t.join(120)
        for op, events in streams.items():
            states = [e["state"] for e in events]
            assert states[0] == "queued" and states[-1] == "done", (op, states)
            order = {"queued": 0, "running": 1, "done": 2}
            assert [order[s] for s in states] == sorted(order[s] for s in states), (op, states)
            progress = [e["progress"] for e in events]
            assert progress == sorted(progress) and progress[-1] == 1.0, (op, progress)
            assert len([s for s in states if s == "running"]) >= 2, (op, states)  # progress was reported
            job = events[-1]
            assert job["id"] == ids[op] and job["error"] is None and job["operation"] == op
            result = job["result"]
            (placement,) = result["placements"]
            assert (placement["track"], placement["record_frame"], placement["frames"]) == EXPECTED[op], placement
            (path,) = result["media"]
            assert Path(path).parent == out / ids[op] and path.endswith(".mov")
            assert media_frames(path) >= placement["source_in"] + placement["frames"]
            assert Path(result["otio"]).is_file() and (out / ids[op] / "job.json").is_file()
            download = c.get(result["media_urls"][0])
            assert download.status_code == 200 and download.content == Path(path).read_bytes()
            spliced = otio.adapters.read_from_string(c.get(result["otio_url"]).text, "otio_json")
            assert any(clip.media_reference.target_url.endswith(Path(path).name) for clip in spliced.find_clips()
                       if hasattr(clip.media_reference, "target_url"))
        assert streams["generate"][-1]["result"]["placeholder"] is True
        assert wait_job(c, blocker.json()["id"])["state"] == "done"
        listed = [j["id"] for j in c.get("/v1/jobs").json()["jobs"]]
        assert listed[:4] == [ids[op] for op in reversed(list(ids))]


def test_cancel_mid_render_stops_within_a_second_and_leaves_nothing(tmp_path, media):
    root, carphone, bikes = media
    out = tmp_path / "out"
    with ServerProcess(out, "--media-root", str(root)) as srv, srv.client() as c:
        job_id = c.post("/v1/jobs", content=slow_request(bikes, 100), headers=JSON).json()["id"]
        deadline = time.monotonic() + 60
        while True:
            job = c.get(f"/v1/jobs/{job_id}").json()
            if job["state"] == "running" and job["progress"] > 0.1:  # past reading, into the frames
                break
            assert time.monotonic() < deadline and job["state"] in ("queued", "running"), job
            time.sleep(0.05)
        assert (out / job_id).is_dir()
        worst = 0.0  # the API stays responsive while the worker renders
        for _ in range(10):
            t0 = time.monotonic()
            assert c.get("/v1/health").json()["running"] == 1
            worst = max(worst, time.monotonic() - t0)
        assert worst < 0.5, worst
        t0 = time.monotonic()
        r = c.delete(f"/v1/jobs/{job_id}")
        elapsed = time.monotonic() - t0
        assert r.status_code == 200 and r.json()["state"] == "canceled", r.json()
        assert elapsed < 1.5, elapsed
        assert r.json()["error"]["code"] == "canceled"
        assert not (out / job_id).exists()
        # The worker is free again at once.
        nxt = c.post("/v1/jobs", content=carphone_requests(carphone)["extend"], headers=JSON).json()["id"]
        assert wait_job(c, nxt, timeout=60)["state"] == "done"


def test_restart_in_the_middle_of_a_queue_loses_nothing(tmp_path, media):
    root, carphone, bikes = media
    out = tmp_path / "out"
    bodies = carphone_requests(carphone)
    srv = ServerProcess(out, "--media-root", str(root)).start()
    try:
        with srv.client() as c:
            running = c.post("/v1/jobs", content=slow_request(bikes, 100), headers=JSON).json()["id"]
            queued = [c.post("/v1/jobs", content=bodies[op], headers=JSON).json()["id"] for op in bodies]
            wait_job(c, running, states=("running",), timeout=30)
            time.sleep(0.5)
    finally:
        srv.kill()  # a crash: no chance to clean up
    with ServerProcess(out, "--media-root", str(root)) as srv2, srv2.client() as c:
        job = c.get(f"/v1/jobs/{running}").json()
        assert job["state"] == "failed" and job["error"]["code"] == "interrupted", job
        assert "submit it again" in job["error"]["message"]
        assert not (out / running).exists()
        for job_id in queued:
            assert wait_job(c, job_id, timeout=60)["state"] == "done"
        # A graceful stop (Ctrl-C) puts the running job back in the queue instead.
        again = c.post("/v1/jobs", content=slow_request(bikes, 100), headers=JSON).json()["id"]
        wait_job(c, again, states=("running",), timeout=30)
    assert srv2.proc.returncode == 0
    with ServerProcess(out, "--media-root", str(root)) as srv3, srv3.client() as c:
        job = c.get(f"/v1/jobs/{again}").json()
        assert job["state"] in ("queued", "running"), job
        c.delete(f"/v1/jobs/{again}")


def test_bad_requests_are_refused_with_status_and_message(tmp_path, media):
    root, carphone, bikes = media
    outside = copy_media(tmp_path / "private", CARPHONE[0])
    (root / "escape.mp4").symlink_to(outside)
    tl = two_clip_timeline(carphone, CARPHONE[1])
    with ServerProcess(tmp_path / "out", "--media-root", str(root), "--token", "t0k3n", token="t0k3n") as srv, \
            srv.client() as c:
        with srv.client(token=None) as anon:
            r = anon.post("/v1/jobs", content=request_json(tl, operation="fill_gap", frame=45), headers=JSON)
            assert r.status_code == 401 and r.json()["error"]["code"] == "token_required"
            assert anon.get("/v1/health").status_code == 200
        with srv.client(token="guess") as wrong:
            assert wrong.get("/v1/jobs").status_code == 403

        def post(body, status, code, words):
            r = c.post("/v1/jobs", content=body, headers=JSON)
            assert r.status_code == status, r.text
            error = r.json()["error"]
            assert error["code"] == code and words in error["message"], error

        for url in (str(root / ".." / "private" / CARPHONE[0]), f"file://{root}/../private/{CARPHONE[0]}"):
            post(request_json(two_clip_timeline(carphone, CARPHONE[1], url=url), operation="fill_gap", frame=45),
                 403, "media_path_traversal", "'..'")
        for url in (str(outside), str(root / "escape.mp4")):
            post(request_json(two_clip_timeline(carphone, CARPHONE[1], url=url), operation="fill_gap", frame=45),
                 403, "media_outside_roots", "outside the server's media roots")
        post(b'{"OTIO_SCHEMA": "Timeline.1", "tracks": ', 400, "malformed_otio", "not valid OTIO JSON")
        post(json.dumps({"OTIO_SCHEMA": "NoSuchThing.7"}), 400, "malformed_otio", "no OTIO timeline")
        post(request_json(tl, operation="fill_gap", frame=10), 422, "no_gap_at_frame", "")
        post(request_json(tl, operation="extend", frame=45, side="tail", frames=5), 422, "no_clip_at_frame", "")
        post(request_json(tl, operation="extend", frame=10, side="tail", frames=10_000_000), 422, "too_large",
             "10000000")
        post(request_json(tl, operation="generate", range=[0, 10_000_000]), 422, "too_large", "frames")
        post(b"{" + b'"x": "' + b"y" * (17 * 1024 * 1024) + b'"}', 413, "request_too_large", "bytes")
        assert c.get("/v1/jobs").json()["jobs"] == []


def test_serve_refuses_unsafe_settings_and_a_second_server(tmp_path, media):
    root, _, _ = media
    run = [sys.executable, "-m", "server.service_cli", "serve", "--output", str(tmp_path / "o"), "--port", "0"]
    env = {"PYTHONPATH": str(REPO), "SHOTFORGE_CONFIG": str(tmp_path / "none.toml"), "PATH": "/usr/bin:/bin"}
    (tmp_path / "none.toml").write_text("")
    r = subprocess.run([*run, "--host", "0.0.0.0"], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 2 and "requires a token" in r.stderr
    r = subprocess.run([*run, "--host", "0.0.0.0", "--token", "x"], capture_output=True, text=True, env=env,
                       timeout=60)
    assert r.returncode == 2 and "token of at least 16 characters (this one has 1)" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = subprocess.run([*run, "--host", "0.0.0.0", "--token", "a-long-lan-token-0123"], capture_output=True,
                       text=True, env=env, timeout=60)
    assert r.returncode == 2 and "--media-root" in r.stderr
    with ServerProcess(tmp_path / "o", "--media-root", str(root)):
        r = subprocess.run(run, capture_output=True, text=True, env=env, timeout=60)
        assert r.returncode == 3 and "another ShotForge server" in r.stderr


def _half_open(url: str, count: int) -> list[socket.socket]:
    """``count`` loopback connections that each send the start of a request header, never its end."""
    host, port = url.removeprefix("http://").split(":")
    socks = []
    for _ in range(count):
        s = socket.create_connection((host, int(port)), timeout=10)
        s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Never-Ends: ")
        socks.append(s)
    return socks


def _closed_by_server(s: socket.socket, within: float) -> bytes:
    """What the server sent before closing ``s`` (fails if it stays open ``within`` seconds)."""
    s.settimeout(within)
    got = b""
    while True:
        try:
            chunk = s.recv(4096)
        except ConnectionResetError:  # closed before the server read what was sent: the OS resets it
            return got
        if not chunk:
            return got
        got += chunk


def test_idle_and_stalled_connections_are_dropped_and_health_still_answers(tmp_path, media):
    root, _, _ = media
    log = tmp_path / "server.log"
    env = {"SHOTFORGE_HEADER_TIMEOUT": "2", "SHOTFORGE_BODY_TIMEOUT": "2", "SHOTFORGE_KEEP_ALIVE_TIMEOUT": "1"}
    # 96 open files (plain uvicorn then fails every accept with "Too many open files" and never
    # answers): 64 are kept for the server itself, so at most 32 connections stay open. The first
    # burst of accepts may still run out of files once, before the longest-idle are closed.
    with ServerProcess(tmp_path / "out", "--media-root", str(root), env=env, log=log, fd_limit=96) as srv:
        socks = _half_open(srv.url, 100)
        try:
            t0 = time.monotonic()
            with srv.client(timeout=5) as c:
                assert c.get("/v1/health").status_code == 200  # room was made by closing the longest idle
            assert time.monotonic() - t0 < 3.0
            t0 = time.monotonic()
            answers = [_closed_by_server(s, within=6) for s in socks]
            assert time.monotonic() - t0 < 5.0  # every one gone soon after the 2 s header timeout
            timed_out = [a for a in answers if a]
            assert all(a.startswith(b"HTTP/1.1 408 ") and b'"code":"request_timeout"' in a for a in timed_out)
            assert answers.count(b"") >= 100 - 32  # those closed to make room, at once and without a word
        finally:
            for s in socks:
                s.close()

        host, port = srv.url.removeprefix("http://").split(":")
        trickle = socket.create_connection((host, int(port)), timeout=10)  # a header sent a byte at a time
        t0 = time.monotonic()
        try:
            trickle.settimeout(0.3)
            for byte in b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"x" * 100:
                try:
                    trickle.sendall(bytes([byte]))
                    if trickle.recv(4096):
                        break
                except socket.timeout:
                    continue
                except OSError:
                    break
            assert time.monotonic() - t0 < 4.0
        finally:
            trickle.close()

        stalled = socket.create_connection((host, int(port)), timeout=10)  # a body that stops half-way
        try:
            stalled.sendall(b"POST /v1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                            b"Content-Length: 1000\r\n\r\n{\"OTIO_SCHEMA\": ")
            t0 = time.monotonic()
            assert _closed_by_server(stalled, within=6).startswith(b"HTTP/1.1 408 ")
            assert 1.5 < time.monotonic() - t0 < 5.0
        finally:
            stalled.close()

        with srv.client() as c:  # an idle keep-alive connection is closed after its 1 s
            assert c.get("/v1/health").status_code == 200
            assert srv.client().get("/v1/jobs").json()["jobs"] == []
        idle = socket.create_connection((host, int(port)), timeout=10)
        try:
            idle.sendall(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            t0 = time.monotonic()
            assert _closed_by_server(idle, within=5).startswith(b"HTTP/1.1 200 ")
            assert time.monotonic() - t0 < 3.0
        finally:
            idle.close()
    text = log.read_text()
    assert len(text) < 10_000 and len(text.splitlines()) < 40, text[-3000:]
    assert "Traceback" not in text and text.count("Too many open files") <= 1, text[-3000:]  # the accept burst
    assert text.count("closed the longest-idle ones") == 1  # 68 times over, logged once


def test_flood_filter_lets_one_line_per_cause_per_interval(monkeypatch):
    import logging

    from server.http import connections

    clock = [100.0]
    monkeypatch.setattr(connections.time, "monotonic", lambda: clock[0])
    flood = connections.FloodFilter(interval=10)

    def record(msg: str, exc: BaseException | None = None, level: int = logging.ERROR) -> logging.LogRecord:
        return logging.LogRecord("asyncio", level, __file__, 1, msg, (), (type(exc), exc, None) if exc else None)

    emfile = OSError(24, "Too many open files")
    records = [record("socket.accept() out of system resource", emfile) for _ in range(1000)]
    passed = [flood.filter(r) for r in records]
    assert passed.count(True) == 1
    shown = logging.Formatter().format(records[0])  # one line of cause, no traceback of asyncio's
    assert shown == "socket.accept() out of system resource\n[Errno 24] Too many open files"
    assert flood.filter(record("another cause"))  # a different cause is let through at once
    assert flood.filter(record("socket.accept() out of system resource", OSError(23, "table full")))
    assert flood.filter(record("info line", level=logging.INFO)) and flood.filter(record("info line",
                                                                                          level=logging.INFO))
    clock[0] += 10.5
    again = record("socket.accept() out of system resource", emfile)
    assert flood.filter(again) and "[and 999 more like it in the last 10 s]" in again.getMessage()


def _matroska_copy(source: Path, dest: Path) -> Path:
    """The clip rewrapped as Matroska, whose header states no frame count: probing it decodes every frame."""
    with av.open(str(source)) as src, av.open(str(dest), "w", format="matroska") as dst:
        stream = dst.add_stream("mpeg4", rate=src.streams.video[0].average_rate)
        stream.width, stream.height, stream.pix_fmt = 176, 144, "yuv420p"
        for frame in src.decode(video=0):
            for packet in stream.encode(frame.reformat(format="yuv420p")):
                dst.mux(packet)
        for packet in stream.encode():
            dst.mux(packet)
    with av.open(str(dest)) as check:
        assert check.streams.video[0].frames == 0  # what makes the probe slow
    return dest


def test_media_counted_by_decoding_is_probed_in_the_job_with_the_same_error_codes(tmp_path, media):
    root, carphone, _ = media
    mkv = _matroska_copy(carphone, root / "carphone.mkv")
    # B (frames 90-169) runs past both files' 120 frames: an outpaint of it cannot be done
    beyond = {"operation": "outpaint", "track": 0, "frame": 100, "canvas": [256, 144]}
    fine = {"operation": "fill_gap", "track": 0, "frame": 45}
    log = tmp_path / "server.log"
    with ServerProcess(tmp_path / "out", "--media-root", str(root), log=log) as srv, srv.client() as c:
        def post(clip, status, **shotforge):
            tl = two_clip_timeline(clip, CARPHONE[1], clip_frames=80 if "canvas" in shotforge else 40, gap=10,
                                   available=200)
            r = c.post("/v1/jobs", content=request_json(tl, **shotforge), headers=JSON)
            assert r.status_code == status, r.text
            return r.json()

        # a file that says how many frames it has: refused at once, as before
        error = post(carphone, 422, **beyond)["error"]
        assert error["code"] == "source_out_of_media" and "which has 120 frames" in error["message"]
        # the same request on the Matroska copy: queued, then the job fails with the same code
        job = wait_job(c, post(mkv, 202, **beyond)["id"])
        assert job["state"] == "failed", job
        assert job["error"]["code"] == "source_out_of_media" and "which has 120 frames" in job["error"]["message"]
        assert "carphone.mkv is counted by decoding it; planned when the job starts" in log.read_text()
        assert not (tmp_path / "out" / job["id"]).exists()
        # a good request on it is queued the same way and renders
        done = wait_job(c, post(mkv, 202, **fine)["id"])
        assert done["state"] == "done", done
        # now its frames are counted (the probe is cached by path, size and mtime): refused at once
        error = post(mkv, 422, **beyond)["error"]
        assert error["code"] == "source_out_of_media", error
        # a file that is not video is still refused at once, whatever its name
        (root / "notes.mkv").write_text("not a video\n")
        error = post(root / "notes.mkv", 422, **fine)["error"]
        assert error["code"] == "media_not_video" and "a text file" in error["message"], error
