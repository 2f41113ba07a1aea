"""Inpaint on model slots: a shot's masked pixels made again by a VACE model, the rest kept from the source.

The placed frames are laid out on slots at the model's rate, like every operation: a slot between
two source frames is their flow interpolation (:mod:`.retime`) and its mask the union of their
masks. Each slot is fitted into the model canvas (:mod:`.canvas`) with what is to be replaced
painted mid-grey, so the model never sees what it removes (VACE's own convention: the masked part
of its video is zero on the pipeline's -1..1 scale), and its mask is white where the model makes
pixels, widened by one model pixel so that resizing back never mixes a kept model pixel into the
region. Every slot is to make; :func:`.windows.plan_windows` cuts them into overlapping windows,
each later one conditioned on the previous one's made slots as known frames, so windows join.
Slots are read from the shot as their window comes (:class:`ShotSlots`), never all at once.

Back on the timeline each placed frame is the source outside its mask, bit for bit, and the
model's picture inside it, ramped in over the mask's outermost pixels (:func:`composite`: the
feather lies inside the mask only, so nothing outside it changes).

An empty prompt asks for removal: the model is asked for the background the region hides
(:data:`REMOVE_PROMPT`) and steered away from things standing in front of it
(:data:`REMOVE_NEGATIVE`, before the model's own negative prompt), unless the request gives its
own negative prompt.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from server.engines.base import EngineJob, InpaintShot
from server.engines.diffusers.canvas import Canvas
from server.engines.diffusers.models import Native
from server.engines.diffusers.retime import Retimer, sample
from server.engines.diffusers.windows import EPS, Slot, Window

#: the words for removal (an empty prompt): what the region hides, continuing what surrounds it
REMOVE_PROMPT = ("the empty background behind, continuing the surrounding scene seamlessly, same light, same "
                 "texture, same camera motion, nothing in front of it")
#: what removal must not bring back, put before the model's own negative prompt
REMOVE_NEGATIVE = ("person, people, object, foreground object, text, logo, watermark, subtitles, microphone, boom "
                   "pole, rig, wires, occlusion, grey patch, smudge, blurred patch")


def words(job: EngineJob, native: Native) -> tuple[str, str]:
    """The prompt and negative prompt an inpaint job runs with."""
    if job.prompt:
        return job.prompt, job.negative_prompt or native.negative_prompt
    own = ", ".join(w for w in (REMOVE_NEGATIVE, native.negative_prompt) if w)
    return REMOVE_PROMPT, job.negative_prompt or own


class ShotReader:
    """The shot's frames and masks, each checked when it is read (named by its index in the shot)."""

    def __init__(self, shot: InpaintShot):
        frames, masks, placed = shot.frames, shot.masks, shot.placed
        if len(frames) != len(masks):
            raise ValueError(f"inpaint: the shot has {len(frames)} frames but {len(masks)} masks")
        if not isinstance(placed, range) or placed.step != 1:
            raise ValueError(f"inpaint: the placed frames must be a range of consecutive frames, not {placed!r}")
        if len(placed) and (placed.start < 0 or placed.stop > len(frames)):
            raise ValueError(f"inpaint: placed frames {placed.start}-{placed.stop - 1} are not all inside the "
                             f"shot's {len(frames)} frames")
        self.shot, self.placed = shot, placed
        self._first: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.shot.frames)

    @property
    def first(self) -> np.ndarray:
        """The first placed frame: the size and depth every frame must have."""
        if self._first is None:
            frame = self.shot.frames[self.placed.start]
            if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype not in (np.uint8, np.uint16):
                raise ValueError(f"inpaint: frame {self.placed.start} of the shot must be (H, W, 3) uint8 or "
                                 f"uint16, not {frame.shape} {frame.dtype}")
            self._first = frame
        return self._first

    @property
    def size(self) -> tuple[int, int]:
        return self.first.shape[1], self.first.shape[0]

    def frame(self, i: int) -> np.ndarray:
        frame = self.shot.frames[i]
        if frame.shape != self.first.shape or frame.dtype != self.first.dtype:
            raise ValueError(f"inpaint: frame {i} of the shot is {frame.shape} {frame.dtype}, frame "
                             f"{self.placed.start} is {self.first.shape} {self.first.dtype}")
        return frame

    def mask(self, i: int) -> np.ndarray:
        mask = self.shot.masks[i]
        if mask.dtype != np.bool_ or mask.shape != self.first.shape[:2]:
            raise ValueError(f"inpaint: the mask of frame {i} of the shot must be bool {self.first.shape[:2]}, "
                             f"not {mask.dtype} {mask.shape}")
        return mask

    def any_masked(self) -> bool:
        """Whether any placed frame has something to replace. Every placed mask is checked, unless the
        masks vouch for their shape (:class:`server.engines.base.InpaintShot`): then they are read only
        up to the first that replaces (a video matte's: the slots decode the rest, once)."""
        masks = self.shot.masks
        if getattr(masks, "shape", None) == self.first.shape[:2]:
            return any(masks[i].any() for i in self.placed)
        found = False
        for i in self.placed:
            found = bool(self.mask(i).any()) or found
        return found


