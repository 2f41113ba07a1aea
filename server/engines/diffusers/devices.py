"""Device planning: where a model runs here and how its weights are placed, or why it cannot run.

A CUDA GPU when there is one. Without one, only small (test) models run on the CPU unless
``diffusers_device = "cpu"`` forces it. On a GPU weights are bf16 (the VAE stays fp32), and the
memory plan is chosen from free GPU memory: the whole pipeline on the GPU, or whole components
moved in and out (``enable_model_cpu_offload``), or transformer blocks streamed (group
offloading); the VAE is tiled for large canvases. :func:`more_offload` is the next plan down,
used once when a job runs out of GPU memory.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from dataclasses import dataclass
from typing import Any

from server.engines.diffusers.models import ModelInfo

#: import name -> pip name; what the engine cannot run without
REQUIRED_PACKAGES = {"torch": "torch", "diffusers": "diffusers", "transformers": "transformers",
                     "accelerate": "accelerate", "ftfy": "ftfy"}
#: without a GPU, models up to this many parameters (tiny/test models) run on the CPU
CPU_MAX_PARAMS = 300_000_000
GIB = 1024 ** 3

_OFFLOAD_ORDER = ("none", "model", "group")
_OFFLOAD_WORDS = {"none": "whole pipeline on the GPU", "model": "components offloaded to the CPU between uses",
                  "group": "transformer blocks streamed from the CPU (group offload)"}


def missing_packages() -> list[str]:
    return [pip for mod, pip in REQUIRED_PACKAGES.items() if importlib.util.find_spec(mod) is None]


@dataclass(frozen=True)
class DevicePlan:
    device: str  # "cuda:0", "cpu", "mps"
    dtype: str  # "bfloat16", "float16", "float32"
    offload: str  # "none", "model", "group"
    vae_tiling: bool
    note: str  # for doctor: where and how it runs


def fmt_params(n: int) -> str:
    return f"{n / 1e9:.1f}B" if n >= 1e9 else f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.0f}k"


def working_bytes(model: ModelInfo, hidden: int = 1536) -> float:
    """A rough estimate of activations + VAE decode for one native window (bench/ measures reality)."""
    n = model.native
    tokens = ((n.max_frames - 1) // n.temporal + 1) * (n.height // n.multiple) * (n.width // n.multiple)
    if model.params.get("transformer", 0) > 5e9:
        hidden = 5120
    return 1.5 * GIB + tokens * hidden * 2 * 24 + 3 * GIB * (n.width * n.height) / (832 * 480)


def plan_device(model: ModelInfo, settings: Any) -> tuple[DevicePlan | None, str]:
    """Where and how ``model`` would run here, or why it cannot."""
    import torch

    from server.engines.diffusers import warm

    want = (settings.diffusers_device or "auto").strip().lower()
    device = ("cuda" if torch.cuda.is_available() else "cpu") if want == "auto" else want
    if device.startswith("cuda") and not torch.cuda.is_available():
        build = "a CPU-only torch build" if torch.version.cuda is None else f"torch {torch.__version__}"
        return None, f"diffusers_device is {want!r} but no CUDA GPU is visible ({build})"
    if device == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            return None, "diffusers_device is 'mps' but Metal is not available"
        return DevicePlan("mps", "bfloat16", "none", False, "Apple GPU (mps), bf16"), ""
    if device == "cpu":
        if want == "auto" and model.total_params > CPU_MAX_PARAMS:
            return None, (f"no GPU: {model.name} has {fmt_params(model.total_params)} parameters and needs a CUDA "
                          f"GPU; without one only small test models (under {fmt_params(CPU_MAX_PARAMS)}) run on "
                          "the CPU (diffusers_device = 'cpu' forces it, very slowly)")
        placed = warm.placed_plan(model)
        if placed is not None and placed.device == "cpu":
            return placed, ""  # as it is loaded (an out-of-memory retry may have changed it)
        return DevicePlan("cpu", "float32", "none", False,
                          f"CPU, float32 ({fmt_params(model.total_params)} parameters)"), ""
    if not device.startswith("cuda"):
        return None, f"diffusers_device {want!r} is not one of auto, cuda, cuda:N, mps, cpu"
    index = torch.device(device).index or 0
    if index >= torch.cuda.device_count():
        return None, f"diffusers_device {want!r}: there are only {torch.cuda.device_count()} CUDA device(s)"
    device = f"cuda:{index}"
    placed = warm.placed_plan(model)
    if placed is not None and placed.device == device and settings.diffusers_offload in ("auto", placed.offload):
        return placed, ""  # already loaded: its own memory must not count against it
    free, total = torch.cuda.mem_get_info(index)
    free += torch.cuda.memory_reserved(index)  # this process's cache: a warm pipeline is dropped before loading
    gpu = f"{torch.cuda.get_device_name(index)}, {free / GIB:.1f}/{total / GIB:.1f} GiB free"
    half = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    sizes = {c: p * (4 if c == "vae" else 2) for c, p in model.params.items()}
    weights, largest = sum(sizes.values()), max(sizes.values(), default=0)
    work = working_bytes(model)
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
    big_canvas = model.native.width * model.native.height > 832 * 480 * 1.5
    tiling = big_canvas or chosen == "group"
    return DevicePlan(device, half, chosen, tiling,
                      f"{device} ({gpu}), {half}, {_OFFLOAD_WORDS[chosen]}{', VAE tiling' if tiling else ''}"), ""


def more_offload(plan: DevicePlan) -> DevicePlan | None:
    """The next placement using less GPU memory (after running out of it), or None at the last one."""
    at = _OFFLOAD_ORDER.index(plan.offload)
    if at + 1 == len(_OFFLOAD_ORDER):
        return None
    offload = _OFFLOAD_ORDER[at + 1]
    return dataclasses.replace(plan, offload=offload, vae_tiling=True,
                               note=f"{plan.device}, {plan.dtype}, {_OFFLOAD_WORDS[offload]}, VAE tiling "
                                    "(after running out of memory)")
