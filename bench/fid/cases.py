"""The benchmark's cases on one clip: gap fill, extension and outpainting, ours and the
baselines on the same frames, with their seam and flicker measures."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

import seams
from server.engines.base import EngineJob, OutpaintLayout

from .baselines import blurred_fill, dissolve, minterpolate, reflect_pad
from .clips import (CONTEXT, EXT_EARLY, EXT_SCORED, GAPS, MI_CONTEXT, Clip, extension_cut, gap_positions,
                    shot_context, unseen_positions)
from .metrics import flicker, psnr, ssim


def _job(clip: Clip) -> EngineJob:
    return EngineJob(rate=clip.rate)


@dataclass
class GapWindow:
    """One gap-fill case: ``gap`` frames from ``pos`` on removed from ``clip`` and remade by the
    engine from the shot's frames around them (as a timeline render hands them over)."""

    pos: int
    ours: list[np.ndarray]
    truth: list[np.ndarray]
    ends: tuple[np.ndarray, np.ndarray]
    regions: dict[str, np.ndarray]
    seconds: float  # the engine's time for the window

    def psnr(self) -> float:
        return float(np.mean([psnr(o, t) for o, t in zip(self.ours, self.truth)]))

    def seams(self, made: list[np.ndarray] | None = None) -> dict[str, dict[str, list[float]]]:
        """:func:`seams.compare` of the engine's frames (or of ``made``, a baseline's) at this window."""
        return seams.compare(self.ours if made is None else made, self.truth, self.regions, *self.ends)


def gap_window(engine, clip: Clip, pos: int, gap: int) -> GapWindow:
    a, b = pos - 1, pos + gap
    before, after = shot_context(clip, a + 1, CONTEXT), shot_context(clip, b, CONTEXT, forward=True)
    t0 = time.perf_counter()
    ours = list(engine.fill_gap(before, after, gap, _job(clip)))
    seconds = time.perf_counter() - t0
    truth = clip.frames[pos:pos + gap]
    ends = clip.frames[a], clip.frames[b]
    return GapWindow(pos, ours, truth, ends, seams.frame_regions([ends[0], *truth, ends[1]]), seconds)


def gap_windows(clip: Clip, gap: int, positions: int | None) -> list[int]:
    """The first removed frame of each window: ``positions`` a clip per gap length (None:
    :func:`unseen_positions`)."""
    return gap_positions(clip, gap, positions) if positions else unseen_positions(clip, gap)


def run_gap(engine, clip: Clip, positions: int | None, mi: bool) -> dict:
    """``positions`` a clip per gap length (None: :func:`unseen_positions`)."""
    res = {}
    for gap in GAPS:
        rows = []
        for p in gap_windows(clip, gap, positions):
            w = gap_window(engine, clip, p, gap)
            a, b = p - 1, p + gap
            dis = [dissolve(*w.ends, (k + 1) / (gap + 1)) for k in range(gap)]
            row = {"pos": p, "motion": float(clip.motion[a:b].mean()),
                   "ours": [w.psnr(), np.mean([ssim(o, t) for o, t in zip(w.ours, w.truth)])],
                   "dissolve": [np.mean([psnr(o, t) for o, t in zip(dis, w.truth)]),
                                np.mean([ssim(o, t) for o, t in zip(dis, w.truth)])],
                   "t_ours": w.seconds, "seams": {"ours": w.seams(), "dissolve": w.seams(dis)}}
            if mi:
                seq = clip.frames[a - MI_CONTEXT:a + 1] + clip.frames[b:b + MI_CONTEXT + 1]
                made, t_mi, _ = minterpolate(seq, MI_CONTEXT, gap)
                row["minterp"] = [np.mean([psnr(o, t) for o, t in zip(made, w.truth)]),
                                  np.mean([ssim(o, t) for o, t in zip(made, w.truth)])]
                row["t_minterp"] = t_mi
                row["seams"]["minterp"] = w.seams(made)
            rows.append(row)
        res[gap] = rows
    return res


def run_extension(engine, clip: Clip) -> dict:
    res = {}
    for early in EXT_EARLY:
        c = extension_cut(clip, early)
        if c is None:
            continue
        context, truth = shot_context(clip, c, CONTEXT), clip.frames[c:c + EXT_SCORED]
        ours = list(engine.extend(context, EXT_SCORED, "tail", _job(clip)))
        freeze = context[-1]
        regions = seams.frame_regions([freeze, *truth])
        res[early] = {"seams": {"ours": seams.compare(ours, truth, regions, before=freeze),
                                "freeze": seams.compare([freeze] * len(truth), truth, regions, before=freeze)},
                      "cut": c, "motion": float(clip.motion[c - 1:c + EXT_SCORED - 1].mean()),
                      "ours": [np.mean([psnr(o, t) for o, t in zip(ours, truth)]),
                               np.mean([ssim(o, t) for o, t in zip(ours, truth)])],
                      "freeze": [np.mean([psnr(freeze, t) for t in truth]),
                                 np.mean([ssim(freeze, t) for t in truth])]}
    return res


def crop_layout(w: int, h: int, aspect: float, ratio_16_9: float) -> OutpaintLayout | None:
    iw = round(h * aspect)
    if iw > 0.95 * w:  # the clip is narrower than 16:9: keep the width ratio instead
        iw = round(w * ratio_16_9)
    iw -= iw % 2
    if iw < 16:
        return None
    return OutpaintLayout(canvas=(w, h), inner=(iw, h), offset=((w - iw) // 2, 0))


CROPS = {"4:3": (4 / 3, 0.75), "9:16": (9 / 16, (9 / 16) / (16 / 9))}


def outpaint_start(clip: Clip, count: int) -> int:
    """Start of the cut-free window of ``count`` frames with the most motion (the middle one on ties)."""
    n = len(clip.frames)
    best, start = -1.0, max(0, (n - count) // 2)
    for s in range(0, max(1, n - count + 1)):
        if clip.cut[s:s + count - 1].any():
            continue
        m = float(clip.motion[s:s + count - 1].mean())
        if m > best + 1e-6:
            best, start = m, s
    return start


def run_outpaint(engine, clip: Clip, count: int) -> dict:
    res = {}
    s = outpaint_start(clip, count)
    truth = clip.frames[s:s + count]
    h, w = truth[0].shape[:2]
    for name, (aspect, ratio) in CROPS.items():
        layout = crop_layout(w, h, aspect, ratio)
        if layout is None:
            continue
        (x, y), (iw, ih) = layout.offset, layout.inner
        inner = [t[y:y + ih, x:x + iw].copy() for t in truth]
        border = np.ones((h, w), bool)
        border[y:y + ih, x:x + iw] = False
        outs = {"ours": list(engine.outpaint(inner, layout, _job(clip))),
                "reflect": [reflect_pad(i, layout) for i in inner],
                "blurred": [blurred_fill(i, layout) for i in inner]}
        row = {"start": s, "original_flicker": flicker(truth, border), "seams": {}}
        regions = seams.outpaint_regions((h, w), layout.offset, layout.inner)
        for k, frames in outs.items():
            row["seams"][k] = seams.compare(frames, truth, regions)
            row[k] = [np.mean([psnr(o, t, border) for o, t in zip(frames, truth)]),
                      np.mean([ssim(o, t, border) for o, t in zip(frames, truth)]),
                      flicker(frames, border)]
        res[name] = row
    return res

