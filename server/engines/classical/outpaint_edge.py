"""Outpainting next to the picture's edge: the band of the border within reach of it, and the
mirror image that continues the picture (or what other frames saw next to it) into that band."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from server.engines.base import OutpaintLayout


class Band(NamedTuple):
    """The part of a border strip within reach of the picture's edge."""

    where: tuple[slice, slice]  # into the strip
    weight: np.ndarray  # (h, w) 1 at the picture's edge, 0 at the reach
    fade: np.ndarray  # (h, w) the mirror image's give-way to the fill (:func:`give_way`)
    dist: np.ndarray  # (h, w) distance from the picture (1 next to it)
    mx: np.ndarray  # columns and rows of the picture its mirror image shows (BORDER_REFLECT_101)
    my: np.ndarray
    side: str  # which side of the picture the strip lies on
    along: np.ndarray  # per column (top, bottom) or row (left, right): the nearest edge pixel
    inside: np.ndarray  # per column (top, bottom) or row (left, right): whether it meets the picture


def band_of(ys: slice, xs: slice, side: str, layout: OutpaintLayout, reach: int) -> Band | None:
    """The part of a border strip within ``reach`` pixels of the picture, or None."""
    (ox, oy), (iw, ih) = layout.offset, layout.inner
    gx = np.arange(xs.start, xs.stop, dtype=np.float32) - ox
    gy = np.arange(ys.start, ys.stop, dtype=np.float32) - oy
    dx = np.maximum(np.maximum(-gx, gx - (iw - 1)), 0)
    dy = np.maximum(np.maximum(-gy, gy - (ih - 1)), 0)
    cols, rows = np.flatnonzero(dx < reach), np.flatnonzero(dy < reach)
    if len(cols) == 0 or len(rows) == 0:
        return None
    where = (slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1))
    dx, dy, gx, gy = dx[where[1]], dy[where[0]], gx[where[1]], gy[where[0]]
    dist = np.hypot(dx[None, :], dy[:, None]).astype(np.float32)
    weight = np.clip(1 - dist / reach, 0, 1) ** 2
    fade = give_way(dist / reach)

    def reflect(g: np.ndarray, n: int) -> np.ndarray:
        g = np.abs(g)
        return np.clip(np.where(g > n - 1, 2 * (n - 1) - g, g), 0, n - 1)

    g, n = (gx, iw) if side in ("top", "bottom") else (gy, ih)
    return Band(where, weight.astype(np.float32), fade.astype(np.float32), dist, reflect(gx, iw).astype(np.intp),
                 reflect(gy, ih).astype(np.intp), side, np.clip(g, 0, n - 1).astype(np.intp),
                 (g >= 0) & (g <= n - 1))


def over_band(lines, band: Band):
    """``lines`` (a float, or one value, or one colour, per pixel along the picture's edge) over
    ``band``'s (h, w, channel) array: each spot takes its nearest edge pixel's."""
    if np.ndim(lines) == 0:
        return lines
    per = np.expand_dims(lines[band.along], 0 if band.side in ("top", "bottom") else 1)
    return per if per.ndim == 3 else per[..., None]


def give_way(t: np.ndarray) -> np.ndarray:
    """Weight of a mirror image against the fill at ``t`` (0 where it starts, 1 at its reach): 1
    to 0, flat where it starts. The mirror image carries texture that the fill does not, and a
    weight falling steeply where the mirror image meets the picture (or what was seen) adds its
    slope times the texture's contrast to the border's gradient there: edges the real border does
    not have, right at the seam."""
    return 0.5 + 0.5 * np.cos(np.pi * np.clip(t, 0, 1))


def outward(a: np.ndarray, side: str) -> np.ndarray:
    """A view of band array ``a`` as (lines across the edge, depth), depth 0 next to the picture."""
    return {"left": lambda: a[:, ::-1], "right": lambda: a, "top": lambda: np.swapaxes(a, 0, 1)[:, ::-1],
            "bottom": lambda: np.swapaxes(a, 0, 1)}[side]()


def inward(frame: np.ndarray, side: str) -> np.ndarray:
    """A view of the picture as (lines across the edge on ``side``, depth), depth 0 its edge pixel."""
    return {"left": lambda: frame, "right": lambda: frame[:, ::-1], "top": lambda: np.swapaxes(frame, 0, 1),
            "bottom": lambda: np.swapaxes(frame, 0, 1)[:, ::-1]}[side]()


def mirror_past_seen(band: Band, near: np.ndarray, fill: np.ndarray, seen: np.ndarray, colour: np.ndarray,
                      frame: np.ndarray, reach: int) -> None:
    """Where other frames saw a run of the border next to the picture, the mirror image beyond it
    (in ``near``, over the spatial ``fill``) continues what was seen, mirrored about the run's outer
    end, not the picture mirrored about its edge: the mirror image meets what lies next to it."""
    near, fill, seen, colour = (outward(a, band.side) for a in (near, fill, seen, colour))
    lines, depth = seen.shape
    run = np.where(seen.all(1), depth, np.argmax(~seen, 1))  # seen pixels next to the picture, per line
    pick = np.flatnonzero(band.inside & (run > 0) & (run < depth))
    if len(pick) == 0:
        return
    run = run[pick, None]
    pic = inward(frame, band.side)[band.along[pick]]
    deep = min(pic.shape[1], depth + 2)
    source = np.concatenate([pic[:, deep - 1::-1].astype(np.float32), colour[pick]], 1)
    d = np.arange(depth)[None, :]
    mirror = np.take_along_axis(source, np.clip(deep + 2 * (run - 1) - d, 0, source.shape[1] - 1)[..., None], 1)
    weight = np.where(d >= run, give_way((d - run + 1) / reach), 0)[..., None]
    base = fill[pick]
    near[pick] = np.where(d[..., None] >= run[..., None], base + weight * (mirror - base), near[pick])
