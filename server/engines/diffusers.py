"""The diffusers engine: open video models (Wan2.1 VACE first) for all four operations.

One model family drives every operation through one call, ``WanVACEPipeline``, with a video of
known frames and a mask saying which pixels to make (white) and which to keep (black):

- extension: the shot's last (or first) frames, then masked frames to make;
- gap fill: known frames before, masked middle, known frames after;
- outpainting: each frame on the larger canvas, the new border masked;
- generate: no known frames (text only), optionally a reference image.

Native size and rate. The model works at its own picture area, on its grid (multiples of 16),
with ``4k+1`` frames per window, at its own rate (16 fps for Wan). The engine lays the job out on
a *slot* sequence at the model rate: context frames are resampled onto it (flow interpolation
from the classical engine), the timeline picture is fitted into the model canvas with its aspect
kept (the few grid pixels left over are padding the model fills and that is cropped away), and
requests longer than one window are made in overlapping windows, each conditioned on the last
frames the previous one made (head extensions run backwards, so every window touches what is
known). The frames that land on the timeline are then read back off the slots at the timeline
rate (flow interpolation between slots), cropped and resized: exactly the planned count.
Outpainting runs at the source's own rate (every source frame is a model frame), because each
output frame must match its exact source picture; the source picture is pasted back untouched.

Models are found, never downloaded (:mod:`server.engines.diffusers_models`): a models folder and
the local Hugging Face cache, read with ``HF_HUB_OFFLINE=1`` and ``local_files_only=True``.
Torch and diffusers are imported only inside this module's functions, so a missing package is
reported by :meth:`DiffusersEngine.availability` rather than raised on import.

Devices: a CUDA GPU when there is one. Without one, only small (test) models run on the CPU
unless ``diffusers_device = "cpu"`` forces it. On a GPU weights are bf16 (the VAE stays fp32),
and the memory plan is chosen from free GPU memory: the whole pipeline on the GPU, or whole
components moved in and out (``enable_model_cpu_offload``), or transformer blocks streamed
(group offloading); the VAE is tiled for large canvases. ``diffusers_fast`` adds an opt-in fast
path: regional ``torch.compile`` of the transformer, the fastest attention backend installed
and a First-Block step cache. Pipelines are loaded once and kept warm between jobs.
"""

from __future__ import annotations

import gc
import importlib.util
import logging
import math
import os
import threading
import time
from collections.abc import Iterable, Iterator, Sequence, Sized
from dataclasses import dataclass
from typing import Any

import numpy as np

from server.engines.base import (Availability, Canceled, Engine, EngineJob, EngineUnavailable, OutpaintLayout,
                                 resize_frame)
from server.engines.diffusers_models import ModelInfo, Native, discover, hf_cache_dir

# Nothing is ever downloaded: the hub libraries read these when they are first imported.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

log = logging.getLogger("shotforge.diffusers")

#: import name -> pip name; what the engine cannot run without
REQUIRED_PACKAGES = {"torch": "torch", "diffusers": "diffusers", "transformers": "transformers",
                     "accelerate": "accelerate", "ftfy": "ftfy"}
#: without a GPU, models up to this many parameters (tiny/test models) run on the CPU
CPU_MAX_PARAMS = 300_000_000
GIB = 1024 ** 3
_EPS = 1e-6


def missing_packages() -> list[str]:
    return [pip for mod, pip in REQUIRED_PACKAGES.items() if importlib.util.find_spec(mod) is None]


def _settings():
    from server.settings import active_settings

    return active_settings()


# ------------------------------------------------------------------------------- device plans
@dataclass(frozen=True)
class DevicePlan:
    device: str  # "cuda:0", "cpu", "mps"
    dtype: str  # "bfloat16", "float16", "float32"
    offload: str  # "none", "model", "group"
    vae_tiling: bool
    note: str  # for doctor: where and how it runs


def _fmt_params(n: int) -> str:
    return f"{n / 1e9:.1f}B" if n >= 1e9 else f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.0f}k"


