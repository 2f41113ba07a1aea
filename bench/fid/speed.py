"""Speed at 1080p: frames made per second by each operation, each alone in a child process
(so its peak memory is its own), next to ffmpeg ``minterpolate`` on the same frames."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from server import media_io
from server.engines.base import EngineJob, OutpaintLayout
from server.engines.classical import build_engine

from .baselines import minterpolate, peak_rss_mb
from .clips import CONTEXT

FIDELITY = Path(__file__).resolve().parents[1] / "fidelity.py"  # the command line, run as a child
SPEED_OPS = ("gap1", "gap3", "gap7", "extend", "outpaint", "minterp1", "minterp3")


def speed_frames(clip_path: Path, count: int) -> list[np.ndarray]:
    info = media_io.probe(clip_path)
    start = max(0, min(info.frames // 2, info.frames - count))
    frames = [f if f.dtype == np.uint8 else (f >> 8).astype(np.uint8)
              for f in media_io.read_frames(clip_path, range(start, min(info.frames, start + count)))]
    if frames[0].shape[:2] != (1080, 1920):
        frames = [cv2.resize(f, (1920, 1080), interpolation=cv2.INTER_CUBIC) for f in frames]
    return frames


SPEED_PASSES = 3  # the machine may be shared: each figure is the best of this many passes


def speed_child(op: str, clip_path: Path, count: int) -> dict:
    """One operation at 1080p, alone in this process: frames made per second (best of
    :data:`SPEED_PASSES` passes over the same frames) and peak RSS."""
    frames = speed_frames(clip_path, count)
    job = EngineJob(rate=Fraction(24))
    engine = build_engine()
    layout = OutpaintLayout(canvas=(1920, 1080), inner=(1440, 1080), offset=(240, 0))

    ffmpeg_peak = []

    def one_pass() -> tuple[int, float]:
        made = 0
        start = time.perf_counter()
        if op.startswith("minterp"):
            gap = int(op[len("minterp"):])
            _, elapsed, peak = minterpolate(frames, 0, gap)
            ffmpeg_peak.append(peak)
            return gap * (len(frames) - 1), elapsed
        if op.startswith("gap"):
            gap = int(op[3:])
            for i in range(len(frames) - 1):  # with the context a timeline render hands over
                before, after = frames[max(0, i + 1 - CONTEXT):i + 1], frames[i + 1:i + 1 + CONTEXT]
                made += len(list(engine.fill_gap(before, after, gap, job)))
        elif op == "extend":
            for k in range(0, len(frames) - CONTEXT + 1, 4):
                made += len(list(engine.extend(frames[k:k + CONTEXT], 8, "tail", job)))
        elif op == "outpaint":
            made = len(list(engine.outpaint([f[:, 240:1680] for f in frames], layout, job)))
        return made, time.perf_counter() - start

    if not op.startswith("minterp"):
        list(engine.fill_gap(frames[:1], frames[1:2], 1, job))  # warm-up (imports, caches)
    runs = [one_pass() for _ in range(SPEED_PASSES)]
    made, elapsed = min(runs, key=lambda r: r[1])
    peak = max(ffmpeg_peak) if ffmpeg_peak else peak_rss_mb()
    return {"op": op, "fps": made / elapsed, "frames": made, "seconds": elapsed, "peak_mb": peak,
            "median_fps": float(np.median([m / e for m, e in runs]))}


def run_speed(clip_path: Path, count: int, mi: bool) -> list[dict]:
    rows = []
    for op in SPEED_OPS:
        if op.startswith("minterp") and not mi:
            continue
        n = min(count, 6) if op.startswith("minterp") else count
        out = subprocess.run([sys.executable, str(FIDELITY), "--_speed", op, "--_speed-clip", str(clip_path),
                              "--_speed-count", str(n)], capture_output=True, text=True)
        if out.returncode:
            sys.stderr.write(out.stderr)
            raise SystemExit(f"speed run {op} failed")
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return rows

