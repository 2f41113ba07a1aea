"""The diffusers engine: the five operations laid out on model slots, and what is available here.

Each operation puts its known frames on a slot sequence at the model's rate (context resampled by
flow interpolation), marks the slots to make, and hands them to a :class:`~.run.Run`, which makes
them window by window and reads the timeline frames back off the slots: exactly the planned count.
Head extensions are made from the shot outwards, gap fills close with a window that sees both
shots (:mod:`.windows`). Outpainting runs at the source's own rate (every source frame is a model
frame), because each output frame must match its exact source picture; the source picture is
pasted back untouched. Inpaint lays a shot's placed frames on slots at the model's rate, every slot
to make inside its mask (:mod:`.inpaint`), and puts the source back outside the mask.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Iterator, Sequence, Sized
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from server.engines.base import (Availability, Engine, EngineJob, EngineUnavailable, InpaintShot, OutpaintLayout,
                                 resize_frame)
from server.engines.diffusers import devices, inpaint, lora, warm
from server.engines.diffusers.canvas import Canvas, check_frames, to_unit
from server.engines.diffusers.choose import not_serving, option, select_model
from server.engines.diffusers.devices import DevicePlan
from server.engines.diffusers.models import ModelInfo, discover, hf_cache_dir
from server.engines.diffusers.retime import Retimer, sample
from server.engines.diffusers.run import Run
from server.engines.diffusers.windows import (EPS, Slot, Window, context_frames, gap_intervals, known_slots, slot_step,
                                              window_length)

log = logging.getLogger("shotforge.diffusers")


def _settings():
    from server.settings import active_settings

    return active_settings()


class DiffusersEngine(Engine):
    """Open video models through diffusers; ``model`` is chosen when an operation is given."""

    name = "diffusers"
    generate_is_placeholder = False

    def __init__(self, operation: str | None = None, model: str | None = None, settings: Any = None):
        self._settings = settings
        self.model = ""
        self.info: ModelInfo | None = None
        self.plan: DevicePlan | None = None
        if operation is not None:
            self.info, self.plan = select_model(operation, model, self.settings)
            self.model = self.info.name

    @property
    def settings(self) -> Any:
        if self._settings is None:
            from server.settings import SettingsError

            try:
                self._settings = _settings()
            except SettingsError as exc:
                raise EngineUnavailable("diffusers", f"server settings cannot be read: {exc}") from None
        return self._settings

    def context_frames(self, rate: Fraction) -> int:
        """Timeline frames of context a side this model wants at ``rate`` (a planner asks for these)."""
        return context_frames(rate, self.info.native)

    # -- what is here -------------------------------------------------------------------------
    def availability(self) -> Availability:
        try:
            settings = self.settings
        except EngineUnavailable as exc:
            return Availability(False, exc.reason)
        models, notes = discover(settings.models, settings.hf_cache)
        details: dict[str, Any] = {
            "models_folder": str(settings.models) if settings.models else None,
            "hf_cache": settings.hf_cache, "fast_path": settings.diffusers_fast, "notes": notes,
            "models": {}, "model_list": []}
        missing = devices.missing_packages()
        if missing:
            details["missing_packages"] = missing
        usable = []
        for m in models:
            entry = m.to_dict()
            if m.problems:
                why, plan = "; ".join(m.problems), None
            elif missing:
                why, plan = f"packages missing: {', '.join(missing)}", None
            else:
                try:
                    plan, why = devices.plan_device(m, settings)
                except Exception as exc:  # a broken torch install: say it, don't crash doctor
                    plan, why = None, f"device check failed: {type(exc).__name__}: {exc}"
            ops = ", ".join(m.operations) or "none"
            not_served = "".join(f"; no {op}: {why}" for op, why in m.not_served().items())
            ops += f"{not_served}" if m.family else ""
            if plan is not None:
                usable.append(m)
                entry.update(usable=True, reason=plan.note)
                experts = ", two experts" if m.experts > 1 else ""
                with_lora = f", LoRA {m.lora.label()}" if m.lora is not None else ""
                details["models"][m.name] = (f"usable ({ops}) — {m.family_name}: {m.size_label or '?'} "
                                             f"{m.pipeline_class}{experts}{with_lora}, {m.native.describe()}; "
                                             f"{plan.note}")
            else:
                entry.update(usable=False, reason=why)
                details["models"][m.name] = f"not usable ({ops}) — {why} [{m.path}]"
            details["model_list"].append(entry)
        if missing:
            reason = (f"Python packages missing: {', '.join(missing)} (install with `scripts/setup.sh --diffusers` "
                      "or `pip install torch==2.13.0 && pip install -e '.[diffusers]'`)")
            return Availability(False, reason, details)
        if not models:
            where = (f"nothing usable in the models folder {settings.models}" if settings.models
                     else "no models folder configured (--models DIR or SHOTFORGE_MODELS)")
            cache = f" and nothing in the local Hugging Face cache ({hf_cache_dir()})" if settings.hf_cache else ""
            return Availability(False, f"no model found: {where}{cache}", details)
        if not usable:
            return Availability(False, f"{len(models)} model(s) found, none usable here (see models)", details)
        return Availability(True, f"{len(usable)} of {len(models)} model(s) usable: "
                                  f"{', '.join(m.name for m in usable)}", details)

    # -- the five operations -----------------------------------------------------------------------
    def extend(self, context: Sequence[np.ndarray], frames: int, side: str,
               job: EngineJob) -> Iterator[np.ndarray]:
        check_frames(context, "extend")
        if side not in ("head", "tail"):
            raise ValueError(f"extend: side must be 'head' or 'tail', got {side!r}")
        return self._extend(list(context), frames, side, job) if frames > 0 else iter(())

    def _extend(self, context: list[np.ndarray], frames: int, side: str, job: EngineJob) -> Iterator[np.ndarray]:
        size = (context[0].shape[1], context[0].shape[0])
        run = self._run_setup(job, size)
        s = slot_step(job.rate, run.native)  # timeline frames per model slot
        retimer = Retimer()
        known = [run.canvas.to_model(f) for f in context]
        ctx_slots = known_slots(len(context), s)  # slots before/after the anchor
        new_slots = max(1, int(math.ceil(frames / s - EPS)))
        pad = run.canvas.pad_mask()
        if side == "tail":  # anchor: the last context frame; slot i sits at context index C-1 - (A-i)*s
            slots = [Slot(sample(known, len(known) - 1 - (ctx_slots - i) * s, retimer), pad)
                     for i in range(ctx_slots + 1)]
            slots += [Slot(pending=True) for _ in range(new_slots)]
            targets = [ctx_slots + (j + 1) / s for j in range(frames)]
        else:  # anchor: the first context frame, new slots before it
            slots = [Slot(pending=True) for _ in range(new_slots)]
            slots += [Slot(sample(known, i * s, retimer), pad) for i in range(ctx_slots + 1)]
            targets = [new_slots + (j - frames) / s for j in range(frames)]
        yield from run.make(slots, targets, size, context[0].dtype, retimer)

    def fill_gap(self, before: Sequence[np.ndarray], after: Sequence[np.ndarray], frames: int,
                 job: EngineJob) -> Iterator[np.ndarray]:
        check_frames([*before, *after], "fill_gap")
        if frames < 0:
            raise ValueError(f"fill_gap: frames must be >= 0, got {frames}")
        return self._fill_gap(list(before), list(after), frames, job) if frames else iter(())

    def _fill_gap(self, before: list[np.ndarray], after: list[np.ndarray], frames: int,
                  job: EngineJob) -> Iterator[np.ndarray]:
        size = (before[0].shape[1], before[0].shape[0])
        run = self._run_setup(job, size)
        intervals, s = gap_intervals(frames, slot_step(job.rate, run.native))  # both ends fall on slots
        retimer = Retimer()
        kb, ka = [run.canvas.to_model(f) for f in before], [run.canvas.to_model(f) for f in after]
        nb, na = known_slots(len(kb), s), known_slots(len(ka), s)
        pad = run.canvas.pad_mask()
        slots = [Slot(sample(kb, len(kb) - 1 - (nb - i) * s, retimer), pad) for i in range(nb + 1)]
        slots += [Slot(pending=True) for _ in range(intervals - 1)]
        slots += [Slot(sample(ka, i * s, retimer), pad) for i in range(na + 1)]
        targets = [nb + (j + 1) / s for j in range(frames)]
        yield from run.make(slots, targets, size, before[0].dtype, retimer)

    def generate(self, frames: int, size: tuple[int, int], job: EngineJob,
                 reference: np.ndarray | None = None, dtype: type = np.uint8) -> Iterator[np.ndarray]:
        if frames < 0:
            raise ValueError(f"generate: frames must be >= 0, got {frames}")
        return self._generate(frames, tuple(size), job, reference, dtype) if frames else iter(())

    def _generate(self, frames: int, size: tuple[int, int], job: EngineJob, reference: np.ndarray | None,
                  dtype: type) -> Iterator[np.ndarray]:
        run = self._run_setup(job, size)
        s = slot_step(job.rate, run.native)
        count = int(math.ceil((frames - 1) / s - EPS)) + 1
        if reference is not None:
            run.reference = run.canvas.to_model(reference)
        targets = [j / s for j in range(frames)]
        yield from run.make([Slot(pending=True) for _ in range(count)], targets, size, dtype, Retimer())

    def outpaint(self, frames: Iterable[np.ndarray], layout: OutpaintLayout,
                 job: EngineJob) -> Iterator[np.ndarray]:
        total = len(frames) if isinstance(frames, Sized) else None
        return self._outpaint(iter(frames), layout, job, total)

    def _outpaint(self, frames: Iterator[np.ndarray], layout: OutpaintLayout, job: EngineJob,
                  total: int | None) -> Iterator[np.ndarray]:
        run = self._run_setup(job, layout.canvas)
        canvas, native = run.canvas, run.native
        cx, cy, cw, ch = canvas.box
        scale = cw / layout.canvas[0]
        x0, y0 = cx + layout.offset[0] * scale, cy + layout.offset[1] * scale
        x1, y1 = x0 + layout.inner[0] * scale, y0 + layout.inner[1] * scale
        ix, iy = int(round(x0)), int(round(y0))
        iw, ih = max(1, int(round(x1)) - ix), max(1, int(round(y1)) - iy)
        mask = np.full((canvas.mh, canvas.mw), 255, np.uint8)
        keep_y = slice(int(math.ceil(y0 - EPS)), int(math.floor(y1 + EPS)))  # whole pixels of the picture
        keep_x = slice(int(math.ceil(x0 - EPS)), int(math.floor(x1 + EPS)))
        mask[keep_y, keep_x] = 0
        fresh = native.max_frames - native.overlap  # new frames per window
        run.windows_total = None if total is None else max(1, math.ceil(max(total - native.max_frames, 0) / fresh) + 1)
        done: list[Slot] = []
        first = True
        while True:
            want = native.max_frames if first else fresh
            originals = []
            for frame in frames:
                originals.append(frame)
                if len(originals) == want:
                    break
            if not originals:
                return
            if first:
                check_frames(originals, "outpaint")
            slots = list(done)
            for frame in originals:
                if (frame.shape[1], frame.shape[0]) != tuple(layout.inner):
                    raise ValueError(f"outpaint: frame is {frame.shape[1]}x{frame.shape[0]}, layout says "
                                     f"{layout.inner[0]}x{layout.inner[1]}")
                image = np.full((canvas.mh, canvas.mw, 3), 0.5, np.float16)
                image[iy:iy + ih, ix:ix + iw] = to_unit(resize_frame(frame, (iw, ih)))
                slots.append(Slot(image, mask, pending=True))
            length = len(slots)
            run.denoise(slots, Window(0, length, 0, window_length(length, native.temporal, run.buckets) - length))
            for slot, frame in zip(slots[len(done):], originals):
                out = canvas.from_model(slot.image, layout.canvas, frame.dtype)
                x, y = layout.offset
                out[y:y + frame.shape[0], x:x + frame.shape[1]] = frame  # the source picture, untouched
                yield out
            done = slots[-native.overlap:] if native.overlap else []
            first = False

    def inpaint(self, shot: InpaintShot, job: EngineJob) -> Iterator[np.ndarray]:
        reader = inpaint.ShotReader(shot)
        if self.info is not None and "inpaint" not in self.info.operations:
            raise EngineUnavailable("diffusers", not_serving(self.info, "inpaint"))
        return self._inpaint(reader, job) if len(reader.placed) else iter(())

    def _inpaint(self, reader: inpaint.ShotReader, job: EngineJob) -> Iterator[np.ndarray]:
        placed = reader.placed
        if not reader.any_masked():  # nothing to replace: the source as it is, no model loaded
            for i in placed:
                yield reader.frame(i)
            return
        size = reader.size
        run = self._run_setup(job, size)
        run.prompt, run.negative = inpaint.words(job, run.native)
        layout = inpaint.ShotSlots(reader, run.canvas, slot_step(job.rate, run.native))
        targets = [j / layout.step for j in range(len(placed))]
        made = run.make([Slot(pending=True) for _ in range(layout.count())], targets, size, reader.first.dtype,
                        Retimer(), fill=layout.fill)
        feather = inpaint.feather_width(size, run.canvas)
        for i, picture in zip(placed, made):
            yield inpaint.composite(reader.frame(i), picture, reader.mask(i), feather)

    # -- shared machinery -------------------------------------------------------------------------
    def _run_setup(self, job: EngineJob, size: tuple[int, int]) -> Run:
        job.check_cancel()
        settings = self.job_settings(job.options)
        fast = bool(self.settings.diffusers_fast)
        loaded = warm.get_pipeline(self.info, self.plan, fast, job)
        log.info("diffusers: %s on %s; fast path: %s; LoRA: %s", self.info.name, loaded.plan.note,
                 loaded.fast.describe() if loaded.fast else "off",
                 settings.lora.label() if settings.lora else "none")
        return Run(loaded, job, settings.native, Canvas.fit(size, settings.native), settings.steps,
                   settings.guidance, settings.guidance_2, settings.lora)

    def job_settings(self, options: dict) -> JobSettings:
        """What a job with these request options runs with (its LoRA, steps, guidance): also what its
        take's recipe records. Raises RequestError for a bad option."""
        from otio_tools import RequestError

        if self.info is None or self.plan is None:
            raise EngineUnavailable("diffusers", "the diffusers engine was built without an operation to choose "
                                                 "a model for")
        try:
            chosen = lora.for_request(options.get("lora"), self.info.lora, self.settings.models)
        except ValueError as exc:
            raise RequestError("bad_request", str(exc)) from None
        native = self.info.native
        if chosen is not self.info.lora:  # a request's own LoRA (or none): its settings instead of the folder's
            native = lora.with_settings(self.info.plain_native or native, chosen)
        guidance_2 = option(options, "guidance_2", float, 0.0, 50.0, native.guidance_2)
        if guidance_2 is not None and self.info.experts < 2:
            raise RequestError("bad_request", f"metadata.shotforge.guidance_2 is for two-expert models; "
                                              f"{self.info.name} has one transformer")
        return JobSettings(native, option(options, "steps", int, 1, 500, native.steps),
                           option(options, "guidance", float, 0.0, 50.0, native.guidance), guidance_2, chosen)


@dataclass(frozen=True)
class JobSettings:
    """One job's model settings: the model's defaults (with its LoRA's), the request's own over them."""

    native: Any
    steps: int
    guidance: float
    guidance_2: float | None
    lora: Any  # LoraSpec or None

    def recipe(self) -> dict[str, Any]:
        """As a take's recipe names them."""
        return {"steps": self.steps, "guidance": self.guidance, "guidance_2": self.guidance_2,
                "lora": self.lora.label() if self.lora is not None else None}


def build_engine(**options) -> DiffusersEngine:
    """``operation`` (and optionally ``model``) choose the model now; other options are ignored."""
    return DiffusersEngine(operation=options.get("operation"), model=options.get("model"),
                           settings=options.get("settings"))
