"""Outpainting: the border around a picture placed on a larger canvas, stable over time.

A background built from past and upcoming frames aligned by global motion (a similarity transform
a frame), and a smooth spatial fill (push-pull) where the camera never showed anything, blended
with the previous frame's fill so it does not flicker. The picture itself stays bit-exact.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator

import cv2
import numpy as np

from server.engines import flow as fl
from server.engines.base import EngineJob, OutpaintLayout
from server.engines.classical import scene


def _global_motion(prev: np.ndarray, cur: np.ndarray, estimator: fl.FlowEstimator) -> np.ndarray | None:
    """3x3 similarity transform taking ``prev``'s pixel coordinates to ``cur``'s (small greyscale
    frames), fitted with RANSAC to the dense flow on a grid; None when it does not hold."""
    flow = estimator(prev, cur)
    h, w = prev.shape
    step = max(4, min(h, w) // 24)
    ys, xs = np.mgrid[step // 2:h:step, step // 2:w:step]
    src = np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float32)
    dst = src + flow[ys.ravel(), xs.ravel()]
    matrix, inliers = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=1.0)
    if matrix is None or inliers is None or inliers.mean() < 0.3:
        return None
    return np.vstack([matrix, [0, 0, 1]])


# a camera move must explain the change between two frames at least this much better than
# holding still: the fit finds small "moves" in encoder noise (key frames of a still shot), which
# would shift the border of a still shot
_EXPLAINS = 0.97


def _explains(matrix: np.ndarray, prev: np.ndarray, cur: np.ndarray) -> bool:
    """``prev`` moved by ``matrix`` matches ``cur`` clearly better than ``prev`` held still."""
    h, w = prev.shape
    m = max(2, min(h, w) // 20)  # away from the edges, where the warp has nothing to bring in
    moved = cv2.warpPerspective(prev, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    inner = (slice(m, h - m), slice(m, w - m))
    held = float(cv2.absdiff(prev, cur)[inner].mean())
    return float(cv2.absdiff(moved, cur)[inner].mean()) < _EXPLAINS * held


def _push_pull(img: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Fill where ``known`` (0..1 weights) is 0 with a smooth extension of the known pixels: average
    down a pyramid until everything has data, then interpolate back up (a membrane-like fill)."""
    if known.min() >= 1:
        return img
    h, w = known.shape
    premultiplied = img * known[..., None]
    if min(h, w) < 4:
        mean = premultiplied.reshape(-1, 3).sum(0) / max(float(known.sum()), 1e-6)
        return np.broadcast_to(mean, img.shape).astype(np.float32)
    weight = cv2.pyrDown(known)
    colour = cv2.pyrDown(premultiplied) / np.maximum(weight, 1e-6)[..., None]
    coarse = _push_pull(colour, np.minimum(weight * 4, 1.0))  # any known child makes the parent known
    up = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR)
    return premultiplied + up * (1 - known[..., None])


def _translate(x: float, y: float) -> np.ndarray:
    return np.array([[1, 0, x], [0, 1, y], [0, 0, 1]], float)


