"""Propagating what the camera saw: pixels that one frame lacks (a region to remove, the border
around a picture on a larger canvas) brought in from the frames around it that show them.

Shared by inpaint (:mod:`.inpaint`) and outpaint (:mod:`.outpaint`):

- :func:`camera_motion`: the camera's move between two frames, fitted robustly to dense flow,
  leaving out the pixels whose flow cannot be trusted (the region being replaced);
- :func:`hole_band` and :func:`complete_flow`: where a flow measured with the region smoothed
  away is not trusted, and the flow there completed from its surroundings (the camera's move plus
  a smooth continuation of the rest; inpaint's use of them is :mod:`.inpaint_flow`);
- :func:`carry`: a frame's made-up picture moved along that flow into the next, with where it
  shows something real and how many steps away it was seen;
- :func:`push_pull`: a quick smooth fill (a pyramid's averages);
- :func:`membrane`: the smooth fill of what no frame shows: push-pull relaxed towards the
  membrane (Laplace) fill, which has none of the pyramid's creases;
- :func:`spread`: a mismatch measured at a region's edge continued smoothly into it, so what is
  put there meets the picture around it without a visible edge;
- :class:`Spill`: per-frame results of one pass kept on disk until the other pass reads them, so a
  long shot is never held in memory.
"""

from __future__ import annotations

import os
import tempfile

import cv2
import numpy as np

from server.engines import flow as fl


def push_pull(img: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Fill where ``known`` (0..1 weights) is 0 with a smooth extension of the known pixels: average
    down a pyramid until everything has data, then interpolate back up (a membrane-like fill).
    ``img``: float32 (h, w, channels)."""
    if known.min() >= 1:
        return img
    h, w = known.shape
    premultiplied = img * known[..., None]
    if min(h, w) < 4:
        mean = premultiplied.reshape(-1, img.shape[-1]).sum(0) / max(float(known.sum()), 1e-6)
        return np.broadcast_to(mean, img.shape).astype(np.float32)
    weight = cv2.pyrDown(known)
    down = cv2.pyrDown(premultiplied)
    down = down.reshape(*weight.shape, img.shape[-1])  # pyrDown drops a single channel's axis
    colour = down / np.maximum(weight, 1e-6)[..., None]
    coarse = push_pull(colour, np.minimum(weight * 4, 1.0))  # any known child makes the parent known
    up = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR).reshape(h, w, img.shape[-1])
    return premultiplied + up * (1 - known[..., None])


_LAPLACE = np.array([[0, 0.25, 0], [0.25, 0, 0.25], [0, 0.25, 0]], np.float32)
_MEMBRANE_DEPTH = 12  # small px: how deep a hole is relaxed at most, larger ones on a smaller copy
_MEMBRANE_TIME = 0.4  # relaxing steps per the hole's depth squared


def _relax(img: np.ndarray, hole: np.ndarray, steps: int) -> np.ndarray:
    """``img`` with its ``hole`` pixels replaced ``steps`` times by the mean of their 4 neighbours
    (Jacobi steps towards the Laplace fill); the rest kept."""
    inside = hole.astype(np.float32)[..., None]
    keep = img * (1 - inside)
    for _ in range(steps):
        img = keep + inside * cv2.filter2D(img, -1, _LAPLACE, borderType=cv2.BORDER_REPLICATE).reshape(img.shape)
    return img


def membrane(img: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Fill where ``known`` (bool) is False smoothly from the known pixels: :func:`push_pull`, then
    relaxed towards the membrane (Laplace) fill for a time that grows with the square of the hole's
    depth (so its large-scale shape is smoothed as much as its small), on a copy at most
    ``_MEMBRANE_DEPTH`` px deep, its change brought back up; a few steps at full size smooth the
    rest. ``img``: float32 (h, w, channels)."""
    hole = ~known
    out = push_pull(img, known.astype(np.float32))
    if not hole.any():
        return out
    depth = float(cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, 3).max())
    scale = min(1.0, _MEMBRANE_DEPTH / max(depth, 1.0))
    if scale == 1.0:
        return _relax(out, hole, round(_MEMBRANE_TIME * depth * depth))
    h, w = hole.shape
    size = (max(2, round(w * scale)), max(2, round(h * scale)))
    small = cv2.resize(out, size, interpolation=cv2.INTER_AREA).reshape(size[1], size[0], -1)
    small_hole = cv2.resize(hole.astype(np.uint8), size, interpolation=cv2.INTER_AREA) > 0
    change = _relax(small, small_hole, round(_MEMBRANE_TIME * _MEMBRANE_DEPTH ** 2)) - small
    out = out + cv2.resize(change, (w, h), interpolation=cv2.INTER_LINEAR).reshape(out.shape) * hole[..., None]
    return _relax(out, hole, 5)


