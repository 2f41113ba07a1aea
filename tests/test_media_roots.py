"""Media roots hold against files that make FFmpeg read other files: HLS playlists, ffconcat
lists, text (FFmpeg's tty demuxer) and such files under a video's name. Each bypass file is
made for real and shown to work as a bypass with FFmpeg's own guessing; then the server (POST
/v1/jobs) and ``shotforge render`` refuse it by what it is. Real media in every allowed
container still reads and renders."""

from __future__ import annotations

import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from server import media_io
from server.media_io import MediaError, MediaWriter
from tests.serverutil import (CARPHONE, REPO, ThreadServer, copy_media, request_json, two_clip_timeline,
                              wait_job)
from tests.shared_data import VIDEO, shared

JSON = {"Content-Type": "application/json"}


def bypass_files(root: Path, outside: Path) -> dict[str, tuple[Path, str]]:
    """name: (file inside ``root``, what the refusal must call it). Each lists ``outside`` (the
    playlists its transport-stream copy beside it: HLS segments are transport streams)."""
    root.mkdir(parents=True, exist_ok=True)
    segment = outside.with_suffix(".ts")
    _remux(outside, segment)
    playlist = f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10.0,\n{segment}\n#EXT-X-ENDLIST\n"
    files = {
        "hls": ("clip.m3u8", playlist, "an HLS playlist"),
        "ffconcat": ("clip.ffconcat", f"ffconcat version 1.0\nfile '{outside}'\n", "an ffconcat list"),
        "text": ("passwords.txt", "root: hunter2\nadmin: correct horse battery staple\n" * 40, "a text file"),
        "mov_playlist": ("A001_C002.mov", playlist, "an HLS playlist"),  # a video's name (older FFmpeg guessed hls from content)
        "network": ("remote.mp4", "#EXTM3U\n#EXTINF:10.0,\nhttp://127.0.0.1:9/secret.ts\n#EXT-X-ENDLIST\n",
                    "an HLS playlist"),
    }
    out = {}
    for key, (name, text, what) in files.items():
        (root / name).write_text(text)
        out[key] = (root / name, what)
    return out


@pytest.fixture
def roots(tmp_path):
    media = tmp_path / "media"
    outside = copy_media(tmp_path / "private", CARPHONE[0])
    copy_media(media, CARPHONE[0])
    return media, outside, bypass_files(media, outside)


def test_the_bypass_files_really_read_the_outside_file_when_ffmpeg_guesses(roots):
    """Without the allow-list these files are videos of the file outside the root."""
    _, outside, files = roots
    with av.open(str(outside)) as direct:
        expected = next(direct.decode(video=0)).to_ndarray(format="rgb24")
    with av.open(str(files["hls"][0])) as guessed:  # FFmpeg picks its hls demuxer by itself
        assert guessed.format.name == "hls"
        assert np.array_equal(next(guessed.decode(video=0)).to_ndarray(format="rgb24"), expected)
    with av.open(str(files["ffconcat"][0]), format="concat", options={"safe": "0"}) as listed:
        assert np.array_equal(next(listed.decode(video=0)).to_ndarray(format="rgb24"), expected)


def test_media_io_refuses_each_by_what_it_is(roots, tmp_path):
    _, _, files = roots
    still = tmp_path / "media" / "frame.png"
    still.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    files["still"] = (still, "a PNG image (stills are not read as source media)")
    pattern = tmp_path / "media" / "frame_%03d.png"  # an image2 pattern is only a name: no such file
    for path, what in files.values():
        for call in (lambda: media_io.probe(path), lambda: list(media_io.read_frames(path, [0]))):
            with pytest.raises(MediaError) as caught:
                call()
            assert caught.value.code == "media_not_video", path
            assert caught.value.message == f"{path} is {what}, not a media file"
    with pytest.raises(MediaError) as caught:
        media_io.probe(pattern)
    assert caught.value.code == "media_missing"


def _encode(src: Path, dest: Path, codec: str, pix_fmt: str, frames: int = 24, fmt: str | None = None) -> None:
    with av.open(str(src)) as inp, av.open(str(dest), "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = 176, 144, pix_fmt
        for n, frame in enumerate(inp.decode(video=0)):
            if n == frames:
                break
            frame = frame.reformat(format=pix_fmt)
            frame.pts, frame.time_base = n, Fraction(1, 25)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def _remux(src: Path, dest: Path) -> None:
    with av.open(str(src)) as inp, av.open(str(dest), "w") as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)


def _prores(dest: Path, frames: int = 12) -> None:
    y, x = np.mgrid[0:72, 0:128]
    with MediaWriter(dest, width=128, height=72, rate=Fraction(24000, 1001)) as writer:
        for n in range(frames):
            writer.write(np.stack([(x + n) % 256, y * 3, np.full_like(x, 128)], -1).astype(np.uint8))


