"""Clips unlike the shared ones, made from them, to check that the fidelity benchmark runs on any
footage and where its targets hold:

    .venv/bin/python bench/odd_clips.py /tmp/odd     # writes the clips, lists them
    .venv/bin/python bench/fidelity.py --only --no-speed /tmp/odd/*

- ``portrait``: cockatoo turned to 720x1280 (a phone's vertical video), 40 frames;
- ``uhd``: cockatoo's first 30 frames scaled up to 3840x2160;
- ``prores10``: realshort as 10-bit ProRes 422 HQ in a .mov;
- ``tiny``: 5 frames, too few for a context frame beyond both ends of any gap;
- ``flat``: 30 frames of one grey, where every method is exact;
- ``noise``: 30 frames of independent noise, which no motion explains.

Encoded with :mod:`server.media_io` (H.264 CRF 16 unless said otherwise).
"""

from __future__ import annotations

import argparse
import sys
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from server import media_io  # noqa: E402

from fidelity import shared_clip  # noqa: E402


def _shared(stem: str, count: int) -> tuple[list[np.ndarray], Fraction]:
    src = shared_clip(stem)
    info = media_io.probe(src)
    return list(media_io.read_frames(src, range(min(count, info.frames)), dtype=np.uint8)), info.rate


def _write(path: Path, frames: list[np.ndarray], rate: Fraction, codec: str = "h264") -> Path:
    h, w = frames[0].shape[:2]
    with media_io.MediaWriter(path, width=w, height=h, rate=rate, codec=codec,
                              bit_depth=10 if codec == "prores" else 8) as writer:
        for f in frames:
            writer.write(f)
    return path


def make_all(out: Path) -> list[Path]:
    cockatoo, rate = _shared("cockatoo", 40)
    realshort, short_rate = _shared("realshort", 30)
    rng = np.random.default_rng(0)
    return [
        _write(out / "portrait.mp4", [np.ascontiguousarray(np.rot90(f, -1)) for f in cockatoo], rate),
        _write(out / "uhd.mp4", [cv2.resize(f, (3840, 2160), interpolation=cv2.INTER_CUBIC)
                                 for f in cockatoo[:30]], rate),
        _write(out / "prores10.mov", realshort, short_rate, codec="prores"),
        _write(out / "tiny.mp4", cockatoo[:5], rate),
        _write(out / "flat.mp4", [np.full((240, 320, 3), 128, np.uint8)] * 30, Fraction(25)),
        _write(out / "noise.mp4", [rng.integers(0, 256, (240, 320, 3), np.uint8) for _ in range(30)],
               Fraction(25)),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir", type=Path)
    args = ap.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for path in make_all(args.out_dir):
        print(path)


if __name__ == "__main__":
    main()