def _working_bytes(model: ModelInfo, hidden: int = 1536) -> float:
    """A rough estimate of activations + VAE decode for one native window (bench/ measures reality)."""
    n = model.native
    tokens = ((n.max_frames - 1) // n.temporal + 1) * (n.height // n.multiple) * (n.width // n.multiple)
    if model.params.get("transformer", 0) > 5e9:
        hidden = 5120
    return 1.5 * GIB + tokens * hidden * 2 * 24 + 3 * GIB * (n.width * n.height) / (832 * 480)


def plan_device(model: ModelInfo, settings: Any) -> tuple[DevicePlan | None, str]:
    """Where and how ``model`` would run here, or why it cannot."""
    import torch

    want = (settings.diffusers_device or "auto").strip().lower()
    if want == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    else:
        device = want
    if device.startswith("cuda") and not torch.cuda.is_available():
        build = "a CPU-only torch build" if torch.version.cuda is None else f"torch {torch.__version__}"
        return None, f"diffusers_device is {want!r} but no CUDA GPU is visible ({build})"
    if device == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            return None, "diffusers_device is 'mps' but Metal is not available"
        return DevicePlan("mps", "bfloat16", "none", False, "Apple GPU (mps), bf16"), ""
    if device == "cpu":
        if want == "auto" and model.total_params > CPU_MAX_PARAMS:
            return None, (f"no GPU: {model.name} has {_fmt_params(model.total_params)} parameters and needs a CUDA "
                          f"GPU; without one only small test models (under {_fmt_params(CPU_MAX_PARAMS)}) run on "
                          "the CPU (diffusers_device = 'cpu' forces it, very slowly)")
        return DevicePlan("cpu", "float32", "none", False,
                          f"CPU, float32 ({_fmt_params(model.total_params)} parameters)"), ""
    if not device.startswith("cuda"):
        return None, f"diffusers_device {want!r} is not one of auto, cuda, cuda:N, mps, cpu"
    index = torch.device(device).index or 0
    if index >= torch.cuda.device_count():
        return None, f"diffusers_device {want!r}: there are only {torch.cuda.device_count()} CUDA device(s)"
    device = f"cuda:{index}"
    warm = _warm_plans.get(str(model.path))
    if warm is not None and warm.device == device and settings.diffusers_offload in ("auto", warm.offload):
        return warm, ""  # already loaded: its own memory must not count against it
    free, total = torch.cuda.mem_get_info(index)
    free += torch.cuda.memory_reserved(index)  # this process's cache: a warm pipeline is dropped before loading
    gpu = f"{torch.cuda.get_device_name(index)}, {free / GIB:.1f}/{total / GIB:.1f} GiB free"
    half = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    sizes = {c: p * (4 if c == "vae" else 2) for c, p in model.params.items()}
    weights, largest = sum(sizes.values()), max(sizes.values(), default=0)
    work = _working_bytes(model)
    big_canvas = model.native.width * model.native.height > 832 * 480 * 1.5
    chosen = settings.diffusers_offload
    if chosen == "auto":
        if weights + work <= free * 0.95:
            chosen = "none"
        elif largest + work <= free * 0.95:
            chosen = "model"
        elif work + 2 * GIB <= free * 0.95:
            chosen = "group"
        else:
            return None, (f"too little GPU memory on {device} ({gpu}): {model.name} needs about "
                          f"{(work + 2 * GIB) / GIB:.0f} GiB even with group offloading (estimate)")
    how = {"none": "whole pipeline on the GPU", "model": "components offloaded to the CPU between uses",
           "group": "transformer blocks streamed from the CPU (group offload)"}[chosen]
    tiling = big_canvas or chosen == "group"
    return DevicePlan(device, half, chosen, tiling,
                      f"{device} ({gpu}), {half}, {how}{', VAE tiling' if tiling else ''}"), ""


# --------------------------------------------------------------------------- warm pipelines
_cache_lock = threading.Lock()
_run_lock = threading.Lock()  # one job at a time through a pipeline (its state is per call)
_warm: dict[tuple, Any] = {}  # at most one pipeline: a second one would double GPU memory
_fast_notes: dict[tuple, str] = {}
_warm_plans: dict[str, DevicePlan] = {}  # model path -> how its warm pipeline is placed


def _pipeline_key(model: ModelInfo, plan: DevicePlan, fast: bool) -> tuple:
    return (str(model.path), plan.device, plan.dtype, plan.offload, fast)


class _Load:
    """A pipeline being loaded in the background, so that a job waiting for it stays cancelable."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.pipe: Any = None
        self.error: BaseException | None = None


_loads: dict[tuple, _Load] = {}


def get_pipeline(model: ModelInfo, plan: DevicePlan, fast: bool, job: EngineJob | None = None) -> Any:
    """The loaded pipeline for ``model``, loading it (once) if needed; raises EngineUnavailable.
    Loading runs in a thread of its own: a job canceled meanwhile stops waiting at once, and the
    load still finishes, warm for the next job."""
    key = _pipeline_key(model, plan, fast)
    with _cache_lock:
        pipe = _warm.get(key)
        if pipe is not None:
            return pipe
        load = _loads.get(key)
        if load is None:
            if _warm:
                _warm.clear()
                _warm_plans.clear()
                _release_memory()
            load = _loads[key] = _Load()
            threading.Thread(target=_load_into, args=(load, key, model, plan, fast), daemon=True,
                             name=f"load {model.name}").start()
    if job is not None:
        job.progress(0.0, f"loading {model.name}")
    while not load.done.wait(0.1):
        if job is not None:
            job.check_cancel()
    if load.error is not None:
        raise load.error
    return load.pipe


def _load_into(load: _Load, key: tuple, model: ModelInfo, plan: DevicePlan, fast: bool) -> None:
    started = time.monotonic()
    try:
        load.pipe = _load_pipeline(model, plan, fast)
        log.info("loaded %s on %s in %.1f s", model.name, plan.note, time.monotonic() - started)
    except BaseException as exc:  # handed to every waiting job
        load.error = exc
    finally:
        with _cache_lock:
            if load.pipe is not None:
                _warm.clear()
                _warm_plans.clear()
                _warm[key] = load.pipe
                _warm_plans[str(model.path)] = plan
            _loads.pop(key, None)
        load.done.set()


def drop_pipelines() -> None:
    """Forget the warm pipeline(s) (tests; switching models frees memory by itself)."""
    with _cache_lock:
        _warm.clear()
        _warm_plans.clear()
        _release_memory()


def _release_memory() -> None:
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass


def _load_pipeline(model: ModelInfo, plan: DevicePlan, fast: bool) -> Any:
    import diffusers
    import torch

    cls = getattr(diffusers, model.pipeline_class, None)
    if cls is None:
        raise EngineUnavailable("diffusers", f"diffusers {diffusers.__version__} has no {model.pipeline_class}")
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
                                             f"{type(exc).__name__}: {exc}") from None
    pipe.set_progress_bar_config(disable=True)
    try:
        if plan.offload == "model":
            pipe.enable_model_cpu_offload(device=plan.device)
        elif plan.offload == "group":
            pipe.enable_group_offload(onload_device=torch.device(plan.device), offload_type="block_level",
                                      num_blocks_per_group=1, use_stream=plan.device.startswith("cuda"))
        else:
            pipe.to(plan.device)
        if plan.vae_tiling:
            pipe.vae.enable_tiling()
    except Exception as exc:
        raise EngineUnavailable("diffusers", f"model {model.name} cannot be placed on {plan.device}: "
                                             f"{type(exc).__name__}: {exc}") from None
    _fast_notes[_pipeline_key(model, plan, fast)] = apply_fast_path(pipe, plan.device) if fast else "off"
    return pipe


def apply_fast_path(pipe: Any, device: str) -> str:
    """The opt-in fast path; each lever is applied if it can be, and the note says which were."""
    notes = []
    transformer = pipe.transformer
    if device.startswith("cuda"):
        for backend, module in (("flash", "flash_attn"), ("sage", "sageattention"), ("_native_cudnn", None)):
            if module and importlib.util.find_spec(module) is None:
                continue
            try:
                transformer.set_attention_backend(backend)
                notes.append(f"attention={backend}")
                break
            except Exception as exc:  # backend not usable on this GPU/build
                log.info("attention backend %s not usable: %s", backend, exc)
    try:
        from diffusers.hooks import FirstBlockCacheConfig

        transformer.enable_cache(FirstBlockCacheConfig(threshold=0.05))
        notes.append("first-block cache (0.05)")
    except Exception as exc:
        log.info("step cache not usable: %s", exc)
    if device.startswith("cuda"):
        try:
            transformer.compile_repeated_blocks(fullgraph=False, dynamic=False)
            notes.append("torch.compile (repeated blocks)")
        except Exception as exc:
            log.info("torch.compile not usable: %s", exc)
    return ", ".join(notes) or "nothing applicable"


# ------------------------------------------------------------------------------------ geometry
def _round_to(value: float, multiple: int) -> int:
    return max(multiple, int(round(value / multiple)) * multiple)


@dataclass(frozen=True)
class _Canvas:
    """The model picture (mw, mh) on the model grid, and the box (x, y, w, h) inside it that shows the
    timeline picture with its aspect kept; the rest (a few pixels at most) is padding the model fills."""

    mw: int
    mh: int
    box: tuple[int, int, int, int]

    @classmethod
    def fit(cls, size: tuple[int, int], native: Native) -> "_Canvas":
        w, h = size
        aspect = w / h
        mh = _round_to(math.sqrt(native.width * native.height / aspect), native.multiple)
        mw = _round_to(mh * aspect, native.multiple)
        scale = min(mw / w, mh / h)
        bw, bh = min(mw, max(1, round(w * scale))), min(mh, max(1, round(h * scale)))
        return cls(mw, mh, ((mw - bw) // 2, (mh - bh) // 2, bw, bh))

    def pad_mask(self) -> np.ndarray | None:
        """255 where the model must paint the grid padding of a known frame (None: no padding)."""
        x, y, w, h = self.box
        if (w, h) == (self.mw, self.mh):
            return None
        mask = np.full((self.mh, self.mw), 255, np.uint8)
        mask[y:y + h, x:x + w] = 0
        return mask

    def to_model(self, frame: np.ndarray) -> np.ndarray:
        """A timeline frame (uint8/uint16) as a model picture: float16 in [0, 1], grey padding."""
        x, y, w, h = self.box
        out = np.full((self.mh, self.mw, 3), 0.5, np.float16)
        out[y:y + h, x:x + w] = _to_unit(resize_frame(frame, (w, h)))
        return out

    def from_model(self, image: np.ndarray, size: tuple[int, int], dtype: type) -> np.ndarray:
        x, y, w, h = self.box
        return _from_unit(resize_frame(image[y:y + h, x:x + w].astype(np.float32), size), dtype)


def _to_unit(frame: np.ndarray) -> np.ndarray:
    scale = 65535.0 if frame.dtype == np.uint16 else 255.0
    return (frame.astype(np.float32) / scale).astype(np.float16)


def _from_unit(img: np.ndarray, dtype: type) -> np.ndarray:
    top = 65535.0 if dtype == np.uint16 else 255.0
    return np.clip(img.astype(np.float32) * top + 0.5, 0, top).astype(dtype)


def _check_frames(frames: Sequence[np.ndarray], what: str) -> None:
    if not frames:
        raise ValueError(f"{what}: no frames given")
    for f in frames:
        if f.ndim != 3 or f.shape[2] != 3 or f.dtype not in (np.uint8, np.uint16):
            raise ValueError(f"{what}: frames must be (H, W, 3) uint8 or uint16, got {f.shape} {f.dtype}")
        if f.shape != frames[0].shape or f.dtype != frames[0].dtype:
            raise ValueError(f"{what}: frames differ in size or dtype")


# ---------------------------------------------------------------------------------- retiming
class _Retimer:
    """Pictures between two model pictures, by the classical engine's flow interpolator (falls back to
    a dissolve where flow cannot bridge them, exactly as the classical engine does)."""

    _warned = False

    def __init__(self) -> None:
        self._key: tuple[int, int] | None = None
        self._at = None

    def between(self, a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
        if t <= _EPS or a is b:
            return a
        if t >= 1 - _EPS:
            return b
        if self._key != (id(a), id(b)):
            self._key, self._at = (id(a), id(b)), self._interpolator(a, b)
        return self._at(t)

    @classmethod
    def _interpolator(cls, a: np.ndarray, b: np.ndarray):
        a16, b16 = _from_unit(a, np.uint16), _from_unit(b, np.uint16)
        try:
            from server.engines import flow as fl
            from server.engines.classical import Interpolator, PairFlow

            pair = PairFlow.measure(a16, b16, fl.FlowEstimator("fast"), fl.work_size(a16.shape))
            if pair.bridgeable:
                interp = Interpolator(a16, b16, pair)
                return lambda t: _to_unit(interp.at(t))
        except (ImportError, AttributeError, TypeError) as exc:  # the classical engine changed shape
            if not cls._warned:
                log.warning("classical interpolator unavailable (%s); retiming by dissolve", exc)
                cls._warned = True
        af, bf = a.astype(np.float32), b.astype(np.float32)
        return lambda t: ((1 - t) * af + t * bf).astype(np.float16)


def _sample(frames: Sequence[np.ndarray], q: float, retimer: _Retimer) -> np.ndarray:
    """The picture at fractional index ``q`` of evenly spaced ``frames`` (clamped to the ends)."""
    q = min(max(q, 0.0), len(frames) - 1)
    lo = int(math.floor(q + _EPS))
    if q - lo <= _EPS or lo >= len(frames) - 1:
        return frames[min(lo, len(frames) - 1)]
    return retimer.between(frames[lo], frames[lo + 1], q - lo)


# ------------------------------------------------------------------------------------- slots
class _Slot:
    """One model frame: its picture (float16, model canvas) and mask (255: paint here)."""

    __slots__ = ("image", "mask", "pending")

    def __init__(self, image: np.ndarray | None = None, mask: np.ndarray | None = None, pending: bool = False):
        self.image, self.mask, self.pending = image, mask, pending


def _round_up_frames(n: int, temporal: int) -> int:
    return ((max(n, 1) - 1 + temporal - 1) // temporal) * temporal + 1


def plan_windows(pending: Sequence[bool], window: int, overlap: int, temporal: int,
                 backward: bool = False) -> list[tuple[int, int, int]]:
    """Windows ``(start, end, pad)`` over slots that together make every pending slot. Each window
    holds up to ``overlap`` slots made before it, has ``temporal*k+1`` frames (``pad`` virtual slots
    after ``end``, or before ``start`` when ``backward``), and follows the previous one (going
    backwards from the last pending slot when ``backward``)."""
    n = len(pending)
    todo = list(reversed(pending)) if backward else list(pending)
    out = []
    while any(todo):
        u = todo.index(True)
        start = max(0, u - overlap)
        end = min(n, start + window)
        length = end - start
        extra = _round_up_frames(length, temporal) - length
        more = min(extra, n - end)  # more slots to make first (useful work) ...
        end, extra = end + more, extra - more
        more = min(extra, start)  # ... then more context ...
        start, extra = start - more, extra - more
        out.append((start, end, extra))  # ... then virtual padding
        for i in range(start, end):
            todo[i] = False
    if backward:
        out = [(n - end, n - start, pad) for start, end, pad in out]
    return out


# -------------------------------------------------------------------------------------- engine
def _option(options: dict, key: str, kind: type, low: float, high: float, default: Any) -> Any:
    from otio_tools import RequestError

    value = options.get(key)
    if value is None:
        return default
    try:
        value = kind(value)
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError
    except (TypeError, ValueError):
        raise RequestError("bad_request", f"metadata.shotforge.{key} must be a number, not {value!r}") from None
    if not low <= value <= high:
        raise RequestError("bad_request", f"metadata.shotforge.{key} must be between {low} and {high}, not {value}")
    return value


def check_options(options: dict) -> None:
    """Refuse bad engine options in a request (metadata.shotforge.steps/guidance/model) before it is
    queued: raises RequestError. Imports nothing heavy."""
    from otio_tools import RequestError

    _option(options, "steps", int, 1, 500, None)
    _option(options, "guidance", float, 0.0, 50.0, None)
    model = options.get("model")
    if model is not None and not (isinstance(model, str) and model.strip()):
        raise RequestError("bad_request", f"metadata.shotforge.model must be a model name, not {model!r}")


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
        missing = missing_packages()
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
                    plan, why = plan_device(m, settings)
                except Exception as exc:  # a broken torch install: say it, don't crash doctor
                    plan, why = None, f"device check failed: {type(exc).__name__}: {exc}"
            ops = ", ".join(m.operations) or "none"
            if plan is not None:
                usable.append(m)
                entry.update(usable=True, reason=plan.note)
                details["models"][m.name] = f"usable ({ops}) — {m.size_label or '?'} {m.pipeline_class}, {plan.note}"
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

    # -- the four operations -----------------------------------------------------------------------
    def extend(self, context: Sequence[np.ndarray], frames: int, side: str,
               job: EngineJob) -> Iterator[np.ndarray]:
        _check_frames(context, "extend")
        if side not in ("head", "tail"):
            raise ValueError(f"extend: side must be 'head' or 'tail', got {side!r}")
        return self._extend(list(context), frames, side, job) if frames > 0 else iter(())

    def _extend(self, context: list[np.ndarray], frames: int, side: str, job: EngineJob) -> Iterator[np.ndarray]:
        run = self._run_setup(job, (context[0].shape[1], context[0].shape[0]))
        s = float(job.rate) / run.native.fps  # timeline frames per model slot
        retimer = _Retimer()
        known = [run.canvas.to_model(f) for f in context]
        ctx_slots = int(math.floor((len(context) - 1) / s + _EPS))  # slots before/after the anchor
        new_slots = max(1, int(math.ceil(frames / s - _EPS)))
        pad = run.canvas.pad_mask()
        if side == "tail":  # anchor: the last context frame; slot i sits at context index C-1 - (A-i)*s
            slots = [_Slot(_sample(known, len(known) - 1 - (ctx_slots - i) * s, retimer), pad)
                     for i in range(ctx_slots + 1)]
            slots += [_Slot(pending=True) for _ in range(new_slots)]
            targets = [ctx_slots + (j + 1) / s for j in range(frames)]
        else:  # anchor: the first context frame, new slots before it
            slots = [_Slot(pending=True) for _ in range(new_slots)]
            slots += [_Slot(_sample(known, i * s, retimer), pad) for i in range(ctx_slots + 1)]
            targets = [new_slots + (j - frames) / s for j in range(frames)]
        yield from run.make(slots, targets, (context[0].shape[1], context[0].shape[0]), context[0].dtype,
                            backward=side == "head", retimer=retimer)

    def fill_gap(self, before: Sequence[np.ndarray], after: Sequence[np.ndarray], frames: int,
                 job: EngineJob) -> Iterator[np.ndarray]:
        _check_frames([*before, *after], "fill_gap")
        if frames < 0:
            raise ValueError(f"fill_gap: frames must be >= 0, got {frames}")
        return self._fill_gap(list(before), list(after), frames, job) if frames else iter(())

    def _fill_gap(self, before: list[np.ndarray], after: list[np.ndarray], frames: int,
                  job: EngineJob) -> Iterator[np.ndarray]:
        size = (before[0].shape[1], before[0].shape[0])
        run = self._run_setup(job, size)
        native_s = float(job.rate) / run.native.fps
        intervals = max(1, round((frames + 1) / native_s))  # model slots from the last frame before to the first after
        s = (frames + 1) / intervals  # so that both ends fall on slots exactly
        retimer = _Retimer()
        kb, ka = [run.canvas.to_model(f) for f in before], [run.canvas.to_model(f) for f in after]
        nb = int(math.floor((len(kb) - 1) / s + _EPS))
        na = int(math.floor((len(ka) - 1) / s + _EPS))
        pad = run.canvas.pad_mask()
        slots = [_Slot(_sample(kb, len(kb) - 1 - (nb - i) * s, retimer), pad) for i in range(nb + 1)]
        slots += [_Slot(pending=True) for _ in range(intervals - 1)]
        slots += [_Slot(_sample(ka, i * s, retimer), pad) for i in range(na + 1)]
        targets = [nb + (j + 1) / s for j in range(frames)]
        yield from run.make(slots, targets, size, before[0].dtype, retimer=retimer)

    def generate(self, frames: int, size: tuple[int, int], job: EngineJob,
                 reference: np.ndarray | None = None, dtype: type = np.uint8) -> Iterator[np.ndarray]:
        if frames < 0:
            raise ValueError(f"generate: frames must be >= 0, got {frames}")
        return self._generate(frames, tuple(size), job, reference, dtype) if frames else iter(())

    def _generate(self, frames: int, size: tuple[int, int], job: EngineJob, reference: np.ndarray | None,
                  dtype: type) -> Iterator[np.ndarray]:
        run = self._run_setup(job, size)
        s = float(job.rate) / run.native.fps
        count = int(math.ceil((frames - 1) / s - _EPS)) + 1
        if reference is not None:
            from PIL import Image

            run.reference = Image.fromarray(_from_unit(run.canvas.to_model(reference).astype(np.float32), np.uint8))
        targets = [j / s for j in range(frames)]
        yield from run.make([_Slot(pending=True) for _ in range(count)], targets, size, dtype, retimer=_Retimer())

    def outpaint(self, frames: Iterable[np.ndarray], layout: OutpaintLayout,
                 job: EngineJob) -> Iterator[np.ndarray]:
        total = len(frames) if isinstance(frames, Sized) else None
        return self._outpaint(iter(frames), layout, job, total)

    def _outpaint(self, frames: Iterator[np.ndarray], layout: OutpaintLayout, job: EngineJob,
                  total: int | None) -> Iterator[np.ndarray]:
        run = self._run_setup(job, layout.canvas)
        canvas = run.canvas
        cx, cy, cw, ch = canvas.box
        scale = cw / layout.canvas[0]
        x0, y0 = cx + layout.offset[0] * scale, cy + layout.offset[1] * scale
        x1, y1 = x0 + layout.inner[0] * scale, y0 + layout.inner[1] * scale
        ix, iy = int(round(x0)), int(round(y0))
        iw, ih = max(1, int(round(x1)) - ix), max(1, int(round(y1)) - iy)
        mask = np.full((canvas.mh, canvas.mw), 255, np.uint8)
        keep_y = slice(int(math.ceil(y0 - _EPS)), int(math.floor(y1 + _EPS)))  # whole pixels of the picture
        keep_x = slice(int(math.ceil(x0 - _EPS)), int(math.floor(x1 + _EPS)))
        mask[keep_y, keep_x] = 0
        native = run.native
        fresh = native.max_frames - native.overlap  # new frames per window
        run.expect_windows(None if total is None else max(1, math.ceil(max(total - native.max_frames, 0) / fresh) + 1))
        done: list[_Slot] = []
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
                _check_frames(originals, "outpaint")
            slots = list(done)
            for frame in originals:
                if (frame.shape[1], frame.shape[0]) != tuple(layout.inner):
                    raise ValueError(f"outpaint: frame is {frame.shape[1]}x{frame.shape[0]}, layout says "
                                     f"{layout.inner[0]}x{layout.inner[1]}")
                image = np.full((canvas.mh, canvas.mw, 3), 0.5, np.float16)
                image[iy:iy + ih, ix:ix + iw] = _to_unit(resize_frame(frame, (iw, ih)))
                slots.append(_Slot(image, mask, pending=True))
            length = len(slots)
            run.denoise(slots, 0, length, _round_up_frames(length, native.temporal) - length, backward=False)
            for slot, frame in zip(slots[len(done):], originals):
                out = canvas.from_model(slot.image, layout.canvas, frame.dtype)
                x, y = layout.offset
                out[y:y + frame.shape[0], x:x + frame.shape[1]] = frame  # the source picture, untouched
                yield out
            done = slots[-native.overlap:] if native.overlap else []
            first = False

    # -- shared machinery -------------------------------------------------------------------------
    def _run_setup(self, job: EngineJob, size: tuple[int, int]) -> "_Run":
        if self.info is None or self.plan is None:
            raise EngineUnavailable("diffusers", "the diffusers engine was built without an operation to choose "
                                                 "a model for")
        job.check_cancel()
        native = self.info.native
        options = job.options
        steps = _option(options, "steps", int, 1, 500, native.steps)
        guidance = _option(options, "guidance", float, 0.0, 50.0, native.guidance)
        pipe = self._acquire(job)
        return _Run(self, pipe, job, native, _Canvas.fit(size, native), steps, guidance)

    def _acquire(self, job: EngineJob) -> Any:
        fast = bool(self.settings.diffusers_fast)
        pipe = get_pipeline(self.info, self.plan, fast, job)
        note = _fast_notes.get(_pipeline_key(self.info, self.plan, fast), "off")
        log.info("diffusers: %s on %s; fast path: %s", self.info.name, self.plan.note, note)
        return pipe


class _Run:
    """One operation's run through the pipeline: windows, progress, cancel, and reading frames back."""

    def __init__(self, engine: DiffusersEngine, pipe: Any, job: EngineJob, native: Native, canvas: _Canvas,
                 steps: int, guidance: float):
        self.engine, self.pipe, self.job, self.native, self.canvas = engine, pipe, job, native, canvas
        self.steps, self.guidance = steps, guidance
        self.reference = None
        self.windows_total: int | None = None
        self.window_index = 0
        self.negative = job.negative_prompt or native.negative_prompt

    def expect_windows(self, count: int | None) -> None:
        self.windows_total = count

    def make(self, slots: list[_Slot], targets: list[float], size: tuple[int, int], dtype: type, *,
             backward: bool = False, retimer: _Retimer) -> Iterator[np.ndarray]:
        """Make every pending slot, window by window, yielding the target frames (fractional slot
        positions) as soon as the slots around them are made."""
        windows = plan_windows([s.pending for s in slots], self.native.max_frames, self.native.overlap,
                               self.native.temporal, backward)
        self.expect_windows(len(windows))
        emitted = 0
        for k in range(-1, len(windows)):  # -1: frames needing no model at all (a gap of a frame or two)
            if k >= 0:
                self.denoise(slots, *windows[k], backward)
            while emitted < len(targets):
                p = targets[emitted]
                lo, hi = int(math.floor(p + _EPS)), int(math.ceil(p - _EPS))
                if slots[lo].pending or slots[hi].pending:
                    break
                image = retimer.between(slots[lo].image, slots[hi].image, p - lo)
                self.job.check_cancel()
                yield self.canvas.from_model(image, size, dtype)
                emitted += 1
            if not backward and emitted < len(targets):  # forget slots nothing will read again
                keep = min([int(math.floor(targets[emitted] + _EPS))] + [w[0] for w in windows[k + 1:]])
                for i in range(max(0, keep)):
                    slots[i].image = None
        if emitted != len(targets):  # a bug, not a user error: say exactly what went wrong
            raise RuntimeError(f"diffusers engine: made {emitted} of {len(targets)} frames")

    def denoise(self, slots: list[_Slot], start: int, end: int, pad: int, backward: bool) -> None:
        """Run the pipeline on ``slots[start:end]`` (+ ``pad`` virtual slots) and store what it made."""
        import torch
        from PIL import Image

        job, canvas = self.job, self.canvas
        job.check_cancel()
        grey = Image.new("RGB", (canvas.mw, canvas.mh), (128, 128, 128))
        white = Image.new("L", (canvas.mw, canvas.mh), 255)
        black = Image.new("L", (canvas.mw, canvas.mh), 0)
        video, masks = [], []
        for slot in slots[start:end]:
            if slot.image is None:
                video.append(grey)
                masks.append(white)
            else:
                video.append(Image.fromarray(_from_unit(slot.image, np.uint8)))
                masks.append(black if slot.mask is None else Image.fromarray(slot.mask))
        fill = ([grey] * pad, [white] * pad)
        if backward:
            video, masks = fill[0] + video, fill[1] + masks
        else:
            video, masks = video + fill[0], masks + fill[1]
        index, total = self.window_index, self.windows_total
        label = f"window {index + 1}/{total}" if total else f"window {index + 1}"
        all_steps = (total or index + 1) * self.steps

        def on_step(pipe, step, timestep, kwargs):
            done = index * self.steps + step + 1
            job.progress(0.95 * done / all_steps, f"{self.engine.model}: {label}, step {step + 1}/{self.steps}")
            if job.cancel_event.is_set():
                raise Canceled()  # within one step; nothing half-denoised is decoded or written
            return kwargs

        generator = torch.Generator("cpu").manual_seed((int(self.job.seed) + 7919 * index) % (2 ** 63))
        job.progress(0.95 * index * self.steps / all_steps, f"{self.engine.model}: {label}, encoding")
        acquired = False
        while not acquired:  # one job at a time through the pipeline; stay cancelable while waiting
            job.check_cancel()
            acquired = _run_lock.acquire(timeout=0.2)
        try:
            with torch.inference_mode():
                result = self.pipe(
                    prompt=job.prompt or "", negative_prompt=self.negative, video=video, mask=masks,
                    reference_images=self.reference, height=canvas.mh, width=canvas.mw, num_frames=len(video),
                    num_inference_steps=self.steps, guidance_scale=self.guidance, generator=generator,
                    output_type="np", callback_on_step_end=on_step)
        except BaseException:
            try:
                self.pipe.maybe_free_model_hooks()
            except Exception:  # freeing hooks must not hide the real error
                pass
            raise
        finally:
            _run_lock.release()
        made = np.asarray(result.frames[0], dtype=np.float32)
        made = made[pad:] if backward else made[:len(made) - pad]
        for slot, image in zip(slots[start:end], made):
            image = np.clip(image, 0.0, 1.0).astype(np.float16)
            if slot.image is None:
                slot.image = image
            elif slot.mask is not None:
                keep = (slot.mask == 0)[..., None]
                slot.image = np.where(keep, slot.image, image)
            slot.mask, slot.pending = None, False
        self.window_index += 1


