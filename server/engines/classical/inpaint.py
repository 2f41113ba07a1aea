"""Inpaint: what a region of a shot hides, brought back from the frames that show it.

Flow-guided video inpainting, in two passes over the whole shot (not only its placed range):

1. backward, from the shot's last frame to the first placed one: each frame's region is taken
   from the next frame's made-up picture, moved along the flow between them (:mod:`.inpaint_flow`:
   measured with the region smoothed away, completed inside it from the camera's move and the
   motion around it, less a fast mover that only passes it), where that picture shows something
   the camera saw, and the mismatch with the picture just outside the region (exposure, a
   slightly wrong warp) continued smoothly into it, so no edge shows and what is carried on
   follows the light; each placed frame's result is put aside on disk (:class:`.propagate.Spill`);
2. forward, from the shot's first frame: the same from the previous frame's picture, blended with
   the backward result by how many frames away each was seen and how well each fitted the
   picture just outside the region before its mismatch was taken out (where it missed by far,
   what it carried is not trusted at all); what neither pass saw gets a smooth (membrane) fill
   of its surroundings, bent towards the straight structure that crosses the region (a post, an
   edge: :mod:`.inpaint_fill`), once: later frames carry that fill along like seen content, so it
   holds steady instead of being made anew each frame. What varies inside the region no more than
   the footage's own grain (measured from the ring's mismatch with the carried picture) is smoothed:
   carried grain is another frame's, which this frame's does not repeat.

Pixels outside the region are the source's, bit for bit; full depth is kept (only the small 8-bit
copies that flow is measured on lose it). Frames and mattes are read one at a time, twice.
"""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np

from server.engines import flow as fl
from server.engines.base import EngineJob, InpaintShot
from server.engines.classical import inpaint_fill, inpaint_flow
from server.engines.classical import propagate as pg
from server.engines.classical import scene


def inpaint_shot(shot: InpaintShot, job: EngineJob, flow_quality: str) -> Iterator[np.ndarray]:
    """For each index of ``shot.placed``, that frame with its masked pixels replaced by what the
    other frames of the shot show there (a smooth, steady fill where none does)."""
    n = len(shot.frames)
    if n == 0:
        raise ValueError("inpaint: the shot has no frames")
    if len(shot.masks) != n:
        raise ValueError(f"inpaint: {len(shot.masks)} mattes for {n} frames")
    placed = shot.placed
    if placed.step != 1 or len(placed) == 0 or placed.start < 0 or placed.stop > n:
        raise ValueError(f"inpaint: placed frames {placed} are not a run of frames inside the shot's 0..{n - 1}")
    first = shot.frames[0]
    if first.ndim != 3 or first.shape[2] != 3 or first.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"inpaint: frames must be (H, W, 3) uint8 or uint16, got {first.shape} {first.dtype}")
    return _Inpainter(shot, first.shape, first.dtype, flow_quality).run(job)


class _Pass:
    """One direction's running state: the previous frame's made-up picture (float32, full size), where
    it shows what the camera saw, how many frames away that was, and its small hole-free copy."""

    def __init__(self):
        self.picture: np.ndarray | None = None
        self.seen: np.ndarray | None = None
        self.hops: np.ndarray | None = None
        self.small: np.ndarray | None = None  # 8-bit RGB, for the cut check
        self.grey: np.ndarray | None = None
        self.hole: np.ndarray | None = None
        self.mover_inside = False  # a fast mover taken to be inside the region (see inpaint_flow)


