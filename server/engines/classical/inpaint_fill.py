"""The fill of what no frame of a shot shows: a smooth fill bent towards the straight structure
that crosses the hole (a post, a trunk, a door's edge, a horizon), continued through it where the
picture on both sides says so."""

from __future__ import annotations

import cv2
import numpy as np

# how far apart (a share of full scale, RMS over the channels) a line's two ends may be and still
# count as the same thing continuing
_AGREEMENT = 0.25
# px: the choice between a column, a row or the smooth fill softened, so no streak shows
_SOFTEN = 1.5
# a share of full scale: ends closer than this on both lines say nothing about which way to go
_FLOOR = 0.02
# a share of full scale: a line's estimate within this of the smooth fill is no structure worth
# its streaks (a smooth picture is filled better by the smooth fill)
_STANDS_OUT = 0.1


def _nearest_ends(ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each pixel, the row of the nearest ``ends`` pixel above it (or at it; -1 when none) and
    below it (or at it; the height when none), along its column."""
    h = ends.shape[0]
    rows = np.arange(h)[:, None]
    above = np.maximum.accumulate(np.where(ends, rows, -1), axis=0)
    below = np.minimum.accumulate(np.where(ends, rows, h)[::-1], axis=0)[::-1]
    return above, below


def _along_columns(values: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each pixel interpolated linearly along its column between the nearest ``ends`` pixels above
    and below it; how far apart those two are (RMS over the channels); where both exist."""
    h, w = ends.shape
    above, below = _nearest_ends(ends)
    both = (above >= 0) & (below < h)
    top, bottom = np.maximum(above, 0), np.minimum(below, h - 1)
    cols = np.arange(w)[None, :]
    a, b = values[top, cols], values[bottom, cols]
    t = ((np.arange(h)[:, None] - top) / np.maximum(bottom - top, 1)).astype(np.float32)[..., None]
    return a + t * (b - a), np.sqrt(np.square(b - a).mean(axis=2)), both


def line_fill(values: np.ndarray, ends: np.ndarray, smooth: np.ndarray, top: float) -> np.ndarray:
    """``smooth`` (a smooth fill of ``values`` where ``ends`` is False) bent towards straight structure:
    each filled pixel interpolated along its column between the nearest ``ends`` pixels above and
    below, and along its row likewise; the column's line is taken where its two ends agree, by how
    much better than the row's they do (something upright crosses the hole) and by how far it stands
    out of the smooth fill, the row's likewise; the smooth fill where neither line's ends agree,
    both lines' agree alike, or the lines say what the smooth fill says. ``values``, ``smooth``:
    float32 (h, w, channels) on a scale of 0..``top``; the ``ends`` pixels are returned as they are."""
    tolerance = np.float32(_AGREEMENT * top)
    col, col_gap, col_ok = _along_columns(values, ends)
    row, row_gap, row_ok = _along_columns(values.transpose(1, 0, 2), ends.T)
    row, row_gap, row_ok = row.transpose(1, 0, 2), row_gap.T, row_ok.T
    col_agrees = np.exp(-np.square(col_gap / tolerance)) * col_ok
    row_agrees = np.exp(-np.square(row_gap / tolerance)) * row_ok
    floor = np.float32(_FLOOR * top) ** 2
    col_sq, row_sq = np.square(col_gap), np.square(row_gap)
    col_better = row_sq / (row_sq + col_sq + floor)
    row_better = col_sq / (row_sq + col_sq + floor)
    stands_out = np.float32(_STANDS_OUT * top) ** 2
    col_out = np.square(col - smooth).mean(axis=2)
    row_out = np.square(row - smooth).mean(axis=2)
    col_better *= col_out / (col_out + stands_out)
    row_better *= row_out / (row_out + stands_out)
    take_col = cv2.GaussianBlur((col_agrees * col_better).astype(np.float32), (0, 0), _SOFTEN)
    take_row = cv2.GaussianBlur((row_agrees * row_better).astype(np.float32), (0, 0), _SOFTEN)
    take_col = (take_col * col_ok)[..., None]
    take_row = (take_row * row_ok)[..., None]
    out = smooth + take_col * (col - smooth) + take_row * (row - smooth)
    return np.where(ends[..., None], values, out).astype(np.float32)
