"""Optical-flow helpers for the classical engine.

Flow is always computed on a small 8-bit greyscale copy (long side :data:`WORK_SIDE`), because
DIS cost grows with the pixel count while a smooth motion field loses little when upsampled.
The full-depth frames (uint8 or uint16) are only ever resampled with ``cv2.remap``, so a
10-bit source keeps its precision.

Flows are (h, w, 2) float32 arrays of per-pixel (dx, dy) in the pixel units of the array they
belong to; :func:`warp_full` rescales a small flow to the full frame as it warps.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import lru_cache

import cv2
import numpy as np

WORK_SIDE = 480  # long side of the images flow is computed on
# gap fill's flow: the motion search at time t (classical.interpolate.Interpolator) and the motion
# curve recover detail a coarser flow misses, so a smaller copy loses little and keeps 1080p gap
# fill above the 24 fps it needs
INTERP_SIDE = 320
# frames no longer than SD_SIDE measure it at INTERP_SIDE_SD instead: their full-size warps cost a
# fraction of 1080p's, so the finer flow fits in the time a frame has, and the slow pans of SD
# footage move by fractions of a pixel that a flow at half their size blurs
SD_SIDE = 1024
INTERP_SIDE_SD = 480
# frames up to INTERP_SLOW_SIDE long (720p) get the finer flow too when the picture moves slowly:
# there it recovers detail the coarse one blurs, while on a picture that stands still it only
# finds spurious motion in what little changes (a test pattern's counter), and fast motion it
# reaches no better, with more seams
INTERP_SLOW_SIDE = 1280

_PRESETS = {
    # ultrafast search, but down to the 1/2 pyramid level: finer motion than plain ultrafast,
    # still cheap enough for 1080p at well over 24 fps
    "fast": (cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, 1),
    # DIS "medium" (denser patches, more refinement): better flow at several times the cost
    # (bench/RESULTS.md)
    "high": (cv2.DISOPTICAL_FLOW_PRESET_MEDIUM, None),
}


def work_size(shape: tuple[int, ...], side: int = WORK_SIDE) -> tuple[int, int]:
    """(width, height) of the small copy flow is computed on: at most ``side`` long, at least 16
    pixels each way (DIS needs 12; a sliver of a frame is upsampled rather than rejected)."""
    h, w = shape[:2]
    scale = min(1.0, side / max(h, w))
    return max(16, round(w * scale)), max(16, round(h * scale))


def interp_size(shape: tuple[int, ...], slow: bool = False) -> tuple[int, int]:
    """(width, height) of the small copy gap fill's flow is measured on (see :data:`INTERP_SIDE`);
    ``slow``: the coarse flow found most of the picture moving slowly (see
    :data:`INTERP_SLOW_SIDE`)."""
    side = max(shape[:2])
    fine = side <= SD_SIDE or (slow and side <= INTERP_SLOW_SIDE)
    return work_size(shape, INTERP_SIDE_SD if fine else INTERP_SIDE)


def to_8bit(frame: np.ndarray) -> np.ndarray:
    """An 8-bit copy of a uint8/uint16 frame (for analysis only, never for output)."""
    if frame.dtype == np.uint8:
        return frame
    return (frame >> 8).astype(np.uint8)


def small_rgb(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """8-bit RGB copy at ``size`` (width, height): what DIS and the scene checks look at.

    From a frame over four times the size, a bilinear step to twice the size comes first:
    INTER_AREA straight from 1080p to 384 wide costs ~2 ms, the two steps ~0.5 ms, and the
    result differs by ~0.3 grey levels on average (this copy is only ever analysed, never shown)."""
    h, w = frame.shape[:2]
    if w > 4 * size[0] and h > 4 * size[1]:
        frame = cv2.resize(frame, (2 * size[0], 2 * size[1]), interpolation=cv2.INTER_LINEAR)
    return to_8bit(cv2.resize(frame, size, interpolation=cv2.INTER_AREA))


class FlowEstimator:
    """DIS optical flow with a named quality (``fast`` or ``high``). Not thread-safe: one per job."""

    def __init__(self, quality: str = "fast"):
        if quality not in _PRESETS:
            raise ValueError(f"flow quality must be one of {', '.join(_PRESETS)}, not {quality!r}")
        preset, finest = _PRESETS[quality]
        self._dis = cv2.DISOpticalFlow_create(preset)
        if finest is not None:
            self._dis.setFinestScale(finest)

    def __call__(self, a: np.ndarray, b: np.ndarray, start: np.ndarray | None = None) -> np.ndarray:
        """Flow from ``a`` to ``b``: ``a(x) ~ b(x + flow(x))``. ``start``: a first guess (say, the
        camera's move) that the search refines, for motion beyond its own reach."""
        return self._dis.calc(a, b, None if start is None else start.copy())


@lru_cache(maxsize=8)
def grid(h: int, w: int) -> np.ndarray:
    """(h, w, 2) float32 pixel coordinates (x, y), read-only and cached."""
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    grid = np.dstack([xs, ys])
    grid.flags.writeable = False
    return grid


@lru_cache(maxsize=8)
def grid_planes(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`grid` as two (h, w) planes, x and y."""
    planes = tuple(cv2.split(np.ascontiguousarray(grid(h, w))))
    for p in planes:
        p.flags.writeable = False
    return planes


def remap_planes(planes: Sequence[np.ndarray], dx: np.ndarray, dy: np.ndarray) -> list[np.ndarray]:
    """:func:`remap` for single-channel images by a flow given as planes (``dx``, ``dy``): a
    2-channel flow kept as planes warps ~3x faster than interleaved (OpenCV vectorises remap for
    1, 3 and 4 channels, not 2), and numpy arithmetic on one channel of an interleaved array is
    ~10x slower than on a plane."""
    gx, gy = grid_planes(*dx.shape)
    mx, my = gx + dx, gy + dy
    return [cv2.remap(p, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE) for p in planes]


def remap(img: np.ndarray, flow: np.ndarray, border: int = cv2.BORDER_REPLICATE) -> np.ndarray:
    """Backward warp: ``out(x) = img(x + flow(x))``; ``flow`` has ``img``'s height and width."""
    h, w = flow.shape[:2]
    return cv2.remap(img, grid(h, w) + flow, None, cv2.INTER_LINEAR, borderMode=border)


_scratch = threading.local()


def scratch(name: str, shape: tuple[int, ...], dtype=np.float32) -> np.ndarray:
    """A reusable array of this thread's, for temporaries that do not outlive one call.

    A 1080p frame's temporaries (sampling maps, warped copies, weights) come to ~80 MB a made
    frame; allocated afresh each time, the kernel maps and zeroes their pages again (large
    blocks come straight from mmap), which measured ~15 ms of a 45 ms single-frame gap. The
    contents are garbage on return; never hand one out of the call that asked for it."""
    pool = getattr(_scratch, "pool", None)
    if pool is None:
        pool = _scratch.pool = {}
    arr = pool.get(name)
    if arr is None or arr.shape != tuple(shape) or arr.dtype != dtype:
        arr = pool[name] = np.empty(shape, dtype)
    return arr


def warp_full(img: np.ndarray, flow: np.ndarray, border: int = cv2.BORDER_REPLICATE,
              dst: np.ndarray | None = None, map_name: str | None = None) -> np.ndarray:
    """Backward-warp a full-size ``img`` by a small ``flow`` field, upsampled on the fly (into
    ``dst`` when given; the full-size sampling map in :func:`scratch` ``map_name`` when given)."""
    h, w = img.shape[:2]
    dst = cv2.remap(img, _upsampled_map(flow, (w, h), map_name), None, cv2.INTER_LINEAR, dst=dst,
                    borderMode=border)
    return dst


def _upsampled_map(flow: np.ndarray, size: tuple[int, int], map_name: str | None = None) -> np.ndarray:
    """Absolute sampling map (x + dx, y + dy) at ``size`` from a small flow, with a single resize.

    The identity part is linear, so resizing it is exact, except within half a small pixel of the
    edges where cv2.resize clamps: those few rows/columns get the missing part added back. This
    saves a full-size grid addition per warp (about 10 % of a 1080p interpolated frame).
    """
    h, w = flow.shape[:2]
    base, (cx, bx0, bx1), (cy, by0, by1) = _small_base(h, w, *size)
    out = None if map_name is None else scratch(map_name, (size[1], size[0], 2))
    out = cv2.resize(base + flow * np.array([size[0] / w, size[1] / h], np.float32), size, dst=out,
                     interpolation=cv2.INTER_LINEAR)
    out[:, :bx0, 0] += cx[:bx0]
    out[:, bx1:, 0] += cx[bx1:]
    out[:by0, :, 1] += cy[:by0, None]
    out[by1:, :, 1] += cy[by1:, None]
    return out


@lru_cache(maxsize=8)
def _small_base(h: int, w: int, big_w: int, big_h: int):
    """The full-size position of each small pixel as cv2.resize sees it, and the edge corrections."""
    def axis(n: int, big: int):
        s = big / n
        pos = (np.arange(n, dtype=np.float32) + 0.5) * s - 0.5
        full = np.arange(big, dtype=np.float32)
        corr = full - np.clip(full, pos[0], pos[-1])
        inside = np.flatnonzero(corr == 0)
        return pos, (corr, int(inside[0]), int(inside[-1]) + 1)

    px, xs = axis(w, big_w)
    py, ys = axis(h, big_h)
    base = np.dstack(np.meshgrid(px, py))
    base.flags.writeable = False
    return base, xs, ys


def magnitude(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``sqrt(x² + y²)`` per pixel, as ``cv2.magnitude`` but the same to the last bit wherever the
    arrays and the result lie in memory: OpenCV's vector path rounds some pixels one step apart by
    their alignment, so a render changed with what the process had done before."""
    return np.sqrt(np.square(x) + np.square(y))


def speed(field: np.ndarray) -> np.ndarray:
    """:func:`magnitude` of a flow field's (h, w, 2) vectors: how far each pixel moves."""
    return magnitude(field[..., 0], field[..., 1])


def fb_error(fwd: np.ndarray, bwd: np.ndarray) -> np.ndarray:
    """Forward-backward inconsistency ``|fwd(x) + bwd(x + fwd(x))|`` in pixels (high = occluded/wrong)."""
    fx, fy = cv2.split(fwd)
    bx, by = remap_planes(cv2.split(bwd), fx, fy)
    return magnitude(fx + bx, fy + by)
