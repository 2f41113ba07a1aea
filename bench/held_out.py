"""1-frame gap fill on frame sequences the classical engine was never tuned on.

    bench/setup.sh && .venv/bin/python bench/held_out.py

``bench/fidelity.py`` measures on the clips in ``../shared/data/video/``, which every choice in
the engine was measured on. The frame sequences in ``../shared/data/interpolation/`` (Sintel
renders, 4 or 5 frames each) were not used for any of those choices: each frame with a
neighbour on both sides is removed and remade from the others, next to a cross-dissolve and
ffmpeg ``minterpolate`` (fed the same frames: up to two a side). A frame with two frames a side
gets the motion curve (``classical.MotionCurve``); with one on either side, a straight line.
Nine frames in all: a small sample, but one no choice was fitted to.
"""

from __future__ import annotations

import argparse
import sys
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.fidelity import SHARED_VIDEO, dissolve, have_ffmpeg, minterpolate, psnr  # noqa: E402
from server.engines.base import EngineJob  # noqa: E402
from server.engines.classical import ClassicalEngine  # noqa: E402

SEQUENCES = SHARED_VIDEO.parent / "interpolation"


def frames_of(folder: Path) -> list[np.ndarray]:
    """The folder's ``frame_*.png`` in order, as RGB, cropped to even sizes (for ffmpeg's yuv)."""
    frames = []
    for path in sorted(folder.glob("frame_*.png")):
        rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        h, w = rgb.shape[:2]
        frames.append(np.ascontiguousarray(rgb[:h - h % 2, :w - w % 2]))
    return frames


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="*", type=Path,
                        help=f"frame sequences (default: every one in {SEQUENCES} with 3+ frames)")
    args = parser.parse_args()
    folders = args.folders or sorted(p for p in SEQUENCES.iterdir() if p.is_dir())
    mi = have_ffmpeg()
    if not mi:
        print("ffmpeg not found: the minterpolate baseline is skipped (install it with bench/setup.sh)")
    engine, job = ClassicalEngine(), EngineJob(rate=Fraction(24))
    rows = []
    print(f"{'sequence':28s} {'frame':>5s} {'context':>7s} {'ours':>7s} {'dissolve':>9s} {'minterp':>8s} {'vs mi':>6s}")
    for folder in folders:
        frames = frames_of(folder)
        for k in range(1, len(frames) - 1):
            before, after = frames[max(0, k - 2):k], frames[k + 1:k + 3]
            ours = psnr(next(engine.fill_gap(before, after, 1, job)), frames[k])
            blend = psnr(dissolve(before[-1], after[0], 0.5), frames[k])
            # ffmpeg makes no frame after the last one it is given: a sequence's last frame is given twice
            fed = before + after + ([after[-1]] if len(after) == 1 else [])
            theirs = psnr(minterpolate(fed, len(before) - 1, 1)[0][0], frames[k]) if mi else float("nan")
            rows.append((ours, blend, theirs))
            print(f"{folder.name[:28]:28s} {k:5d} {len(before)}+{len(after):<5d} {ours:7.2f} {blend:9.2f} "
                  f"{theirs:8.2f} {ours - theirs:+6.2f}")
    if not rows:
        print("no sequence with 3 or more frames")
        return 1
    ours, blend, theirs = np.mean(rows, axis=0)
    print(f"{'MEAN':28s} {len(rows):5d} {'':7s} {ours:7.2f} {blend:9.2f} {theirs:8.2f} {ours - theirs:+6.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