class Outpainter:
    """Streams outpainted frames, holding a few upcoming frames to borrow content from.

    A running canvas (colour, coverage, age in frames) follows the camera: each frame it is moved
    by the global motion (a similarity transform estimated on small copies), the new picture is
    pasted in, and upcoming frames (log-spaced up to ``lookahead`` ahead) overwrite the spots
    they saw more recently than the canvas did. What was never seen gets a smooth push-pull fill
    that is blended with the previous frame's (motion-compensated) fill so it does not flicker.
    Only the border strips around the picture are ever warped or composed.
    """

    _FILL_SIDE = 256  # long side of the canvas copy the spatial fill is computed on
    _FILL_MEMORY = 0.8  # share of the previous frame's spatial fill that is kept
    # ...and under a steady camera (no picture corner moving _STEADY_SHIFT small px a frame or
    # more), where what lies beyond the picture changes least (gate weave and brightness flicker
    # of old film must not flicker the border); moving shots need the faster follow
    _FILL_MEMORY_STEADY = 0.95
    _STEADY_SHIFT = 1.0
    # mean change (8-bit levels) of the picture's outer ring below which the edge is not changing
    # (encoder noise): a still test pattern then keeps a bit-exact border
    _EDGE_NOISE = 0.25

    def __init__(self, layout: OutpaintLayout, lookahead: int, flow_quality: str):
        cw, ch = self.canvas = layout.canvas
        iw, ih = self.inner_size = layout.inner
        ox, oy = layout.offset
        self.inner = (slice(oy, oy + ih), slice(ox, ox + iw))
        rects = [(0, 0, cw, oy), (0, oy + ih, cw, ch), (0, oy, ox, oy + ih), (ox + iw, oy, cw, oy + ih)]
        self.strips = [(slice(y0, y1), slice(x0, x1)) for x0, y0, x1, y1 in rects if x1 > x0 and y1 > y0]
        self.small = fl.work_size((ih, iw))
        self.estimator = fl.FlowEstimator(flow_quality)
        self.inner_to_canvas = _translate(ox, oy)
        self.small_to_canvas = self.inner_to_canvas @ np.diag([iw / self.small[0], ih / self.small[1], 1.0])
        self.offsets = [j for j in (1, 2, 4, 8, 16, 32, 64) if j <= lookahead]
        scale = min(1.0, self._FILL_SIDE / max(cw, ch))
        self.fill_size = (max(4, round(cw * scale)), max(4, round(ch * scale)))
        self.fill_scale = np.diag([self.fill_size[0] / cw, self.fill_size[1] / ch, 1.0])
        self.cover_mask = np.full((ih, iw), 255, np.uint8)
        # double-buffered running canvas: float32 RGBA, colour premultiplied by coverage (which
        # runs up to the frames' full scale, like the alpha of cv2's RGB2RGBA), and age in frames;
        # the picture area is pasted in each frame and is always of age 0
        self.layers = [np.zeros((ch, cw, 4), np.float32) for _ in range(2)]
        self.ages = [np.full((ch, cw), np.inf, np.float32) for _ in range(2)]
        for age in self.ages:
            age[self.inner] = 0
        self.warped: np.ndarray | None = None  # scratch for upcoming frames, in their dtype
        self.covered = np.zeros((ch, cw), np.uint8)
        self.prev_small: np.ndarray | None = None

    def _warp_strips(self, src: np.ndarray, matrix: np.ndarray, dst: np.ndarray,
                     flags: int = cv2.INTER_LINEAR, fill: float = 0.0) -> None:
        """``dst = src`` moved by ``matrix`` (src -> canvas coordinates), on the border strips only."""
        for ys, xs in self.strips:
            cv2.warpPerspective(src, _translate(-xs.start, -ys.start) @ matrix,
                                (xs.stop - xs.start, ys.stop - ys.start), dst=dst[ys, xs], flags=flags,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=(fill,) * 4)

    def _motion(self, prev_small: np.ndarray, cur_small: np.ndarray) -> tuple[np.ndarray | None, bool]:
        """prev -> cur transform in canvas coordinates (None across a cut: nothing carries over),
        and whether the camera measurably held steady."""
        if scene.hist_distance(prev_small, cur_small) > scene.MAX_HIST_DISTANCE:
            return None, False
        gray = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in (prev_small, cur_small)]
        m = _global_motion(gray[0], gray[1], self.estimator)
        if m is None:
            return np.eye(3), False  # too little structure to tell: assume a still camera
        h, w = gray[0].shape
        corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], float).T
        shift = np.abs((m - np.eye(3)) @ corners).max()
        steady = shift < self._STEADY_SHIFT
        if shift < scene.DEAD_ZONE or not _explains(m, *gray):
            return np.eye(3), steady  # sub-pixel jitter of the estimate, not a camera move: hold still
        return self.small_to_canvas @ m @ np.linalg.inv(self.small_to_canvas), steady

    def run(self, frames: Iterable[np.ndarray], job: EngineJob, total: int | None) -> Iterator[np.ndarray]:
        source = iter(frames)
        horizon = self.offsets[-1] if self.offsets else 0
        # buffered frames: (frame, small RGB copy, canvas transform from the previous frame)
        buf: deque[tuple[np.ndarray, np.ndarray, np.ndarray | None]] = deque()
        fill_prev: np.ndarray | None = None  # last frame's spatial fill, moved with the camera
        dtype = None
        index = 0
        exhausted = False
        while True:
            job.check_cancel()
            while not exhausted and len(buf) <= horizon:
                frame = next(source, None)
                if frame is None:
                    exhausted = True
                    break
                dtype = dtype or frame.dtype
                self._validate(frame, dtype)
                small = fl.small_rgb(frame, self.small)
                buf.append((frame, small, *(self._motion(buf[-1][1], small) if buf else (None, False))))
            if not buf:
                return
            frame, _, motion, steady = buf[0]
            layer, age = self._advance(motion)
            if motion is None or fill_prev is None:
                fill_prev = None
            else:
                small_motion = self.fill_scale @ motion @ np.linalg.inv(self.fill_scale)
                fill_prev = cv2.warpPerspective(fill_prev, small_motion, self.fill_size,
                                                borderMode=cv2.BORDER_REPLICATE)
            np.copyto(layer[self.inner], cv2.cvtColor(frame, cv2.COLOR_RGB2RGBA), casting="unsafe")
            self._borrow_upcoming(buf, layer, age)
            memory = self._FILL_MEMORY_STEADY if steady else self._FILL_MEMORY
            out, fill_prev = self._compose(layer, fill_prev, frame, self._edge_change(buf[0][1]), memory)
            yield out
            buf.popleft()
            index += 1
            if total:
                job.progress(index / total, "outpainting")

    def _validate(self, frame: np.ndarray, dtype: np.dtype) -> None:
        iw, ih = self.inner_size
        if frame.shape != (ih, iw, 3) or frame.dtype != dtype or dtype not in (np.uint8, np.uint16):
            raise ValueError(f"outpaint: frames must be ({ih}, {iw}, 3) uint8/uint16 like the first, "
                             f"got {frame.shape} {frame.dtype}")

    def _advance(self, motion: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Move the running canvas with the camera into the other buffer (or clear it after a cut).
        Colour stays premultiplied by coverage, so edges that resampling blends with the unseen
        outside remain correct once divided by it."""
        self.layers.reverse()
        self.ages.reverse()
        layer, age = self.layers[0], self.ages[0]
        if motion is None:
            for ys, xs in self.strips:
                layer[ys, xs] = 0
                age[ys, xs] = np.inf
            return layer, age
        self._warp_strips(self.layers[1], motion, layer)
        self._warp_strips(self.ages[1], motion, age, cv2.INTER_NEAREST, np.inf)
        for ys, xs in self.strips:
            age[ys, xs] += 1
        return layer, age

    def _borrow_upcoming(self, buf: deque, layer: np.ndarray, age: np.ndarray) -> None:
        """Write upcoming frames onto the canvas where they saw a spot more recently than it has."""
        chain = np.eye(3)  # canvas coordinates of frame j -> of the current frame
        placed: list[tuple[int, np.ndarray]] = []
        for j in range(1, len(buf)):
            motion = buf[j][2]
            if motion is None:
                break  # a cut: later frames belong to another shot
            chain = chain @ np.linalg.inv(motion)
            if j in self.offsets:
                placed.append((j, chain @ self.inner_to_canvas))
        for j, matrix in placed:  # nearest first: a later (farther) frame only fills older spots
            frame = buf[j][0]
            if self.warped is None or self.warped.dtype != frame.dtype:
                self.warped = np.zeros((self.canvas[1], self.canvas[0], 3), frame.dtype)
            self._warp_strips(frame, matrix, self.warped)
            self._warp_strips(self.cover_mask, matrix, self.covered)
            top = np.iinfo(frame.dtype).max
            for ys, xs in self.strips:
                better = (self.covered[ys, xs] == 255) & (age[ys, xs] > j)
                part = layer[ys, xs]
                part[..., :3][better] = self.warped[ys, xs][better]
                part[..., 3][better] = top
                age[ys, xs][better] = j

    def _edge_change(self, small: np.ndarray) -> float:
        """Mean absolute change (0..1) since the previous frame of the picture's outer ring (small
        8-bit copy): how much the border next to it may change without flickering more than the
        footage does."""
        ring = np.ones(small.shape[:2], bool)
        ring[2:-2, 2:-2] = False
        prev, self.prev_small = self.prev_small, small
        if prev is None or prev.shape != small.shape:
            return 1.0
        change = float(np.abs(small[ring].astype(np.float32) - prev[ring]).mean())
        return 0.0 if change < self._EDGE_NOISE else change / 255.0

    def _compose(self, layer: np.ndarray, fill_prev: np.ndarray | None, frame: np.ndarray,
                 edge_change: float, memory: float) -> tuple[np.ndarray, np.ndarray]:
        """The output frame: seen colour, else the spatial fill; the picture itself bit-exact.
        The fill follows the new frame's at most ``1 - memory`` a frame, and no faster than the
        picture's own edge changes (a still shot gets a still border)."""
        top = float(np.iinfo(frame.dtype).max)
        small = cv2.resize(layer, self.fill_size, interpolation=cv2.INTER_AREA)
        fill = _push_pull(small[..., :3] * (top / np.maximum(small[..., 3:], 1e-3)),
                          (small[..., 3] > 0.99 * top).astype(np.float32))
        if fill_prev is not None:
            step = float(np.abs(fill - fill_prev).mean()) / top
            share = min(1 - memory, edge_change / max(step, 1e-6))
            fill = (1 - share) * fill_prev + share * fill
        out = np.empty((self.canvas[1], self.canvas[0], 3), frame.dtype)
        depth = cv2.CV_8U if frame.dtype == np.uint8 else cv2.CV_16U
        up = np.linalg.inv(self.fill_scale)
        for ys, xs in self.strips:
            size = (xs.stop - xs.start, ys.stop - ys.start)
            # the small fill upsampled straight into the strip (sampled as cv2.resize would)
            centre = _translate(0.5 * up[0, 0] - 0.5 - xs.start, 0.5 * up[1, 1] - 0.5 - ys.start) @ up
            colour = cv2.warpAffine(fill, centre[:2], size, flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_REPLICATE)
            part = layer[ys, xs]
            cover = cv2.extractChannel(part, 3)
            seen = cv2.divide(cv2.cvtColor(part, cv2.COLOR_RGBA2RGB), cv2.merge([cover] * 3), scale=top)
            cv2.copyTo(seen, cv2.compare(cover, top / 2, cv2.CMP_GT), colour)
            cv2.multiply(colour, 1.0, dst=out[ys, xs], dtype=depth)  # rounds and saturates
        out[self.inner] = frame
        return out, fill