# ----------------------------------------------------------------------------- model choice
def select_model(operation: str, wanted: str | None, settings: Any) -> tuple[ModelInfo, DevicePlan]:
    """The model that will do ``operation`` (the one named ``wanted`` if given); raises EngineUnavailable."""
    missing = missing_packages()
    if missing:
        raise EngineUnavailable("diffusers", f"Python packages missing: {', '.join(missing)} (install with "
                                             "`scripts/setup.sh --diffusers`)")
    if wanted is not None and not isinstance(wanted, str):
        from otio_tools import RequestError

        raise RequestError("bad_request", f"metadata.shotforge.model must be a model name, not {wanted!r}")
    models, notes = discover(settings.models, settings.hf_cache)
    if wanted:
        named = [m for m in models if m.name == wanted]
        if not named:
            known = ", ".join(m.name for m in models) or "none"
            raise EngineUnavailable("diffusers", f"no model called {wanted!r} (models found: {known})")
        models = named
    reasons = []
    for m in models:
        if operation not in m.operations:
            if wanted or not m.problems:
                reasons.append(f"{m.name} does not serve {operation}")
            else:
                reasons.append(f"{m.name}: {'; '.join(m.problems)}")
            continue
        if m.problems:
            reasons.append(f"{m.name} ({m.path}) is broken: {'; '.join(m.problems)}")
            continue
        plan, why = plan_device(m, settings)
        if plan is None:
            reasons.append(f"{m.name}: {why}")
            continue
        return m, plan
    if not models:
        where = (f"the models folder {settings.models}" if settings.models
                 else "no models folder is configured (--models DIR or SHOTFORGE_MODELS)")
        raise EngineUnavailable("diffusers", f"no model for {operation}: {where}"
                                             f"{'; ' + '; '.join(notes) if notes else ''}")
    raise EngineUnavailable("diffusers", f"no usable model for {operation}: {'; '.join(reasons)}")


def serves(operation: str, wanted: str | None, settings: Any) -> bool:
    """Whether a usable model here serves ``operation`` (for ``engine: auto``)."""
    try:
        select_model(operation, wanted, settings)
    except EngineUnavailable:
        return False
    return True


def build_engine(**options) -> DiffusersEngine:
    """``operation`` (and optionally ``model``) choose the model now; other options are ignored."""
    return DiffusersEngine(operation=options.get("operation"), model=options.get("model"),
                           settings=options.get("settings"))