def camera_motion(flow: np.ndarray, exclude: np.ndarray | None = None,
                  homography: bool = False) -> np.ndarray | None:
    """3x3 transform taking the first frame's pixel coordinates to the second's, fitted with RANSAC
    to ``flow`` (first -> second, small pixels) on a grid, leaving out the pixels where ``exclude``
    is True: a similarity (a camera pan, tilt, roll, zoom) or, with ``homography``, a full
    perspective move. None when it does not hold (too few inliers)."""
    h, w = flow.shape[:2]
    step = max(4, min(h, w) // 24)
    ys, xs = np.mgrid[step // 2:h:step, step // 2:w:step]
    ys, xs = ys.ravel(), xs.ravel()
    if exclude is not None:
        keep = ~exclude[ys, xs]
        ys, xs = ys[keep], xs[keep]
    if len(xs) < 8:
        return None
    src = np.stack([xs, ys], 1).astype(np.float32)
    dst = src + flow[ys, xs]
    if homography:
        matrix, inliers = cv2.findHomography(src, dst, cv2.RANSAC, 1.0)
    else:
        matrix, inliers = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=1.0)
    if matrix is None or inliers is None or inliers.mean() < 0.3:
        return None
    return matrix if homography else np.vstack([matrix, [0, 0, 1]])


def motion_field(matrix: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The flow (h, w, 2) that the transform ``matrix`` gives each pixel."""
    h, w = shape
    pts = fl.grid(h, w).reshape(-1, 1, 2)
    moved = cv2.perspectiveTransform(pts, matrix.astype(np.float64)).reshape(h, w, 2)
    return (moved - fl.grid(h, w)).astype(np.float32)


def complete_flow(flow: np.ndarray, unknown: np.ndarray, matrix: np.ndarray | None) -> np.ndarray:
    """``flow`` with its values where ``unknown`` replaced: the camera's move (``matrix``, when it
    holds) plus a smooth continuation of what the flow around the region does beyond it
    (parallax, a slow zoom that the fit does not follow exactly)."""
    if not unknown.any():
        return flow
    model = motion_field(matrix, unknown.shape) if matrix is not None else np.zeros_like(flow)
    residual = push_pull(flow - model, (~unknown).astype(np.float32))
    out = flow.copy()
    out[unknown] = (model + residual)[unknown]
    return out


def hole_free(grey: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """A small 8-bit grey copy with ``hole`` replaced by a smooth fill of its surroundings: flow then
    matches no edge of what is being removed."""
    if not hole.any():
        return grey
    filled = push_pull(grey.astype(np.float32)[..., None], (~hole).astype(np.float32))[..., 0]
    return np.clip(filled + 0.5, 0, 255).astype(np.uint8)


_HOLE_BAND = 0.03  # of the small copy's shorter side
# how much of a carried pixel's sampling must come from what the camera saw for it to count as seen
_SEEN_SHARE = 0.25


def hole_band(hole: np.ndarray) -> tuple[np.ndarray, int]:
    """Where a flow measured over a hole (smoothed away first, see :func:`hole_free`) is not to be
    trusted: the hole and a band around it, and the band's reach (small px). The band is as wide
    as the coarse scales of the flow search, where the hole's still fill pulls the flow of the
    moving picture next to it towards zero."""
    reach = max(4, round(_HOLE_BAND * min(hole.shape)))
    return cv2.dilate(hole.astype(np.uint8), np.ones((2 * reach + 1,) * 2, np.uint8)).astype(bool), reach


def full_maps(flow: np.ndarray, size: tuple[int, int],
              box: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Absolute sampling maps (x + dx, y + dy), in full-size pixels, for the crop ``box`` (x0, y0,
    x1, y1) of a frame of ``size`` (width, height), from a small ``flow`` upsampled bilinearly
    (sampled where cv2.resize would put it)."""
    h, w = flow.shape[:2]
    x0, y0, x1, y1 = box
    sx, sy = size[0] / w, size[1] / h
    to_small = np.array([[1 / sx, 0, (x0 + 0.5) / sx - 0.5], [0, 1 / sy, (y0 + 0.5) / sy - 0.5]])
    part = cv2.warpAffine(flow, to_small, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_REPLICATE)
    gx, gy = fl.grid_planes(size[1], size[0])
    dx, dy = cv2.split(part)
    return gx[y0:y1, x0:x1] + dx * np.float32(sx), gy[y0:y1, x0:x1] + dy * np.float32(sy)


def carry(picture: np.ndarray, seen: np.ndarray, hops: np.ndarray, mx: np.ndarray,
          my: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The previous frame's made-up ``picture`` (float32, colour everywhere) moved along the maps
    into the current frame: its colour (Lanczos: a pixel carried over many frames stays sharp),
    where it shows something the camera saw (over ``_SEEN_SHARE`` of what is sampled was seen,
    inside the frame: asking all of it lost, each frame, the seen pixels at the edge of what was
    never seen that a move of a fraction of a pixel samples partly from it, as much as a slow or
    shaking camera reveals), and how many frames away that was (``hops`` + 1: the nearest
    pixel's, infinite where that one was not seen)."""
    colour = cv2.remap(picture, mx, my, cv2.INTER_LANCZOS4, borderMode=cv2.BORDER_REPLICATE)
    real = cv2.remap(seen, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0) > _SEEN_SHARE
    far = cv2.remap(hops, mx, my, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=np.inf) + 1
    return colour, real, far


def mix(a: np.ndarray, a_hops: np.ndarray, b: np.ndarray, b_hops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two estimates of the same pixels (colour, and what trusting it costs: how many frames away
    it was seen, or that times how badly it fitted; inf: none) blended, the cheaper one weighing
    more; where only one has a value, that one. Returns the colour and its cost (inf where neither
    has one)."""
    fa, fb = np.isfinite(a_hops), np.isfinite(b_hops)
    both = fa & fb
    ha, hb = np.where(fa, a_hops, 1.0), np.where(fb, b_hops, 1.0)
    wa = np.where(both, hb / (ha + hb), fa.astype(np.float32)).astype(np.float32)
    colour = a * wa[..., None] + b * (1 - wa[..., None])
    hops = np.where(both, 2 * ha * hb / (ha + hb), np.where(fa, a_hops, b_hops)).astype(np.float32)
    return colour, hops


def spread(delta: np.ndarray, known: np.ndarray, inside: np.ndarray, reach: float | None = None) -> np.ndarray:
    """The mismatch ``delta`` (float32 (h, w, c)) measured where ``known``, continued smoothly over
    ``inside`` (zero elsewhere); fading to nothing ``reach`` pixels from the known pixels, when
    given (a correction at an edge that should not shift what lies far from it)."""
    out = push_pull(np.where(known[..., None], delta, 0).astype(np.float32), known.astype(np.float32))
    if reach is not None:
        distance = cv2.distanceTransform((~known).astype(np.uint8), cv2.DIST_L2, 3)
        out = out * np.clip(1 - distance / reach, 0, 1)[..., None]
    return np.where(inside[..., None], out, 0).astype(np.float32)


def bounding_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) of the True pixels of ``mask``, or None when there are none."""
    points = cv2.findNonZero(mask.astype(np.uint8))
    if points is None:
        return None
    x, y, w, h = cv2.boundingRect(points)
    return x, y, x + w, y + h


class Spill:
    """Arrays put aside in a temporary file, each read back once: what one pass over a long shot
    keeps for every frame of it, for the other pass, without holding them in memory."""

    def __init__(self, folder: str | None = None):
        self.folder = folder or tempfile.gettempdir()
        self._file = tempfile.TemporaryFile(dir=self.folder)  # no name: it goes with the process
        self._where: dict[int, list[tuple[int, tuple[int, ...], np.dtype]]] = {}
        self._end = 0

    def put(self, key: int, *arrays: np.ndarray) -> None:
        where = []
        for a in arrays:
            data = np.ascontiguousarray(a).tobytes()
            try:
                os.pwrite(self._file.fileno(), data, self._end)
            except OSError as exc:
                raise OSError(exc.errno, f"cannot put frame {key}'s work aside in {self.folder} "
                                         f"({self._end + len(data)} bytes so far): {exc.strerror}") from None
            where.append((self._end, a.shape, a.dtype))
            self._end += len(data)
        self._where[key] = where

    def take(self, key: int) -> list[np.ndarray]:
        out = []
        for offset, shape, dtype in self._where.pop(key):
            size = int(np.prod(shape)) * np.dtype(dtype).itemsize
            out.append(np.frombuffer(os.pread(self._file.fileno(), size, offset), dtype).reshape(shape).copy())
        return out

    def __contains__(self, key: int) -> bool:
        return key in self._where

    def close(self) -> None:
        self._file.close()
