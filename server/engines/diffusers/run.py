"""One operation's run through a warm pipeline: windows in order, progress per step, cancel within
a step, the fallbacks, and the frames read back off the slots at the timeline rate.

Fallbacks, each said in the job's progress stage and the log: out of GPU memory, the window is run
once more with the pipeline placed with more offloading; a fast-path lever failing at run time is
turned off and the window run again. Anything else ends the job with a one-line message naming the
model and the window (:class:`EngineFailed`), never a traceback.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator

import numpy as np

from server.engines.base import Canceled, EngineJob, EngineUnavailable
from server.engines.diffusers.canvas import Canvas
from server.engines.diffusers.families import WindowCall
from server.engines.diffusers.lora import LoraSpec
from server.engines.diffusers.models import Native
from server.engines.diffusers.retime import Retimer
from server.engines.diffusers.errors import EngineFailed, one_line
from server.engines.diffusers.warm import Warm, release_memory, run_lock
from server.engines.diffusers.windows import EPS, Slot, Window, context_slots, plan_windows

log = logging.getLogger("shotforge.diffusers")


class Run:
    """Windows, progress, cancel and reading frames back, for one operation of one job."""

    def __init__(self, warm: Warm, job: EngineJob, native: Native, canvas: Canvas, steps: int, guidance: float,
                 guidance_2: float | None = None, lora: LoraSpec | None = None):
        self.warm, self.job, self.native, self.canvas = warm, job, native, canvas
        self.steps, self.guidance, self.guidance_2, self.lora = steps, guidance, guidance_2, lora
        self.reference: np.ndarray | None = None
        self.windows_total: int | None = None
        self.window_index = 0
        self.prompt = job.prompt or ""
        self.negative = job.negative_prompt or native.negative_prompt

    @property
    def buckets(self) -> list[int] | None:
        fast = self.warm.fast
        return fast.buckets if fast is not None and fast.compiled else None

    def make(self, slots: list[Slot], targets: list[float], size: tuple[int, int], dtype: type,
             retimer: Retimer, fill: Callable[[list[Slot], Window], None] | None = None) -> Iterator[np.ndarray]:
        """Make every pending slot, window by window, yielding the target frames (fractional slot
        positions) as soon as the slots around them are made. ``fill`` puts their pictures on the slots
        a window is about to run on (a long inpaint shot is read window by window, never held whole)."""
        windows = plan_windows([s.pending for s in slots], self.native.max_frames, context_slots(self.native),
                               self.native.temporal, self.buckets)
        self.windows_total = len(windows)
        emitted = 0
        for k in range(-1, len(windows)):  # -1: frames needing no model at all (a gap of a frame or two)
            if k >= 0:
                if fill is not None:
                    fill(slots, windows[k])
                self.denoise(slots, windows[k])
            while emitted < len(targets):
                p = targets[emitted]
                lo, hi = int(math.floor(p + EPS)), int(math.ceil(p - EPS))
                if slots[lo].pending or slots[hi].pending:
                    break
                image = retimer.between(slots[lo].image, slots[hi].image, p - lo)
                self.job.check_cancel()
                yield self.canvas.from_model(image, size, dtype)
                emitted += 1
            if emitted < len(targets):  # forget slots nothing will read again
                keep = min([int(math.floor(targets[emitted] + EPS))] + [w.start for w in windows[k + 1:]])
                for i in range(max(0, keep)):
                    slots[i].image = None
        if emitted != len(targets):  # a bug, not a user error: say exactly what went wrong
            raise RuntimeError(f"diffusers engine: made {emitted} of {len(targets)} frames")

    def denoise(self, slots: list[Slot], window: Window) -> None:
        """Run the pipeline on one window of slots and store what it made."""
        self.job.check_cancel()
        part = slots[window.start:window.end]
        index, total = self.window_index, self.windows_total
        label = f"window {index + 1}/{total}" if total else f"window {index + 1}"
        all_steps = (total or index + 1) * self.steps
        model, job = self.warm.model.name, self.job

        def on_step(step: int) -> None:
            done = index * self.steps + step + 1
            job.progress(0.95 * done / all_steps, f"{model}: {label}, step {step + 1}/{self.steps}")
            if job.cancel_event.is_set():
                raise Canceled()  # within one step; nothing half-denoised is decoded or written

        call = WindowCall(
            images=[s.image for s in part],
            masks=[s.mask for s in part], pad_before=window.pad_before, pad_after=window.pad_after,
            width=self.canvas.mw, height=self.canvas.mh, prompt=self.prompt, negative_prompt=self.negative,
            steps=self.steps, guidance=self.guidance, guidance_2=self.guidance_2,
            seed=(int(job.seed) + 7919 * index) % (2 ** 63), reference=self.reference, on_step=on_step)
        fast = self.warm.fast
        if fast is not None and fast.first_use(window.frames, self.canvas.mw, self.canvas.mh):
            job.progress(0.95 * index * self.steps / all_steps,
                         f"{model}: {label}, compiling the transformer for {window.frames} frames at "
                         f"{self.canvas.mw}x{self.canvas.mh}")
        job.progress(0.95 * index * self.steps / all_steps, f"{model}: {label}, encoding")
        made = self._call(call, label)
        for slot, image in zip(part, made):
            image = np.clip(image, 0.0, 1.0).astype(np.float16)
            if slot.image is None:
                slot.image = image
            elif slot.mask is not None:
                keep = (slot.mask == 0)[..., None]
                slot.image = np.where(keep, slot.image, image)
            slot.mask, slot.pending = None, False
        self.window_index += 1

    def _call(self, call: WindowCall, label: str) -> np.ndarray:
        """The conditioner's call under the run lock, with the out-of-memory and fast-path fallbacks."""
        import torch

        warm, job = self.warm, self.job
        offloaded = False
        while True:
            acquired = False
            while not acquired:  # one job at a time through the pipeline; stay cancelable while waiting
                job.check_cancel()
                acquired = run_lock.acquire(timeout=0.2)
            try:
                warm.adapters.use(warm.pipe, self.lora)  # pipeline-wide: set under the run lock
                return warm.conditioner(warm.pipe, call, self.native)
            except (Canceled, EngineUnavailable):  # canceled, or a LoRA that cannot be loaded: said as it is
                self._free_hooks()
                raise
            except torch.OutOfMemoryError as exc:
                self._free_hooks()
                release_memory()
                plan = None if offloaded else warm.offload_more()
                if plan is None:
                    raise EngineFailed("out_of_memory", f"diffusers engine: {warm.model.name}, {label}: out of memory "
                                                        f"on {warm.plan.device} ({warm.plan.note})") from exc
                offloaded = True
                self._say(f"{warm.model.name}: out of memory on {label}; running it again with less on the GPU "
                          f"({plan.note})")
            except Exception as exc:
                self._free_hooks()
                lever = warm.fast.degrade(warm.pipe, exc) if warm.fast is not None else None
                if lever is None:
                    raise EngineFailed("engine_failed", f"diffusers engine: {warm.model.name}, {label}: "
                                                        f"{one_line(exc)}") from exc
                self._say(f"{warm.model.name}: {lever} failed on {label} ({one_line(exc)}); running it again "
                          "without it")
            finally:
                if warm.fast is not None and warm.fast.cache is not None:
                    warm.fast.cache.reset()  # nothing kept from one call to the next (nor on the GPU)
                run_lock.release()

    def _free_hooks(self) -> None:
        try:
            self.warm.pipe.maybe_free_model_hooks()
        except Exception:  # freeing hooks must not hide the real error
            pass

    def _say(self, stage: str) -> None:
        log.warning("%s", stage)
        self.job.progress(0.0, stage)  # progress never goes back: only the stage changes
