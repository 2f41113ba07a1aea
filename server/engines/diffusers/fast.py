"""The opt-in fast path (``diffusers_fast``): attention backend, step cache, regional compile.

- Attention: the fastest *exact* backend that is installed and accepted, in this order: flash-attn 2
  (``flash``), cuDNN SDPA (``_native_cudnn``), flash SDPA (``_native_flash``), else PyTorch's own
  (``native``). Approximate backends (SageAttention) change the frames without saying so: only when
  a model's ``shotforge.json`` asks for ``"attention": "sage"``.
- Step cache: the family's own, safe for its transformer (for VACE: hints included; see
  :mod:`server.engines.diffusers.step_cache`); not with group offloading, whose blocks are streamed
  onto the GPU in the order they run.

Every lever goes on *every* transformer of the pipeline: Wan 2.2 A14B runs a high-noise
``transformer`` and a low-noise ``transformer_2``, each with its own cache and compiled blocks.
- Compile: ``compile_repeated_blocks(dynamic=False)`` at load, warmed up there on the full window
  at the native size (progress reported), so a job never pays for it under the run lock. A warm-up
  that fails turns the lever off and the pipeline stays eager. Window lengths are kept to a few
  buckets (:func:`server.engines.diffusers.windows.frame_buckets`) so a warm pipeline does not
  recompile for every job length.

Any lever that fails later, at run time, is turned off by :meth:`FastPath.degrade` and the window
is run again: a backend accepted at set-up but failing on this GPU costs a retry, not the job.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from server.engines.diffusers.errors import one_line
from server.engines.diffusers.families import Conditioner
from server.engines.diffusers.models import Native
from server.engines.diffusers.windows import frame_buckets

log = logging.getLogger("shotforge.diffusers")

#: exact attention backends, fastest first: (diffusers backend name, package it needs)
EXACT_BACKENDS = (("flash", "flash_attn"), ("_native_cudnn", None), ("_native_flash", None))
#: approximate backends, used only when asked for by name
APPROXIMATE_BACKENDS = {"sage": "sageattention"}
#: devices where attention backends and compile are tried (elsewhere they gain nothing)
ACCELERATED = ("cuda",)
CACHE_THRESHOLD = 0.05


def transformers_of(pipe: Any) -> list[Any]:
    """The pipeline's denoising transformers: ``transformer``, and ``transformer_2`` for two experts."""
    return [t for t in (getattr(pipe, "transformer", None), getattr(pipe, "transformer_2", None)) if t is not None]


def compile_blocks(transformer: Any) -> None:
    """Regional compile of the repeated transformer blocks, one graph per shape."""
    transformer.compile_repeated_blocks(fullgraph=False, dynamic=False)


def uncompile_blocks(transformer: Any) -> None:
    for module in transformer.modules():
        if getattr(module, "_compiled_call_impl", None) is not None:
            module._compiled_call_impl = None


class StepCaches:
    """One step cache per transformer of a pipeline, counted together."""

    def __init__(self, parts: list[Any], threshold: float):
        self.parts, self.threshold = parts, threshold

    @classmethod
    def apply(cls, pipe: Any, conditioner: Conditioner, threshold: float) -> "StepCaches":
        return cls([conditioner.step_cache(threshold).apply(t) for t in transformers_of(pipe)], threshold)

    @property
    def hits(self) -> int:
        return sum(p.hits for p in self.parts)

    @property
    def misses(self) -> int:
        return sum(p.misses for p in self.parts)

    def remove(self) -> None:
        for part in self.parts:
            part.remove()

    def reset(self) -> None:
        for part in self.parts:
            part.reset()


