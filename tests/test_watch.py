"""The watch folder: ``shotforge watch DIR`` and ``shotforge serve --watch DIR`` with real renders."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from server.jobs import FolderLock, JobManager, JobStore
from server.paths import MediaPolicy
from server.watch import WatchFolder
from tests.serverutil import (BIKES, CARPHONE, REPO, FakeRenderer, ServerProcess, copy_media, request_json,
                              two_clip_timeline)


def requests_for(clip: Path, url: str | None = None) -> dict[str, str]:
    tl = two_clip_timeline(clip, CARPHONE[1], clip_frames=55, gap=10, url=url)
    return {
        "gap": request_json(tl, operation="fill_gap", track=0, frame=60),
        "tail": request_json(tl, operation="extend", track=0, frame=70, side="tail", frames=6),
        "nothing_there": request_json(tl, operation="extend", track=0, frame=60, side="tail", frames=6),
    }


def slow(clip: Path, frames: int = 100) -> str:
    tl = two_clip_timeline(clip, BIKES[1], clip_frames=frames, gap=10, available=250)
    return request_json(tl, operation="outpaint", track=0, frame=5, canvas=[1280, 720])


def run_watch(root: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "SHOTFORGE_CONFIG": str(root.parent / "none.toml")}
    (root.parent / "none.toml").write_text("")
    return subprocess.run([sys.executable, "-m", "server.service_cli", "watch", str(root), *args],
                          capture_output=True, text=True, env=env, timeout=timeout, cwd=REPO)


def wait_for(predicate, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_watch_once_runs_each_request_once(tmp_path):
    root = tmp_path / "hot"
    (root / "in" / "clips").mkdir(parents=True)
    clip = copy_media(root / "in" / "clips", CARPHONE[0])
    bodies = requests_for(clip)
    for name, body in bodies.items():
        (root / "in" / f"{name}.otio").write_text(body)
    # Media named relative to in/ works too.
    (root / "in" / "relative.otio").write_text(requests_for(clip, url=f"clips/{CARPHONE[0]}")["tail"])
    (root / "in" / ".still-writing.otio").write_text(bodies["gap"][:100])  # hidden: ignored
    (root / "in" / "notes.txt").write_text("not a request")

    r = run_watch(root, "--once")
    assert r.returncode == 1, r.stderr  # one request failed
    assert (root / "out" / "gap" / "request.otio").read_text() == bodies["gap"]
    for name in ("gap", "tail", "relative"):
        out = root / "out" / name
        job = json.loads((out / "job.json").read_text())
        assert [Path(m).parent for m in job["media"]] == [out] and Path(job["media"][0]).is_file()
        assert (out / "result.otio").is_file()
        assert (out / "request.otio").is_file()
        assert not (root / "in" / f"{name}.otio").exists()
    failure = json.loads((root / "failed" / "nothing_there.json").read_text())
    assert failure["error"]["code"] == "no_clip_at_frame" and "60" in failure["error"]["message"]
    assert (root / "failed" / "nothing_there.otio").read_text() == bodies["nothing_there"]
    assert sorted(p.name for p in (root / "in").iterdir()) == [".still-writing.otio", "clips", "notes.txt"]

    # Running again does nothing new.
    r = run_watch(root, "--once")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (root / "out").iterdir()) == ["gap", "relative", "tail"]

    # The same name dropped again gets a fresh folder.
    (root / "in" / "gap.otio").write_text(bodies["gap"])
    assert run_watch(root, "--once").returncode == 0
    assert (root / "out" / "gap-2" / "result.otio").is_file()


def test_serve_watch_waits_for_a_file_being_written_and_survives_a_restart(tmp_path):
    root = tmp_path / "hot"
    media = tmp_path / "media"
    clip = copy_media(media, CARPHONE[0])
    bikes = copy_media(media, BIKES[0])
    bodies = requests_for(clip)
    args = ("--media-root", str(media), "--watch", str(root))
    with ServerProcess(tmp_path / "out", *args) as srv, srv.client() as c:
        # A writer that stops half-way for a while: the file must not be read half-written.
        target = root / "in" / "slow_writer.otio"
        wait_for(lambda: (root / "in").is_dir(), what="in/")
        with open(target, "w") as fh:
            half = len(bodies["gap"]) // 2
            fh.write(bodies["gap"][:half])
            fh.flush()
            time.sleep(2.5)
            fh.write(bodies["gap"][half:])
        wait_for(lambda: (root / "out" / "slow_writer" / "request.otio").exists(), what="the slow file's result")
        assert not (root / "failed").exists() or not list((root / "failed").iterdir())
        jobs = c.get("/v1/jobs").json()["jobs"]
        assert jobs[0]["source"] == f"watch:{target}" and jobs[0]["state"] == "done"

        # Now a long job and one queued behind it, then a crash.
        (root / "in" / "long.otio").write_text(slow(bikes))
        wait_for(lambda: any(j["state"] == "running" for j in c.get("/v1/jobs").json()["jobs"]),
                 what="the long job to run")
        (root / "in" / "after.otio").write_text(bodies["tail"])
        wait_for(lambda: any(j["state"] == "queued" for j in c.get("/v1/jobs").json()["jobs"]),
                 what="the second job to queue")
    # That was a graceful stop: the long job went back to the queue. Start again, and this time
    # crash (kill -9) while it runs.
    srv = ServerProcess(tmp_path / "out", *args).start()
    with srv.client() as c:
        wait_for(lambda: any(j["state"] == "running" and j["source"].endswith("long.otio")
                             for j in c.get("/v1/jobs").json()["jobs"]), what="the requeued long job")
    srv.kill()
    (root / "in" / "while_down.otio").write_text(bodies["gap"])  # dropped while nothing runs

    with ServerProcess(tmp_path / "out", *args):
        wait_for(lambda: (root / "failed" / "long.json").exists(), what="the interrupted job's report")
        report = json.loads((root / "failed" / "long.json").read_text())
        assert report["error"]["code"] == "interrupted"
        assert not (root / "out" / "long").exists()
        wait_for(lambda: (root / "out" / "after" / "request.otio").exists(), what="the queued job")
        wait_for(lambda: (root / "out" / "while_down" / "request.otio").exists(), what="the file dropped while down")
        assert sorted(p.name for p in (root / "in").iterdir()) == []


class _BrokenPlanner(FakeRenderer):
    """Plans with a bug: an exception that is no request error, raised while the request is read."""

    def plan_job(self, timeline, request, *, locate_media=None):
        raise ZeroDivisionError("a bug in planning")


def _watcher(tmp_path: Path, renderer) -> tuple[WatchFolder, JobManager]:
    manager = JobManager(JobStore(tmp_path / "jobs.sqlite"), tmp_path / "hot" / "out",
                         locate_media=MediaPolicy().locate, renderer=renderer)
    return WatchFolder(tmp_path / "hot", manager, settle=0.1, grace=0.5, rescan=0.1), manager


def test_a_request_failing_for_any_reason_moves_to_failed_with_its_report(tmp_path, caplog):
    clip = copy_media(tmp_path / "media", CARPHONE[0])
    body = requests_for(clip)["tail"]
    watcher, manager = _watcher(tmp_path, _BrokenPlanner())
    inbox = tmp_path / "hot" / "in"
    inbox.mkdir(parents=True)
    (inbox / "bug.otio").write_text(body)
    (inbox / "unreadable.otio").symlink_to("/proc/self/mem")  # a regular file whose every read fails
    manager.start()
    watcher.start()
    try:
        wait_for(lambda: not watcher.busy(), timeout=20, what="the watcher to finish")
    finally:
        watcher.stop()
        manager.stop()
    failed = tmp_path / "hot" / "failed"
    report = json.loads((failed / "bug.json").read_text())
    assert report["error"]["code"] == "internal" and "ZeroDivisionError" in report["error"]["message"]
    assert (failed / "bug.otio").read_text() == body
    report = json.loads((failed / "unreadable.json").read_text())
    assert report["error"]["code"] == "request_unreadable" and "unreadable.otio cannot be read" in \
        report["error"]["message"]
    assert sorted(p.name for p in inbox.iterdir()) == []
    assert watcher.results == {"bug.otio": "failed", "unreadable.otio": "failed"}
    assert manager.store.counts()["queued"] == 0
    assert any(r.exc_info and r.exc_info[0] is ZeroDivisionError for r in caplog.records)


def test_watch_once_exit_codes_and_a_clean_log(tmp_path):
    root = tmp_path / "hot"
    (root / "in").mkdir(parents=True)
    clip = copy_media(root / "in", CARPHONE[0])
    bodies = requests_for(clip)
    (root / "in" / "gap.otio").write_text(bodies["gap"])
    r = run_watch(root, "--once")
    assert r.returncode == 0, r.stderr
    assert "ERROR" not in r.stderr and "inotify" not in r.stderr and "Traceback" not in r.stderr, r.stderr
    (root / "in" / "nan.otio").write_text(bodies["gap"].replace(repr(CARPHONE[1]), "NaN"))
    r = run_watch(root, "--once")
    assert r.returncode == 1, r.stderr
    assert json.loads((root / "failed" / "nan.json").read_text())["error"]["code"] == "malformed_otio"
    assert "ERROR" not in r.stderr and "inotify" not in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_sigterm_stops_watch_cleanly_with_a_signal_exit_code(tmp_path):
    root = tmp_path / "hot"
    (root / "in").mkdir(parents=True)
    clip = copy_media(root / "in", CARPHONE[0])
    env = {**os.environ, "PYTHONPATH": str(REPO), "SHOTFORGE_CONFIG": str(tmp_path / "none.toml")}
    (tmp_path / "none.toml").write_text("")
    proc = subprocess.Popen([sys.executable, "-m", "server.service_cli", "watch", str(root)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "ShotForge watching" in proc.stdout.readline()
        (root / "in" / "gap.otio").write_text(requests_for(clip)["gap"])
        wait_for(lambda: (root / "out" / "gap" / "request.otio").exists(), timeout=60, what="the job")
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    assert "Traceback" not in stderr and "ERROR" not in stderr, stderr
    FolderLock(root / ".shotforge" / "server.lock").acquire().release()  # the watcher let go of its folder