class _Pictures(Sequence):
    """The shot's frames as model pictures, on demand; the last two are kept, as :func:`.retime.sample`
    reads them in order (a pair's pictures stay the same objects while its flow is in use)."""

    def __init__(self, reader: ShotReader, canvas: Canvas):
        self.reader, self.canvas = reader, canvas
        self._kept: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.reader)

    def __getitem__(self, i: int) -> np.ndarray:
        if i not in self._kept:
            if len(self._kept) >= 2:
                del self._kept[min(self._kept)]
            self._kept[i] = self.canvas.to_model(self.reader.frame(i))
        return self._kept[i]


def canvas_mask(canvas: Canvas, mask: np.ndarray) -> np.ndarray | None:
    """A timeline mask (bool, True: replace) on the model canvas: 255 on every model pixel it touches,
    one pixel wider, and on the grid padding; None when the model is to make nothing of this frame."""
    import cv2

    x, y, w, h = canvas.box
    out = np.zeros((canvas.mh, canvas.mw), np.uint8)
    if mask.any():
        cover = cv2.resize(mask.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA) > 1e-3
        out[y:y + h, x:x + w] = cv2.dilate(cover.astype(np.uint8), np.ones((3, 3), np.uint8)) * 255
    pad = canvas.pad_mask()
    if pad is not None:
        out = np.maximum(out, pad)
    return out if out.any() else None


class ShotSlots:
    """Puts the shot's pictures and masks on the slots a window is about to run on."""

    def __init__(self, reader: ShotReader, canvas: Canvas, step: float):
        self.reader, self.canvas, self.step = reader, canvas, step
        self.pictures = _Pictures(reader, canvas)
        self.retimer = Retimer()

    def count(self) -> int:
        """Slots that cover the placed frames: the first on the first placed frame, the last on or past
        the last one."""
        return int(math.ceil((len(self.reader.placed) - 1) / self.step - EPS)) + 1

    def fill(self, slots: list[Slot], window: Window) -> None:
        for i in range(window.start, window.end):
            slot = slots[i]
            if not slot.pending or slot.image is not None:
                continue  # made by an earlier window: known context here
            q = min(self.reader.placed.start + i * self.step, len(self.reader) - 1)
            lo, hi = int(math.floor(q + EPS)), min(int(math.ceil(q - EPS)), len(self.reader) - 1)
            mask = self.reader.mask(lo) if lo == hi else self.reader.mask(lo) | self.reader.mask(hi)
            picture = sample(self.pictures, q, self.retimer)
            slot.mask = canvas_mask(self.canvas, mask)
            # what is replaced is not shown to the model (grey), nor is the grid padding it fills
            slot.image = picture if slot.mask is None else np.where(slot.mask[..., None] > 0, np.float16(0.5),
                                                                    picture)


def feather_width(size: tuple[int, int], canvas: Canvas) -> float:
    """Timeline pixels over which the model's picture is ramped in at a mask's edge: a model pixel's
    width (what resizing back blurs), at least two."""
    return max(2.0, size[0] / canvas.box[2])


def composite(source: np.ndarray, made: np.ndarray, mask: np.ndarray, feather: float) -> np.ndarray:
    """The source outside ``mask`` exactly; inside it the model's picture, ramped in from the source over
    the ``feather`` outermost pixels of the mask."""
    import cv2

    if not mask.any():
        return source
    inside = np.minimum(cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE) / feather, 1.0)
    alpha = inside[mask][:, None]
    top = 65535.0 if source.dtype == np.uint16 else 255.0
    out = source.copy()
    blend = source[mask].astype(np.float32) * (1.0 - alpha) + made[mask].astype(np.float32) * alpha
    out[mask] = np.clip(blend + 0.5, 0, top).astype(source.dtype)
    return out
