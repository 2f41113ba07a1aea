"""The tools an editor already has: cross-dissolve, ffmpeg ``minterpolate``, reflect padding,
blurred fill (and a process's peak memory, to compare ffmpeg's with ours)."""

from __future__ import annotations

import math
import shutil
import subprocess
import threading
import time

import cv2
import numpy as np

from server.engines.base import OutpaintLayout


def dissolve(a, b, t):
    return cv2.addWeighted(a, 1 - t, b, t, 0)


def have_ffmpeg() -> bool:
    return shutil.which("ffmpeg") is not None


def peak_rss_mb(pid: int | str = "self") -> float | None:
    """A process's peak resident set (VmHWM) in MB, None once it is gone. Not ``ru_maxrss``:
    Linux carries that across exec from the parent, so a child started by a process holding the
    benchmark's decoded clips (~1 GB) reported that as its own peak."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def minterpolate(frames: list[np.ndarray], first: int, gap: int) -> tuple[list[np.ndarray], float, float]:
    """ffmpeg minterpolate (mci) over ``frames`` played at 1 fps and output at ``gap + 1`` fps: the
    ``gap`` frames made between ``frames[first]`` and ``frames[first + 1]``, the wall time of the
    ffmpeg run, and ffmpeg's peak resident set in MB (polled while it runs)."""
    h, w = frames[0].shape[:2]
    cmd = ["ffmpeg", "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", "1",
           "-i", "-", "-vf", f"format=yuv444p,minterpolate=fps={gap + 1}:mi_mode=mci,format=rgb24",
           "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak, done = [0.0], threading.Event()

    def watch() -> None:  # VmHWM only grows: its last reading before ffmpeg exits is its peak
        while not done.wait(0.01):
            peak[0] = max(peak[0], peak_rss_mb(proc.pid) or 0.0)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    out, err = proc.communicate(b"".join(np.ascontiguousarray(f).tobytes() for f in frames))
    elapsed = time.perf_counter() - start
    done.set()
    watcher.join()
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, cmd, out, err)
    made = np.frombuffer(out, np.uint8).reshape(-1, h, w, 3)
    base = first * (gap + 1)
    return [made[base + k].copy() for k in range(1, gap + 1)], elapsed, peak[0]


def reflect_pad(inner: np.ndarray, layout: OutpaintLayout) -> np.ndarray:
    (cw, ch), (iw, ih), (x, y) = layout.canvas, layout.inner, layout.offset
    return cv2.copyMakeBorder(inner, y, ch - ih - y, x, cw - iw - x, cv2.BORDER_REFLECT_101)


def blurred_fill(inner: np.ndarray, layout: OutpaintLayout) -> np.ndarray:
    """The "social video" look: the picture scaled to cover the canvas, blurred, picture on top."""
    (cw, ch), (iw, ih), (x, y) = layout.canvas, layout.inner, layout.offset
    s = max(cw / iw, ch / ih)
    big = cv2.resize(inner, (math.ceil(iw * s), math.ceil(ih * s)), interpolation=cv2.INTER_LINEAR)
    bx, by = (big.shape[1] - cw) // 2, (big.shape[0] - ch) // 2
    out = cv2.GaussianBlur(big[by:by + ch, bx:bx + cw], (0, 0), max(cw, ch) / 60)
    out[y:y + ih, x:x + iw] = inner
    return out