@dataclass
class FastPath:
    """The levers in use on one warm pipeline, and what happened to them."""

    attention: str = "native"
    cache: Any = None
    compiled: bool = False
    buckets: list[int] | None = None  # window lengths the compiled blocks are kept to
    shapes: set = field(default_factory=set)  # (frames, width, height) compiled so far
    notes: list[str] = field(default_factory=list)

    def first_use(self, frames: int, width: int, height: int) -> bool:
        """Whether a compiled pipeline meets this window shape for the first time (it compiles now)."""
        if not self.compiled or (frames, width, height) in self.shapes:
            return False
        self.shapes.add((frames, width, height))
        return True

    def describe(self) -> str:
        levers = []
        if self.attention != "native":
            levers.append(f"attention={self.attention}")
        if self.cache is not None:
            levers.append(f"step cache ({self.cache.threshold})")
        if self.compiled:
            levers.append("torch.compile (repeated blocks)")
        return ", ".join(levers + self.notes) or "nothing applicable"

    def degrade(self, pipe: Any, error: BaseException) -> str | None:
        """Turn off the next lever after a failure at run time; says which, or None when none is left."""
        lever = self._turn_off_next(pipe)
        if lever is not None:
            self.notes.append(f"{lever} off after {type(error).__name__}")
            log.warning("diffusers fast path: %s failed (%s); turned off", lever, one_line(error))
        return lever

    def disable(self, pipe: Any) -> None:
        """Every lever off: the pipeline as diffusers leaves it."""
        while self._turn_off_next(pipe) is not None:
            pass
        self.notes.clear()

    def _turn_off_next(self, pipe: Any) -> str | None:
        """The attention backend first (the likeliest to fail on a GPU it was not built for), then the
        compile, then the cache."""
        if self.attention != "native":
            lever, self.attention = f"attention backend {self.attention}", "native"
            for transformer in transformers_of(pipe):
                use_native_attention(transformer)
        elif self.compiled:
            lever, self.compiled, self.buckets = "torch.compile", False, None
            for transformer in transformers_of(pipe):
                uncompile_blocks(transformer)
        elif self.cache is not None:
            lever = "the step cache"
            self.cache.remove()
            self.cache = None
        else:
            return None
        return lever


def enable(pipe: Any, device: str, offload: str, conditioner: Conditioner, native: Native,
           report: Callable[[str], None] = lambda stage: None) -> FastPath:
    """Apply the fast path to a placed pipeline; compiles (and warms up) now, at load."""
    fast = FastPath()
    accelerated = device.split(":")[0] in ACCELERATED
    if accelerated:
        fast.attention = choose_attention(transformers_of(pipe), native.attention)
    if offload == "group":  # its blocks are streamed in order: a cache skipping blocks would break the stream
        fast.notes.append("no step cache with group offloading")
    else:
        fast.cache = StepCaches.apply(pipe, conditioner, CACHE_THRESHOLD)
    if accelerated and offload == "none":
        compile_at_load(pipe, fast, conditioner, native, report)
    elif accelerated:
        fast.notes.append(f"no compile with {offload} offloading")
    return fast


def choose_attention(transformers: list[Any], wanted: str) -> str:
    """The backend set on every transformer: the one asked for, else the fastest exact one accepted."""
    choices = [(wanted, APPROXIMATE_BACKENDS[wanted])] if wanted in APPROXIMATE_BACKENDS else []
    for backend, package in (*choices, *EXACT_BACKENDS):
        if package and importlib.util.find_spec(package) is None:
            continue
        try:
            for transformer in transformers:
                transformer.set_attention_backend(backend)
            return backend
        except Exception as exc:  # not usable on this GPU or build
            log.info("attention backend %s not usable: %s", backend, exc)
    for transformer in transformers:
        use_native_attention(transformer)
    return "native"


def use_native_attention(transformer: Any) -> None:
    """PyTorch's own attention. Not ``reset_attention_backend``: in diffusers 0.42 that leaves the
    process-wide active backend (which ``set_attention_backend`` also sets) on the failed one."""
    transformer.set_attention_backend("native")


def compile_at_load(pipe: Any, fast: FastPath, conditioner: Conditioner, native: Native,
                    report: Callable[[str], None]) -> None:
    """Compile the repeated blocks and run one warm-up call at the full window; eager if it fails."""
    import torch

    transformers = transformers_of(pipe)
    try:
        for transformer in transformers:
            compile_blocks(transformer)
    except Exception as exc:
        for transformer in transformers:
            uncompile_blocks(transformer)
        fast.notes.append(f"torch.compile not usable ({one_line(exc)})")
        return
    fast.compiled, fast.buckets = True, frame_buckets(native.max_frames, native.temporal)
    which = "both transformers" if len(transformers) > 1 else "the transformer"
    while True:
        report(f"compiling {which} for {native.max_frames} frames at {native.width}x{native.height}")
        try:
            with torch.inference_mode():
                inputs = conditioner.warmup_inputs(pipe, native.width, native.height, native.max_frames)
                for transformer in transformers:
                    transformer(**inputs)
            fast.shapes.add((native.max_frames, native.width, native.height))
            return
        except Exception as exc:  # a broken compile (or backend) must not stay in the warm pipeline
            fast.degrade(pipe, exc)  # the attention backend first, then the compile
            if not fast.compiled:
                return
