"""Outpainting's fill far from the picture: the picture's own row and column colours carried out
as far as the picture shows its rows (columns) run (:class:`Far`)."""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

from server.engines.base import OutpaintLayout


class Far(NamedTuple):
    """The low frequencies far from the picture: each spot beyond its left or right edge takes the
    colour of the picture's row (averaged with weights falling off from that side), beyond its top
    or bottom that of its column (corners a mix of both), weighted in over the distance from the
    picture. How far a row's colour is carried out is the picture's own evidence of how far its
    rows run: only as much of it as the row colours explain of the picture near that side, and
    quicker the more alike the row colours at its two opposite sides are (layers such as ground and
    sky that cross the whole picture likely run on beyond it)."""

    inner: tuple[slice, slice]  # the picture, in the fill's (small) canvas
    rows: np.ndarray  # (h, w) row of the picture each spot takes its row colour from
    cols: np.ndarray  # (h, w) column it takes its column colour from
    row_side: np.ndarray  # (h, w, 1) 0 where a spot's row colour is the left side's, 1 the right's
    col_side: np.ndarray  # (h, w, 1) 0 where its column colour is the top side's, 1 the bottom's
    across: np.ndarray  # (h, w, 1) share of the row colour (the rest: column colour)
    slow: np.ndarray  # (h, w, 1) how far the fill gives way to the row/column colour, by default
    quick: np.ndarray  # (h, w, 1) and where the picture's opposite sides show the same rows (columns)
    sigma: float  # smoothing of the row and column colours (small px)
    reach_x: float  # how far into the picture (small px) its row colours are drawn from, falling off
    reach_y: float  # and its column colours

    @staticmethod
    def of(layout: OutpaintLayout, size: tuple[int, int], reaches: tuple[float, float], near: float) -> Far:
        """``reaches``: the slow and the quick give-way's distance (share of the picture's shorter
        side, ``1 - exp(-d / reach)``); ``near``: the row colours' falloff (share of the width)."""
        (cw, ch), (iw, ih), (ox, oy) = layout.canvas, layout.inner, layout.offset
        w, h = size
        sx, sy = w / cw, h / ch
        x0, y0 = int(np.floor(ox * sx)), int(np.floor(oy * sy))
        x1, y1 = max(x0 + 1, int(np.ceil((ox + iw) * sx))), max(y0 + 1, int(np.ceil((oy + ih) * sy)))
        gx, gy = np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)
        dx = np.maximum(np.maximum(x0 - gx, gx - (x1 - 1)), 0)[None, :]
        dy = np.maximum(np.maximum(y0 - gy, gy - (y1 - 1)), 0)[:, None]
        slow, quick = ((1 - np.exp(-np.hypot(dx, dy) / max(1.0, r * min(x1 - x0, y1 - y0))))[..., None]
                       .astype(np.float32) for r in reaches)
        across = (dx / np.maximum(dx + dy, 1e-6))[..., None].astype(np.float32)
        # rows of the left side's table first, then the right's (columns: top's, then bottom's)
        right, below = (gx >= x1)[None, :], (gy >= y1)[:, None]
        rows = (np.clip(gy, y0, y1 - 1) - y0).astype(np.intp)[:, None] + (y1 - y0) * right
        cols = (np.clip(gx, x0, x1 - 1) - x0).astype(np.intp)[None, :] + (x1 - x0) * below
        row_side = np.broadcast_to(right, (h, w)).astype(np.intp)[..., None]
        col_side = np.broadcast_to(below, (h, w)).astype(np.intp)[..., None]
        return Far((slice(y0, y1), slice(x0, x1)), rows, cols, row_side, col_side, across, slow, quick,
                    max(1.0, 0.05 * min(x1 - x0, y1 - y0)), near * (x1 - x0), near * (y1 - y0))

    def _weights(self) -> tuple[np.ndarray, np.ndarray]:
        """Weights of the picture's columns and rows near its left (top) side, summing to 1."""
        y, x = self.inner

        def towards(n: int, reach: float) -> np.ndarray:
            k = np.exp(-np.arange(n, dtype=np.float32) / max(reach, 1.0))
            return k / k.sum()

        return towards(x.stop - x.start, self.reach_x), towards(y.stop - y.start, self.reach_y)

    def colours(self, fill: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The picture's (in ``fill``) row colours near its left side, then its right (one per row),
        and its column colours near its top, then its bottom."""
        pic = fill[self.inner]
        wx, wy = self._weights()

        def blur(line: np.ndarray) -> np.ndarray:
            return cv2.GaussianBlur(line[:, None], (0, 0), self.sigma, borderType=cv2.BORDER_REPLICATE).reshape(-1, 3)

        return (np.concatenate([blur(np.einsum("hwc,w->hc", pic, k)) for k in (wx, wx[::-1])]),
                np.concatenate([blur(np.einsum("hwc,h->wc", pic, k)) for k in (wy, wy[::-1])]))

    def evidence(self, fill: np.ndarray, row: np.ndarray, col: np.ndarray) -> np.ndarray:
        """How far the picture's rows (columns) run: per side (left, right, top, bottom) the share
        of the picture's colour variance near it that its row (column) colours explain, then how
        alike the row colours of its two sides are, and its column colours'."""
        pic = fill[self.inner]
        wx, wy = self._weights()
        left, right = np.split(row, 2)
        top, bottom = np.split(col, 2)
        return np.array([_explained(pic, left[:, None], wx[None, :]), _explained(pic, right[:, None], wx[None, ::-1]),
                         _explained(pic, top[None, :], wy[:, None]), _explained(pic, bottom[None, :], wy[::-1, None]),
                         _alike(left, right), _alike(top, bottom)], np.float32)

    def apply(self, fill: np.ndarray, known: np.ndarray, row: np.ndarray, col: np.ndarray,
              evidence: np.ndarray) -> np.ndarray:
        """``fill`` where nothing was seen (``known`` 0..1) moved towards the picture's row and
        column colours (:meth:`colours`) by the distance from it, as far as the ``evidence``
        (:meth:`evidence`) says they run."""
        quick = self.across * evidence[4] + (1 - self.across) * evidence[5]
        weight = self.slow + quick * (self.quick - self.slow)
        toward = (self.across * evidence[:2][self.row_side] * (row[self.rows] - fill)
                  + (1 - self.across) * evidence[2:4][self.col_side] * (col[self.cols] - fill))
        return fill + (weight * (1 - np.clip(known, 0, 1))[..., None]) * toward


def _explained(pic: np.ndarray, line: np.ndarray, weights: np.ndarray) -> float:
    """Share of ``pic``'s colour variance, weighted by ``weights`` (one per column, or per row,
    summing to 1), that its ``line`` colours (one per row, or per column) explain."""
    w = np.broadcast_to(weights, pic.shape[:2])
    mean = np.einsum("hwc,hw->c", pic, w) / w.sum()
    residual = float(np.einsum("hw,hw->", w, np.square(pic - line).sum(2)))
    spread = float(np.einsum("hw,hw->", w, np.square(pic - mean).sum(2)))
    return float(np.clip(1 - residual / max(spread, 1e-6), 0, 1))


def _alike(a: np.ndarray, b: np.ndarray) -> float:
    """How alike two colour profiles along the picture are: their correlation (deviations from
    their means, all channels), 0 where not positive."""
    a, b = a - a.mean(0), b - b.mean(0)
    return float(np.clip((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum() + 1e-6), 0, 1))
