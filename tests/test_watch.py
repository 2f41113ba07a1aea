"""The watch folder: ``shotforge watch DIR`` and ``shotforge serve --watch DIR`` with real renders."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.serverutil import BIKES, CARPHONE, REPO, ServerProcess, copy_media, request_json, two_clip_timeline


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
