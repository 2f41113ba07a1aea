"""Clips as the benchmark sees them: decoded, their motion and cuts measured, and the windows
where gaps and extensions are cut."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

import seams
from server import media_io

REPO = Path(__file__).resolve().parents[2]
SHARED_VIDEO = Path(os.environ.get("SHOTFORGE_SHARED_DATA", REPO.parent / "shared" / "data")) / "video"

VIDEO_EXTS = {".mp4", ".mov", ".webm", ".mkv", ".avi", ".mxf", ".m4v"}
GAPS = (1, 3, 7)
EXT_EARLY = (8, 24)
EXT_SCORED = 8
CONTEXT = 8  # context frames the engine gets either side (as otio_tools.plan.CONTEXT_FRAMES)
MI_CONTEXT = 1  # frames minterpolate gets beyond each end of a gap (it only uses neighbours)


@dataclass
class Clip:
    name: str
    path: Path
    rate: Fraction
    native: tuple[int, int]
    frames: list[np.ndarray]
    diff: np.ndarray = field(default=None)  # mean abs luma change i -> i+1 (small copies)
    motion: np.ndarray = field(default=None)  # median flow magnitude i -> i+1, px at eval size
    cut: np.ndarray = field(default=None)  # True where i -> i+1 is a cut


def shared_clip(stem: str) -> Path:
    """The shared clip whose file name (without extension) is ``stem``."""
    return next(p for p in SHARED_VIDEO.iterdir() if p.stem == stem)


def load_clip(path: Path, max_frames: int, max_side: int) -> Clip:
    info = media_io.probe(path)
    n = min(info.frames, max_frames)
    scale = min(1.0, max_side / max(info.width, info.height))
    size = (round(info.width * scale / 2) * 2, round(info.height * scale / 2) * 2)
    frames = []
    for f in media_io.read_frames(path, range(n)):
        if f.dtype != np.uint8:
            f = (f >> 8).astype(np.uint8)
        frames.append(f if size == (info.width, info.height) else cv2.resize(f, size, interpolation=cv2.INTER_AREA))
    clip = Clip(path.stem, path, info.rate, (info.width, info.height), frames)
    analyse(clip)
    return clip


def analyse(clip: Clip) -> None:
    """Frame-to-frame change, motion and cuts, measured on small copies (independently of the engine)."""
    h, w = clip.frames[0].shape[:2]
    s = min(1.0, 320 / max(h, w))
    small = [cv2.resize(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY), (max(16, round(w * s)), max(16, round(h * s))),
                        interpolation=cv2.INTER_AREA) for f in clip.frames]
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    diff, motion = [], []
    for a, b in zip(small, small[1:]):
        diff.append(float(np.abs(a.astype(np.float32) - b).mean()))
        flow = dis.calc(a, b, None)
        motion.append(float(np.median(seams.length(flow[..., 0], flow[..., 1]))) / s)
    diff = np.array(diff + [0.0])
    med = np.median(diff[:-1]) if len(diff) > 1 else 0.0
    hist = [cv2.calcHist([f], [0], None, [32], [0, 256]) for f in small]
    hd = np.array([cv2.compareHist(hist[i], hist[i + 1], cv2.HISTCMP_BHATTACHARYYA)
                   for i in range(len(small) - 1)] + [0.0])
    clip.diff, clip.motion = diff, np.array(motion + [0.0])
    clip.cut = (hd > 0.3) | (diff > max(20.0, 5 * med))


def moving_windows(clip: Clip, gap: int) -> list[int]:
    """First removed frame of every cut-free window of ``gap`` frames (with minterpolate's context)
    whose motion is at or above the median of such windows."""
    n = len(clip.frames)
    lo, hi = MI_CONTEXT + 1, n - gap - MI_CONTEXT - 1
    cands = [p for p in range(lo, hi + 1) if not clip.cut[p - MI_CONTEXT - 1:p + gap + MI_CONTEXT].any()]
    if not cands:
        return []
    mot = np.array([clip.motion[p - 1:p + gap].mean() for p in cands])
    return [p for p, m in zip(cands, mot) if m >= np.median(mot)]


def gap_positions(clip: Clip, gap: int, count: int) -> list[int]:
    """``count`` of the moving windows, evenly spread."""
    moving = moving_windows(clip, gap)
    if not moving:
        return []
    idx = np.linspace(0, len(moving) - 1, count + 2)[1:-1] if count > 1 else [len(moving) // 2]
    return sorted({moving[int(round(i))] for i in idx})


TUNED_COUNTS = (2, 5, 8)  # positions a clip that the engine's choices were measured on


def unseen_positions(clip: Clip, gap: int) -> list[int]:
    """Every 4th moving window that overlaps none of the windows the engine was tuned on: frames of
    the shared clips that no choice was fitted to."""
    tuned = set().union(*(gap_positions(clip, gap, k) for k in TUNED_COUNTS))
    return [p for p in moving_windows(clip, gap)[2::4] if all(abs(p - q) > gap for q in tuned)]


def extension_cut(clip: Clip, early: int) -> int | None:
    n = len(clip.frames)
    c = n - early
    while c - 3 >= 0 and clip.cut[c - 3:c + EXT_SCORED - 1].any():
        c -= 1
    return c if c - 3 >= 0 and c + EXT_SCORED <= n else None


def shot_context(clip: Clip, end: int, count: int, forward: bool = False) -> list[np.ndarray]:
    """Up to ``count`` frames before ``end`` (or from ``end`` on), stopping at a cut: what an
    editor's timeline would hand the engine from the same shot."""
    if forward:
        stop = end + 1
        while stop < min(len(clip.frames), end + count) and not clip.cut[stop - 1]:
            stop += 1
        return clip.frames[end:stop]
    start = end - 1
    while start > max(0, end - count) and not clip.cut[start - 1]:
        start -= 1
    return clip.frames[start:end]