class _Inpainter:
    def __init__(self, shot: InpaintShot, shape: tuple[int, ...], dtype: np.dtype, flow_quality: str):
        self.shot = shot
        self.shape, self.dtype = shape, dtype
        self.top = float(np.iinfo(dtype).max)
        h, w = shape[:2]
        self.size = (w, h)
        self.small_size = fl.work_size(shape)
        self.estimator = fl.FlowEstimator(flow_quality)
        # the band outside the region where its edge is matched to the picture around it
        self.ring = max(2, round(min(h, w) / 90))
        self.ring_kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * self.ring + 1,) * 2)
        # the window over which noise is told from detail: grain and codec blocks scale with the picture
        self.wiener = 2 * max(1, round(min(h, w) / _WIENER_SHARE / 2)) + 1

    # -- reading ---------------------------------------------------------------------------

    def _read(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        frame, mask = self.shot.frames[i], np.asarray(self.shot.masks[i])
        if frame.shape != self.shape or frame.dtype != self.dtype:
            raise ValueError(f"inpaint: frame {i} is {frame.shape} {frame.dtype}, the shot's first "
                             f"frame {self.shape} {self.dtype}")
        if mask.shape != self.shape[:2]:
            raise ValueError(f"inpaint: the matte of frame {i} is {mask.shape[1]}x{mask.shape[0]}, "
                             f"the frame {self.size[0]}x{self.size[1]}")
        return frame, mask.astype(bool, copy=False)

    def _small(self, frame: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Small 8-bit RGB copy, its hole (every small pixel the region touches) and hole-free grey."""
        small = fl.small_rgb(frame, self.small_size)
        hole = cv2.resize(mask.astype(np.uint8), self.small_size, interpolation=cv2.INTER_AREA) > 0
        if mask.any() and not hole.any():  # a region smaller than a small pixel
            hole = cv2.resize(mask.astype(np.uint8) * 255, self.small_size, interpolation=cv2.INTER_LINEAR) > 0
        grey = pg.hole_free(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), hole)
        return small, hole, grey

    # -- one step of either pass -----------------------------------------------------------

    def _step(self, state: _Pass, frame: np.ndarray, mask: np.ndarray):
        """Carry ``state`` into this frame. Returns, over the crop around the region and its ring:
        the crop, the carried colour and how many frames away it was seen (inf where nothing seen
        arrives); None when the frame has no region. Updates the small copies in ``state``."""
        small, hole, grey = self._small(frame, mask)
        region = cv2.dilate(mask.astype(np.uint8), self.ring_kernel).astype(bool)
        box = pg.bounding_box(region)
        result = None
        if box is not None:
            x0, y0, x1, y1 = box
            crop = (slice(y0, y1), slice(x0, x1))
            colour = np.zeros((y1 - y0, x1 - x0, 3), np.float32)
            hops = np.full((y1 - y0, x1 - x0), np.inf, np.float32)
            if state.picture is not None and scene.hist_distance(state.small, small) < scene.MAX_HIST_DISTANCE:
                flow, state.mover_inside = inpaint_flow.region_flow(grey, state.grey, hole, state.hole,
                                                                    self.estimator, state.mover_inside)
                mx, my = pg.full_maps(flow, self.size, box)
                colour, real, far = pg.carry(state.picture, state.seen, state.hops, mx, my)
                # the mismatch with this frame just outside the region (light changing, a warp a
                # little off) continued smoothly into it: what is carried on follows the picture
                inside = mask[crop]
                ring = region[crop] & ~inside & real
                delta = frame[crop].astype(np.float32) - colour
                # how badly the carried picture fitted around the region before that: a wrong warp
                # misses there too, so the other pass is trusted more where this one missed
                miss = (np.square(delta).mean(axis=2, keepdims=True) / self.top ** 2).astype(np.float32)
                misfit = pg.spread(miss, ring, inside & real)[..., 0]
                # what misses its surroundings by far (something nearer the camera, moving on its
                # own, carried in with the background's motion) is not taken as seen: filled instead
                real &= ~inside | (misfit <= _MISFIT_LIMIT)
                grain = self._grain(delta, ring)
                hops = np.where(real, far, np.inf).astype(np.float32)
                colour += pg.spread(delta, ring, inside & real)
            else:
                misfit = np.zeros_like(hops)
                grain = np.float32(0)
                state.mover_inside = False
            result = (crop, colour, hops, misfit, grain)
        else:
            state.mover_inside = False
        state.small, state.grey, state.hole = small, grey, hole
        return result

    @staticmethod
    def _remember(state: _Pass, frame: np.ndarray, mask: np.ndarray, crop, inside: np.ndarray,
                  colour: np.ndarray, hops: np.ndarray, seen_inside: np.ndarray) -> None:
        """This frame's made-up picture becomes the state: the frame, with the region's pixels
        replaced by ``colour`` (whose pixels ``seen_inside`` shows what the camera saw)."""
        picture = frame.astype(np.float32)
        seen = np.ones(mask.shape, np.float32)
        far = np.zeros(mask.shape, np.float32)
        if crop is not None:
            part = picture[crop]
            part[inside] = colour[inside]
            seen[crop][inside] = seen_inside[inside]
            far[crop][inside] = np.where(seen_inside, hops, np.inf)[inside]
        state.picture, state.seen, state.hops = picture, seen, far

    def _smooth_unseen(self, frame: np.ndarray, crop, inside: np.ndarray, colour: np.ndarray,
                       known: np.ndarray, seen: np.ndarray | None = None) -> np.ndarray:
        """``colour`` with the region's pixels that are not ``known`` filled from the rest. Given
        ``seen`` (the pixels the camera saw, of those ``known``), a fill that is kept: smooth, bent
        towards the straight structure (a post, an edge) that crosses the region between the picture
        around it and what was seen, never continuing an earlier fill (whose errors would pile up);
        without it a quick one (a fill that is only carried as not seen, never shown, needs no more
        than to give the next frame's sampling colour near what was seen)."""
        values = np.where(inside[..., None], colour, frame[crop].astype(np.float32))
        if seen is None:
            return pg.push_pull(values, (~inside | known).astype(np.float32))
        ends = ~inside | seen
        fill = inpaint_fill.line_fill(values, ends, pg.membrane(values, ends), self.top)
        return np.where((~inside | known)[..., None], values, fill)

    def _grain(self, delta: np.ndarray, ring: np.ndarray) -> np.float32:
        """The footage's own grain (variance a channel) from the ring's mismatch with the carried
        picture, its smooth part taken out: what is left is this frame's grain and the carried
        one's, which a right warp does not match, so half of it (clean footage: about none)."""
        if ring.sum() < 16:
            return np.float32(0)
        k = (self.wiener, self.wiener)
        weight = cv2.blur(ring.astype(np.float32), k)[..., None]
        local = cv2.blur(delta * ring[..., None], k) / np.maximum(weight, 1e-6)
        return np.float32(np.square(delta - local)[ring].mean() / 2)

    def _denoise(self, frame: np.ndarray, crop, inside: np.ndarray, content: np.ndarray,
                 grain: np.float32) -> np.ndarray:
        """``content`` smoothed where it varies no more than the footage's own ``grain`` (a local
        Wiener filter): a carried pixel holds the grain of the frame it was seen in, which this
        frame's does not repeat, so only what stands out of the grain is kept."""
        if grain <= 0:
            return content
        k = (self.wiener, self.wiener)
        picture = np.where(inside[..., None], content, frame[crop].astype(np.float32))
        mean = cv2.blur(picture, k)
        var = np.maximum(cv2.blur(picture * picture, k) - mean * mean, 0).mean(axis=2, keepdims=True)
        keep = np.maximum(var - grain, 0) / np.maximum(var, 1e-6)
        return np.where(inside[..., None], mean + keep * (picture - mean), content).astype(np.float32)

    # -- the passes ------------------------------------------------------------------------

    def run(self, job: EngineJob) -> Iterator[np.ndarray]:
        placed = self.shot.placed
        n = len(self.shot.frames)
        work = (n - placed.start) + placed.stop
        spill = pg.Spill(job.scratch_dir)
        try:
            done = 0
            back = _Pass()
            for i in range(n - 1, placed.start - 1, -1):
                job.check_cancel()
                frame, mask = self._read(i)
                step = self._step(back, frame, mask)
                if step is None:
                    self._remember(back, frame, mask, None, None, None, None, None)
                else:
                    crop, colour, hops, misfit, _ = step
                    inside = mask[crop]
                    if i in placed:
                        spill.put(i, colour, _cost(hops, misfit))
                    real = np.isfinite(hops)
                    colour = self._smooth_unseen(frame, crop, inside, colour, real)
                    self._remember(back, frame, mask, crop, inside, colour, hops, real)
                done += 1
                job.progress(done / work, "inpainting: what later frames show")
            del back
            ahead = _Pass()
            for i in range(placed.stop):
                job.check_cancel()
                frame, mask = self._read(i)
                step = self._step(ahead, frame, mask)
                if step is None:
                    self._remember(ahead, frame, mask, None, None, None, None, None)
                    out = frame
                elif i < placed.start:  # only what the camera saw goes on: no fill before the result
                    crop, colour, hops, _, _ = step
                    inside = mask[crop]
                    real = np.isfinite(hops) & (hops < _FILLED)
                    colour = self._smooth_unseen(frame, crop, inside, colour, real)
                    self._remember(ahead, frame, mask, crop, inside, colour, np.where(real, hops, np.inf), real)
                    out = None
                else:
                    out = self._make(ahead, frame, mask, step, *spill.take(i))
                if out is not None:
                    yield out
                done += 1
                job.progress(done / work, "inpainting: what earlier frames show")
        finally:
            spill.close()

    def _make(self, ahead: _Pass, frame: np.ndarray, mask: np.ndarray, step, back_colour: np.ndarray,
              back_cost: np.ndarray) -> np.ndarray:
        """A placed frame: both passes' seen content blended (each already matched to this frame at
        the region's edge), the rest filled."""
        crop, colour, hops, misfit, grain = step
        inside = mask[crop]
        filled = np.isfinite(hops) & (hops >= _FILLED)  # the fill of an earlier frame, carried along
        fwd_hops = np.where(filled, np.inf, hops).astype(np.float32)
        seen_colour, seen_cost = pg.mix(colour, _cost(fwd_hops, misfit), back_colour, back_cost)
        real = np.isfinite(seen_cost)
        known = real | filled
        content = np.where(real[..., None], seen_colour, colour)
        content = self._smooth_unseen(frame, crop, inside, content, known, seen=real)
        content = self._denoise(frame, crop, inside, content, grain)
        out = frame.copy()
        part = out[crop]
        part[inside] = np.clip(np.rint(content[inside]), 0, self.top).astype(self.dtype)
        # what this pass saw goes on as it was seen, so its distance stays true and its errors do
        # not pile up; the rest of the result goes on as fill, held steady where nothing is seen
        fwd_real = np.isfinite(fwd_hops)
        carried = np.where(fwd_real[..., None], colour, content)
        marks = np.where(fwd_real, fwd_hops, _FILLED).astype(np.float32)
        self._remember(ahead, out, mask, crop, inside, carried, marks, np.ones_like(inside))
        return out


def _cost(hops: np.ndarray, misfit: np.ndarray) -> np.ndarray:
    """What trusting a pass's carried pixels costs: how many frames away they were seen, times how
    badly the carried picture fitted the frame just outside the region (mean squared mismatch, a
    share of full scale squared); a misfit within the footage's own noise and grain counts as none."""
    return (hops * (1 + misfit / _MISFIT_FLOOR)).astype(np.float32)


_WIENER_SHARE = 35  # of the frame's shorter side
_MISFIT_FLOOR = np.float32(1e-3)  # about 3 % of full scale
_MISFIT_LIMIT = np.float32(4e-3)  # about 6 % of full scale
# distance given to filled pixels: carried along like seen ones, but never mistaken for them
_FILLED = np.float32(1e9)