@pytest.fixture(scope="module")
def containers(tmp_path_factory):
    """A real clip in each allowed container: name -> (path, demuxer, frames)."""
    folder = tmp_path_factory.mktemp("containers")
    carphone = shared(VIDEO / CARPHONE[0])
    _remux(carphone, folder / "carphone.mkv")
    _remux(carphone, folder / "carphone.ts")
    _encode(carphone, folder / "carphone.mxf", "mpeg2video", "yuv420p")
    _encode(carphone, folder / "carphone.mpg", "mpeg2video", "yuv420p", fmt="mpeg")
    _encode(carphone, folder / "carphone.avi", "mjpeg", "yuvj420p")
    _prores(folder / "prores.mov")
    return {
        "mp4": (carphone, "mov", 120), "mov": (shared(VIDEO / "otio_frame_debugger_0h_1080p24_tc000000.mov"), "mov", 120),
        "prores_mov": (folder / "prores.mov", "mov", 12), "webm": (shared(VIDEO / "big_buck_bunny_0_30.webm"),
                                                               "matroska", 720),
        "mkv": (folder / "carphone.mkv", "matroska", 120), "ts": (folder / "carphone.ts", "mpegts", 120),
        "mxf": (folder / "carphone.mxf", "mxf", 24), "mpg": (folder / "carphone.mpg", "mpeg", 24),
        "avi": (folder / "carphone.avi", "avi", 24),
    }


@pytest.mark.parametrize("name", ["mp4", "mov", "prores_mov", "webm", "mkv", "ts", "mxf", "mpg", "avi"])
def test_real_media_in_every_allowed_container_still_reads(containers, name):
    path, demuxer, frames = containers[name]
    from server.media_formats import identify

    assert identify(str(path)).demuxer == demuxer
    info = media_io.probe(path)
    assert info.frames == frames
    if name == "prores_mov":
        assert info.codec == "prores" and info.bit_depth == 10
    first, last = media_io.read_frames(path, [0, frames - 1])
    with av.open(str(path)) as plain:  # the same pictures as a plain decode
        decoded = [f for _, f in zip(range(frames), plain.decode(video=0))]
    assert np.array_equal(first, media_io._to_rgb(decoded[0], info.dtype))
    assert np.array_equal(last, media_io._to_rgb(decoded[-1], info.dtype))


def _settings(tmp_path: Path, media: Path):
    from server.settings import load_settings

    (tmp_path / "empty.toml").write_text("")
    return load_settings(tmp_path / "empty.toml", output=str(tmp_path / "out"), media_roots=[str(media)])


def test_post_refuses_each_bypass_and_writes_nothing_and_real_media_renders(roots, tmp_path, containers):
    media, outside, files = roots
    mkv = media / "carphone.mkv"
    mkv.write_bytes(containers["mkv"][0].read_bytes())
    with ThreadServer(_settings(tmp_path, media)) as srv, srv.client() as c:  # the real planner and engine
        for key, (path, what) in files.items():
            body = request_json(two_clip_timeline(path, CARPHONE[1], url=str(path)), operation="extend", track=0,
                                frame=10, side="tail", frames=4)
            r = c.post("/v1/jobs", content=body, headers=JSON)
            assert r.status_code == 422, (key, r.text)
            error = r.json()["error"]
            assert error["code"] == "media_not_video", (key, error)
            assert f"{path} is {what}, not a media file" in error["message"], (key, error)
        assert c.get("/v1/jobs").json()["jobs"] == []
        assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [".shotforge"]
        body = request_json(two_clip_timeline(mkv, CARPHONE[1], clip_frames=55, gap=10), operation="fill_gap",
                            track=0, frame=60)
        r = c.post("/v1/jobs", content=body, headers=JSON)
        assert r.status_code == 202, r.text
        job = wait_job(c, r.json()["id"], timeout=120)
        assert job["state"] == "done", job
        assert media_io.probe(job["result"]["media"][0]).frames >= 10


def test_shotforge_render_refuses_a_playlist_and_a_text_file(roots, tmp_path):
    _, _, files = roots
    env = {**os.environ, "PYTHONPATH": str(REPO), "SHOTFORGE_CONFIG": str(tmp_path / "none.toml")}
    (tmp_path / "none.toml").write_text("")
    for key in ("mov_playlist", "text"):
        path, what = files[key]
        request = tmp_path / f"{key}.otio"
        request.write_text(request_json(two_clip_timeline(path, CARPHONE[1], url=str(path)), operation="extend",
                                        track=0, frame=10, side="tail", frames=4))
        out = tmp_path / f"render-{key}"
        r = subprocess.run([sys.executable, "-m", "server.cli", "render", str(request), "--out", str(out)],
                           capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
        assert r.returncode != 0, r.stdout
        assert f"{path} is {what}, not a media file" in r.stderr, r.stderr
        assert "Traceback" not in r.stderr
        assert not out.exists() or not any(out.iterdir())
