"""Warm pipelines: loaded once, placed, given the fast path, and kept between jobs.

At most one pipeline is warm (a second would double GPU memory). Loading runs in a thread of its
own: a job waiting for it stays cancelable and is told what the load is doing (reading weights,
compiling), and the load still finishes, warm for the next job. Models are read with
``local_files_only=True``: nothing is ever downloaded.
"""

from __future__ import annotations

import dataclasses
import gc
import importlib
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from server.engines.base import EngineJob, EngineUnavailable
from server.engines.diffusers import fast as fast_path
from server.engines.diffusers.devices import DevicePlan, more_offload
from server.engines.diffusers.errors import one_line
from server.engines.diffusers.families import Conditioner, conditioner_for
from server.engines.diffusers.lora import Adapters
from server.engines.diffusers.models import ModelInfo

log = logging.getLogger("shotforge.diffusers")

run_lock = threading.Lock()  # one job at a time through a pipeline (its state is per call)
_cache_lock = threading.Lock()


@dataclass
class Warm:
    """A loaded pipeline, how it is placed, and its fast path (None when off)."""

    pipe: Any
    model: ModelInfo
    plan: DevicePlan
    conditioner: Conditioner
    fast: fast_path.FastPath | None
    adapters: Adapters = dataclasses.field(default_factory=Adapters)

    @property
    def key(self) -> tuple:
        return pipeline_key(self.model, self.plan, self.fast is not None)

    def offload_more(self) -> DevicePlan | None:
        """Place the pipeline again using less GPU memory (after running out of it); the new plan, or
        None when it is already at the last one. The fast path's cache is put back afresh (not under
        group offloading, see :mod:`.fast`)."""
        plan = more_offload(self.plan)
        if plan is None:
            return None
        with _cache_lock:
            cache = self.fast.cache if self.fast is not None else None
            if cache is not None:
                cache.remove()  # its wrappers must not sit under the offload hooks
            try:
                self.pipe.remove_all_hooks()
            except Exception:  # nothing was hooked
                pass
            release_memory()
            place(self.pipe, plan)
            if cache is not None and plan.offload == "group":
                self.fast.cache = None
                self.fast.notes.append("no step cache with group offloading")
            elif cache is not None:
                self.fast.cache = fast_path.StepCaches.apply(self.pipe, self.conditioner, cache.threshold)
            old = self.key
            self.plan = plan
            if _warm.get(old) is self:
                del _warm[old]
                _warm[self.key] = self
        return plan


_warm: dict[tuple, Warm] = {}


def pipeline_key(model: ModelInfo, plan: DevicePlan, fast: bool) -> tuple:
    return (str(model.path), plan.device, plan.dtype, plan.offload, fast)


def placed_plan(model: ModelInfo) -> DevicePlan | None:
    """How ``model``'s warm pipeline is placed, if it is warm."""
    with _cache_lock:
        return next((w.plan for w in _warm.values() if str(w.model.path) == str(model.path)), None)


