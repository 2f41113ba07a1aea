"""Outpainting: the border around a picture placed on a larger canvas, stable over time.

What the camera saw is propagated first (:mod:`.propagate`'s camera motion): a running canvas
carries what past frames showed forward, aligned by global motion (a similarity transform a
frame), and upcoming frames up to the engine's look-ahead put in what they show; a frame is not
used along a stretch of the picture's edge where it shows something else than the picture just
inside it (a subject moved there), and what it brings is made to meet the picture at its edge
(its difference from the picture along the edge carried across). Only where no
frame showed anything is the border filled: a smooth (push-pull) fill that far from the picture
gives way to the picture's own row (column) colours near that side, with the picture's mirror
image near its edge continuing its texture, blended with the previous frame's fill so it does not
flicker; the step left at the picture's edge, whatever the border was made of, is levelled over
a band so no hard seam shows. The picture itself stays bit-exact.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator

import cv2
import numpy as np

from server.engines import flow as fl
from server.engines.base import EngineJob, OutpaintLayout
from server.engines.classical import propagate as pg
from server.engines.classical import scene
from server.engines.classical.outpaint_edge import Band, band_of, mirror_past_seen, outward, over_band
from server.engines.classical.outpaint_far import Far


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


def _translate(x: float, y: float) -> np.ndarray:
    return np.array([[1, 0, x], [0, 1, y], [0, 0, 1]], float)


class Outpainter:
    """Streams outpainted frames, holding a few upcoming frames to borrow content from.

    A running canvas (colour, coverage, age in frames) follows the camera: each frame it is moved
    by the global motion (a similarity transform estimated on small copies), the new picture is
    pasted in, and upcoming frames (log-spaced up to ``lookahead`` ahead) overwrite the spots
    they saw more recently than the canvas did. What was never seen gets a smooth push-pull fill
    that is blended with the previous frame's (motion-compensated) fill so it does not flicker,
    and near the picture the picture's mirror image; then the step at the picture's edge is
    levelled (:meth:`_level_edge`). Only the border strips around the picture are ever warped or
    composed.
    """

    _FILL_SIDE = 640  # long side of the canvas copy the spatial fill is computed on
    # share of the previous frame's spatial fill that is kept: none while the camera moves (the
    # fill then follows the picture's edge as fast as it changes), most under a steady camera (no
    # picture corner moving _STEADY_SHIFT small px a frame or more), where what lies beyond the
    # picture changes least (gate weave and brightness flicker of old film must not flicker it)
    _FILL_MEMORY = 0.0
    _FILL_MEMORY_STEADY = 0.98
    _STEADY_SHIFT = 1.0
    # mean change (8-bit levels) of the picture's outer ring below which the edge is not changing
    # (encoder noise): a still test pattern then keeps a bit-exact border
    _EDGE_NOISE = 0.25
    # how far (share of the picture's shorter side) the picture's edge reaches into the border:
    # its mirror image (continuing the picture's texture where nothing was seen), and the
    # levelling of the step at the edge
    _EDGE_REACH = 0.08
    # far from the picture, what lies beyond it is more like what the picture shows along that row
    # (column) near that side than like its edge pixel: the fill gives way to the picture's row
    # colours over this distance (share of the picture's shorter side; 1 - exp(-d / reach)), the
    # slow one by default, the quick one where the picture's opposite sides show the same rows (see
    # Far); the row colours drawn from the picture's columns falling off over _FAR_NEAR of its width
    _FAR_REACH = 4.0
    _FAR_QUICK = 0.5
    _FAR_NEAR = 0.25
    # share of the previous frame's evidence of how far the rows run that is kept (reset at a cut):
    # a moving picture's changing rows must not flicker the far border
    _FAR_MEMORY = 0.8
    # another frame (an upcoming one, or the previous one for what the canvas carries) shows
    # something else than the picture next to its edge when it differs from it there by more than
    # this many times the picture's own step from pixel to pixel (plus _NOISE 8-bit levels)
    _UNLIKE = 3.0
    _NOISE = 2.0
    # under a steady camera the mirror image is held: its fine detail (what a blur of _DETAIL_SIGMA
    # px removes: grain, foliage) is then stale against the picture's next to it and continues
    # texture the border need not have; this share of it is kept (by _steady_share)
    _DETAIL_SIGMA = 2.0
    _DETAIL_HELD = 0.5

    def __init__(self, layout: OutpaintLayout, lookahead: int, flow_quality: str):
        cw, ch = self.canvas = layout.canvas
        iw, ih = self.inner_size = layout.inner
        ox, oy = layout.offset
        self.inner = (slice(oy, oy + ih), slice(ox, ox + iw))
        self.offset = (ox, oy)
        rects = {"top": (0, 0, cw, oy), "bottom": (0, oy + ih, cw, ch), "left": (0, oy, ox, oy + ih),
                 "right": (ox + iw, oy, cw, oy + ih)}
        sides = [(side, (slice(y0, y1), slice(x0, x1))) for side, (x0, y0, x1, y1) in rects.items()
                 if x1 > x0 and y1 > y0]
        self.strips = [strip for _, strip in sides]
        self.sides = [side for side, _ in sides]
        # where each strip touches the picture, in the strip's own coordinates
        self.inner_span = {"top": slice(ox, ox + iw), "bottom": slice(ox, ox + iw), "left": slice(0, ih),
                           "right": slice(0, ih)}
        reach = max(2, round(self._EDGE_REACH * min(iw, ih)))
        self.bands = [band_of(ys, xs, side, layout, reach) for side, (ys, xs) in sides]
        self.reach = reach
        self.inside_depth = max(2, reach // 4)  # of the strip inside the edge that other frames are checked on
        # canvas coordinates of the picture's edge pixels on each side, along the edge
        ends = {"left": ((ox, oy), (ox, oy + ih)), "right": ((ox + iw - 1, oy), (ox + iw - 1, oy + ih)),
                "top": ((ox, oy), (ox + iw, oy)), "bottom": ((ox, oy + ih - 1), (ox + iw, oy + ih - 1))}
        self.edge_pixels = {side: np.stack(np.meshgrid(np.arange(x0, max(x0 + 1, x1)), np.arange(y0, max(y0 + 1, y1))),
                                           -1).reshape(-1, 1, 2).astype(np.float64)
                            for side, ((x0, y0), (x1, y1)) in ends.items()}
        self.edge_sigma = float(reach)  # along the edge: the level, not the texture, is matched
        self.held: dict = {}  # what the edge's terms were last frame (see _held)
        self.small = fl.work_size((ih, iw))
        self.estimator = fl.FlowEstimator(flow_quality)
        self.inner_to_canvas = _translate(ox, oy)
        self.small_to_canvas = self.inner_to_canvas @ np.diag([iw / self.small[0], ih / self.small[1], 1.0])
        self.offsets = [j for j in (1, 2, 4, 8, 16, 32, 64) if j <= lookahead]
        scale = min(1.0, self._FILL_SIDE / max(cw, ch))
        self.fill_size = (max(4, round(cw * scale)), max(4, round(ch * scale)))
        self.fill_scale = np.diag([self.fill_size[0] / cw, self.fill_size[1] / ch, 1.0])
        self.far = Far.of(layout, self.fill_size, (self._FAR_REACH, self._FAR_QUICK), self._FAR_NEAR)
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
        m = pg.camera_motion(self.estimator(*gray))
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
        previous: np.ndarray | None = None  # last frame's picture
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
            calm = self._steady_share(buf)
            layer, age = self._advance(motion)
            if motion is None or fill_prev is None:
                fill_prev = None
                self.held.clear()  # a cut: the edge's terms start afresh too
            else:
                small_motion = self.fill_scale @ motion @ np.linalg.inv(self.fill_scale)
                fill_prev = cv2.warpPerspective(fill_prev, small_motion, self.fill_size,
                                                borderMode=cv2.BORDER_REPLICATE)
            # per side, the lines along the edge where the picture changed to show something else
            # (a subject moved in or out), not just moved with the camera or flickered: wanted where
            # the canvas carries something on that side, and under a steady camera (the edge's terms
            # are held there, but not on these lines)
            changed = {}
            if motion is not None and previous is not None:
                held = steady and fill_prev is not None  # the edge's terms then follow less than fully
                carrying = {side for side, (ys, xs), band in zip(self.sides, self.strips, self.bands)
                            if band is not None and cv2.countNonZero(cv2.extractChannel(layer[ys, xs], 3))}
                placed = motion @ self.inner_to_canvas  # the previous picture on this frame's canvas
                carried = {side: self._seen_inside(previous, placed, side)
                           for side, band in zip(self.sides, self.bands)
                           if band is not None and (held or side in carrying)}
                changed = {side: self._unlike(seen, frame, side) for side, (seen, _) in carried.items()}
                self._meet_carried({side: carried[side] for side in carrying}, changed, frame, layer, age)
            previous = frame
            np.copyto(layer[self.inner], cv2.cvtColor(frame, cv2.COLOR_RGB2RGBA), casting="unsafe")
            self._borrow_upcoming(buf, layer, age)
            memory = self._FILL_MEMORY_STEADY if steady else self._FILL_MEMORY
            out, fill_prev = self._compose(layer, fill_prev, frame, self._edge_change(buf[0][1]), memory,
                                           steady, changed, calm)
            yield out
            buf.popleft()
            index += 1
            if total:
                job.progress(index / total, "outpainting")

    @staticmethod
    def _steady_share(buf: deque) -> float:
        """Share of the frame and the upcoming ones of its shot (``buf``) that follow a steady camera:
        known from a shot's first frame on (which has no motion of its own), and changing by small
        steps as frames come and go, so what depends on it does not jump from frame to frame."""
        flags = []
        for j, (_, _, motion, steady) in enumerate(buf):
            if motion is None and j > 0:
                break  # a cut: the next shot's frames
            if motion is not None:
                flags.append(steady)
        return float(np.mean(flags)) if flags else 0.0

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
            for side, (ys, xs), band in zip(self.sides, self.strips, self.bands):
                better = (self.covered[ys, xs] == 255) & (age[ys, xs] > j)
                if not better.any():
                    continue
                seen, cover = self._seen_inside(frame, matrix, side)
                self._set_lines(better, side, self._unlike(seen, buf[0][0], side), False)
                part = layer[ys, xs]
                part[..., :3][better] = self.warped[ys, xs][better]
                part[..., 3][better] = top
                age[ys, xs][better] = j
                if band is not None and better[band.where].any():
                    near, pick = part[band.where], better[band.where]
                    near[..., :3][pick] = np.clip(near[..., :3][pick] + self._mismatch(seen, cover, buf[0][0],
                                                                                       band)[pick], 0, top)

    def _meet_carried(self, carried: dict, changed: dict, frame: np.ndarray, layer: np.ndarray,
                      age: np.ndarray) -> None:
        """What the running canvas carries next to the picture: dropped on the lines where the
        previous picture (``carried``: per side that carries something, the previous picture just
        inside the edge, :meth:`_seen_inside`)
        shows something else than the new one next to the edge (``changed``, :meth:`_unlike`),
        elsewhere made to meet the new picture at its edge as the previous one did (:meth:`_mismatch`)."""
        top = float(np.iinfo(frame.dtype).max)
        for side, (ys, xs), band in zip(self.sides, self.strips, self.bands):
            if side not in carried:
                continue  # nothing carried on this side
            unlike = changed[side]
            self._set_lines(layer[ys, xs], side, unlike, 0)
            self._set_lines(age[ys, xs], side, unlike, np.inf)
            near = layer[ys, xs][band.where]
            pick = (age[ys, xs][band.where] >= 1) & (near[..., 3] > 0)
            if pick.any():
                fix = self._mismatch(*carried[side], frame, band)
                near[..., :3][pick] += fix[pick] * (near[..., 3:][pick] / top)

    def _inside_edge(self, side: str, depth: int, cur: np.ndarray) -> tuple[tuple[int, int], tuple[int, int],
                                                                         np.ndarray]:
        """The strip ``depth`` pixels deep just inside the picture's edge on ``side``: its canvas
        origin (x, y), its size (w, h) and the current picture ``cur`` there."""
        (ox, oy), (iw, ih) = self.offset, self.inner_size
        return {"left": ((ox, oy), (depth, ih), cur[:, :depth]),
                "right": ((ox + iw - depth, oy), (depth, ih), cur[:, iw - depth:]),
                "top": ((ox, oy), (iw, depth), cur[:depth]),
                "bottom": ((ox, oy + ih - depth), (iw, depth), cur[ih - depth:])}[side]

    def _set_lines(self, strip: np.ndarray, side: str, lines: np.ndarray, value) -> None:
        """Set ``strip`` (a border strip's array) to ``value`` on the lines across the edge that
        ``lines`` (one per edge pixel, as :meth:`_unlike` gives) picks."""
        if side in ("left", "right"):
            strip[lines] = value
        else:
            strip[:, self.inner_span[side]][:, lines] = value

    def _seen_inside(self, frame: np.ndarray, matrix: np.ndarray, side: str) -> tuple[np.ndarray, np.ndarray]:
        """``frame`` moved by ``matrix`` (its canvas placement) onto the strip just inside the
        picture's edge on ``side`` (float32), and per pixel along that edge whether the frame shows
        it (all the pixels its sample reads lie inside the frame): one warp for both the check of
        what the frame shows there (:meth:`_unlike`) and the join at the edge pixels (:meth:`_mismatch`)."""
        (x, y), (w, h), inside = self._inside_edge(side, self.inside_depth, frame)
        if np.array_equal(matrix, self.inner_to_canvas):  # in the picture's own place: the camera held
            return inside.astype(np.float32), np.ones(len(self.edge_pixels[side]), bool)
        seen = cv2.warpPerspective(frame, _translate(-x, -y) @ matrix, (w, h), flags=cv2.INTER_LINEAR)
        at = cv2.perspectiveTransform(self.edge_pixels[side], np.linalg.inv(matrix)).reshape(-1, 2)
        iw, ih = self.inner_size
        cover = (at[:, 0] >= 0) & (at[:, 0] <= iw - 1) & (at[:, 1] >= 0) & (at[:, 1] <= ih - 1)
        return seen.astype(np.float32), cover

    def _unlike(self, seen: np.ndarray, cur: np.ndarray, side: str) -> np.ndarray:
        """Per pixel along the picture's edge on ``side``: whether another frame (``seen``, from
        :meth:`_seen_inside`) shows something else than the current picture ``cur`` just inside that
        edge (a subject that moved in or out, not a camera move it follows): its difference there
        is well above what a pixel's misalignment of the picture's own texture would give."""
        inside = self._inside_edge(side, self.inside_depth, cur)[2].astype(np.float32)
        across, lines = (1, (1, 2)) if side in ("left", "right") else (0, (0, 2))
        step = np.abs(np.diff(inside, axis=across)).mean(axis=lines)  # the picture's own, across the edge

        def smooth(a: np.ndarray) -> np.ndarray:  # along the edge
            return cv2.GaussianBlur(a.astype(np.float32)[None], (0, 0), max(1.0, self.reach / 2),
                                    borderType=cv2.BORDER_REPLICATE)[0]

        noise = self._NOISE * np.iinfo(cur.dtype).max / 255
        return smooth(np.abs(seen - inside).mean(axis=lines)) > self._UNLIKE * (smooth(step) + noise)

    def _mismatch(self, seen: np.ndarray, cover: np.ndarray, cur: np.ndarray, band: Band) -> np.ndarray:
        """What to add to what another frame brings in ``band`` so that it meets the current
        picture ``cur`` at its edge: that frame's difference from ``cur`` along the picture's edge
        pixels (``seen`` where ``cover``, from :meth:`_seen_inside`), carried across the edge, its
        fine part fading within a few pixels and its level (smoothed along the edge) over the band.
        Where the frame lines up with the picture (a camera move it follows) this is about nothing;
        where a subject moved next to the edge it keeps what the frame shows beyond it but without
        the step."""
        edge = self._inside_edge(band.side, 1, cur)[2]
        at = {"left": (slice(None), slice(0, 1)), "right": (slice(None), slice(-1, None)),
              "top": (slice(0, 1),), "bottom": (slice(-1, None),)}[band.side]  # the edge pixels in the strip
        cover = cover.astype(np.float32).reshape(1, -1)
        diff = (edge.astype(np.float32) - seen[at]).reshape(1, -1, 3) * cover[..., None]

        def along(a: np.ndarray, sigma: float) -> np.ndarray:
            return cv2.GaussianBlur(a, (0, 0), sigma, borderType=cv2.BORDER_REPLICATE).reshape(a.shape)

        norm = lambda sigma: along(diff, sigma) / np.maximum(along(cover, sigma), 1e-3)[..., None]
        level, fine = norm(float(self.reach)), norm(1.0)
        fine = (fine - level)[0][band.along]
        level = level[0][band.along]
        if band.side in ("top", "bottom"):
            level, fine = level[None], fine[None]
        else:
            level, fine = level[:, None], fine[:, None]
        quick = np.clip(1 - (band.dist - 1) / max(2.0, self.reach / 4), 0, 1)[..., None]
        return band.weight[..., None] * level + quick * fine

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
                 edge_change: float, memory: float, steady: bool, changed: dict,
                 calm: float) -> tuple[np.ndarray, np.ndarray]:
        """The output frame: seen colour, else the spatial fill, the picture's mirror image near its
        edge, and the step left at the edge levelled; the picture itself bit-exact. The fill
        follows the new frame's at most ``1 - memory`` a frame, and no faster than the picture's
        own edge changes (a still shot gets a still border); under a steady camera so does what
        is drawn from the picture's edge, except on the lines where the picture next to it changed
        to show something else (``changed``, per side): there the border meets the new picture.
        ``calm``: the share of steady frames among this one and the upcoming ones of its shot
        (:meth:`_steady_share`)."""
        top = float(np.iinfo(frame.dtype).max)
        small = cv2.resize(layer, self.fill_size, interpolation=cv2.INTER_AREA)
        fill = pg.push_pull(small[..., :3] * (top / np.maximum(small[..., 3:], 1e-3)),
                            (small[..., 3] > 0.99 * top).astype(np.float32))
        row, col = self.far.colours(fill)
        evidence = self._held(("far",), self.far.evidence(fill, row, col), 1 - self._FAR_MEMORY)
        fill = self.far.apply(fill, small[..., 3] / top, row, col, evidence)
        share = 1.0
        if fill_prev is not None:
            step = float(np.abs(fill - fill_prev).mean()) / top
            share = min(1 - memory, edge_change / max(step, 1e-6))
            fill = (1 - share) * fill_prev + share * fill
        follow = share if steady else 1.0  # how far the edge's terms follow this frame's
        detail = 1 - (1 - self._DETAIL_HELD) * calm  # share of the mirror image's fine detail kept
        up = np.linalg.inv(self.fill_scale)
        out = np.empty((self.canvas[1], self.canvas[0], 3), frame.dtype)
        depth = cv2.CV_8U if frame.dtype == np.uint8 else cv2.CV_16U
        for k, ((ys, xs), band, side) in enumerate(zip(self.strips, self.bands, self.sides)):
            size = (xs.stop - xs.start, ys.stop - ys.start)
            # the small fill upsampled straight into the strip (sampled as cv2.resize would)
            centre = _translate(0.5 * up[0, 0] - 0.5 - xs.start, 0.5 * up[1, 1] - 0.5 - ys.start) @ up
            colour = cv2.warpAffine(fill, centre[:2], size, flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_REPLICATE)
            part = layer[ys, xs]
            cover = cv2.extractChannel(part, 3)
            seen = cv2.divide(cv2.cvtColor(part, cv2.COLOR_RGBA2RGB), cv2.merge([cover] * 3), scale=top)
            seen_mask = cv2.compare(cover, top / 2, cv2.CMP_GT)
            if band is not None:
                lines = np.where(changed[side], 1.0, follow) if side in changed and follow < 1 else follow
                # near the edge, where nothing was seen, the fill gives way to the mirror image
                near = colour[band.where]
                seen_near = seen_mask[band.where] > 0
                fill_near = near.copy() if outward(seen_near, band.side)[:, 0].any() else None
                mirror = self._held(("mirror", k), frame[band.my][:, band.mx].astype(np.float32),
                                    over_band(lines, band))
                if detail < 1:
                    low = cv2.GaussianBlur(mirror, (0, 0), self._DETAIL_SIGMA, borderType=cv2.BORDER_REPLICATE)
                    mirror = low + detail * (mirror - low)
                near += band.fade[..., None] * (mirror - near)
                if fill_near is not None:  # other frames saw some of the border next to the picture
                    mirror_past_seen(band, near, fill_near, seen_near, seen[band.where], frame, self.reach)
            cv2.copyTo(seen, seen_mask, colour)
            if band is not None:
                self._level_edge(k, band, colour, frame, lines)
            cv2.multiply(colour, 1.0, dst=out[ys, xs], dtype=depth)  # rounds and saturates
        out[self.inner] = frame
        return out, fill

    def _held(self, key, new: np.ndarray, follow) -> np.ndarray:
        """``new`` followed from the previous frame's by the share ``follow`` (1: ``new`` itself; a
        float, or an array that broadcasts against ``new``)."""
        prev = self.held.get(key)
        if prev is not None and np.any(np.less(follow, 1)) and prev.shape == new.shape:
            new = prev + follow * (new - prev)
        self.held[key] = new
        return new

    def _level_edge(self, k: int, band: Band, colour: np.ndarray, frame: np.ndarray, follow) -> None:
        """The step between the picture's edge pixels and strip ``k``'s next to them, smoothed along
        the edge (the picture's texture is not copied out), added to the strip fading over the
        band: the border meets the picture without a hard seam, whatever it was made of."""
        inner = self.inner_span[band.side]  # where the strip touches the picture
        edge, border = {"top": (frame[0], colour[-1, inner]), "bottom": (frame[-1], colour[0, inner]),
                        "left": (frame[:, 0], colour[inner, -1]),
                        "right": (frame[:, -1], colour[inner, 0])}[band.side]
        step = cv2.GaussianBlur((edge.astype(np.float32) - border)[None], (0, 0), self.edge_sigma,
                                borderType=cv2.BORDER_REPLICATE)[0]
        spread = self._held(("edge", k), step, np.reshape(follow, (-1, 1)))
        colour[band.where] += band.weight[..., None] * over_band(spread, band)