class _Load:
    """A pipeline being loaded in the background; ``stages`` says what it has been doing."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.warm: Warm | None = None
        self.error: BaseException | None = None
        self.stages = ["reading weights"]


_loads: dict[tuple, _Load] = {}


def get_pipeline(model: ModelInfo, plan: DevicePlan, fast: bool, job: EngineJob | None = None) -> Warm:
    """The warm pipeline for ``model``, loading it (once) if needed; raises EngineUnavailable."""
    key = pipeline_key(model, plan, fast)
    with _cache_lock:
        warm = _warm.get(key)
        if warm is not None:
            return warm
        load = _loads.get(key)
        if load is None:
            if _warm:
                _warm.clear()
                release_memory()
            load = _loads[key] = _Load()
            threading.Thread(target=_load_into, args=(load, key, model, plan, fast), daemon=True,
                             name=f"load {model.name}").start()
    said = 0
    while True:
        finished = load.done.wait(0.1)
        if job is not None:
            for stage in load.stages[said:]:  # every stage in order, even of a load quicker than a poll
                job.progress(0.0, f"loading {model.name}: {stage}")
            said = len(load.stages)
            job.check_cancel()
        if finished:
            break
    if load.error is not None:
        raise load.error
    return load.warm


def _load_into(load: _Load, key: tuple, model: ModelInfo, plan: DevicePlan, fast: bool) -> None:
    started = time.monotonic()

    def report(stage: str) -> None:
        load.stages.append(stage)
        log.info("loading %s: %s", model.name, stage)

    try:
        load.warm = load_pipeline(model, plan, fast, report)
        log.info("loaded %s on %s in %.1f s; fast path: %s", model.name, plan.note, time.monotonic() - started,
                 load.warm.fast.describe() if load.warm.fast else "off")
    except BaseException as exc:  # handed to every waiting job
        load.error = exc
    finally:
        with _cache_lock:
            if load.warm is not None:
                _warm.clear()
                _warm[key] = load.warm
            _loads.pop(key, None)
        load.done.set()


def drop_pipelines() -> None:
    """Forget the warm pipeline(s) (tests; switching models frees memory by itself)."""
    with _cache_lock:
        _warm.clear()
        release_memory()


def release_memory() -> None:
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass


def load_pipeline(model: ModelInfo, plan: DevicePlan, fast: bool,
                  report=lambda stage: None) -> Warm:
    """Read ``model`` from disk, place it as ``plan`` says and apply the fast path if asked."""
    import diffusers
    import torch

    cls = getattr(diffusers, model.loader, None)  # e.g. an LTXPipeline folder is driven as LTXConditionPipeline
    if cls is None:
        raise EngineUnavailable("diffusers", f"diffusers {diffusers.__version__} has no {model.loader}")
    dtype = getattr(torch, plan.dtype)
    dtypes = dtype if dtype == torch.float32 else {"default": dtype, "vae": torch.float32}  # Wan's VAE wants fp32
    from diffusers.utils import deprecation_utils

    # diffusers 0.42 renamed torch_dtype to dtype
    dtype_arg = "dtype" if hasattr(deprecation_utils, "_resolve_dtype") else "torch_dtype"
    for lib in ("diffusers", "transformers"):
        try:
            importlib.import_module(f"{lib}.utils.logging").disable_progress_bar()
        except (ImportError, AttributeError):
            pass
    try:
        pipe = cls.from_pretrained(str(model.path), local_files_only=True, **{dtype_arg: dtypes})
    except Exception as exc:  # a broken folder: name it and the error, never a traceback to the user
        raise EngineUnavailable("diffusers", f"model {model.name} ({model.path}) cannot be loaded: "
                                             f"{one_line(exc)}") from None
    pipe.set_progress_bar_config(disable=True)
    report(f"placing it on {plan.device}")
    try:
        place(pipe, plan)
    except Exception as exc:
        raise EngineUnavailable("diffusers", f"model {model.name} cannot be placed on {plan.device}: "
                                             f"{one_line(exc)}") from None
    adapters = Adapters()
    if model.lora is not None:  # the folder's LoRA goes in before compiling, so the compiled blocks include it
        report(f"loading the LoRA {model.lora.name}")
        adapters.use(pipe, model.lora)
    conditioner = conditioner_for(model.family)
    levers = fast_path.enable(pipe, plan.device, plan.offload, conditioner, model.native, report) if fast else None
    return Warm(pipe, model, plan, conditioner, levers, adapters)


def place(pipe: Any, plan: DevicePlan) -> None:
    """Put the pipeline where ``plan`` says (on the CPU there is nothing to offload to)."""
    import torch

    if plan.device == "cpu" or plan.offload == "none":
        pipe.to(plan.device)
    elif plan.offload == "model":
        pipe.enable_model_cpu_offload(device=plan.device)
    else:
        pipe.enable_group_offload(onload_device=torch.device(plan.device), offload_type="block_level",
                                  num_blocks_per_group=1, use_stream=plan.device.startswith("cuda"))
    if plan.vae_tiling:
        pipe.vae.enable_tiling()
