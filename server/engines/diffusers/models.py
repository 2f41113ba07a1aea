"""Finding open video models on disk, without importing torch or diffusers.

Two places are searched, and nothing is ever downloaded:

- the models folder (setting ``models``, flag ``--models DIR``, env ``SHOTFORGE_MODELS``): each
  subfolder holding a ``model_index.json`` is one diffusers-format pipeline, named after the folder;
- the local Hugging Face cache (``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else
  ``~/.cache/huggingface/hub``): each ``models--ORG--NAME`` whose current snapshot holds a
  ``model_index.json``, named ``ORG/NAME``.

For each pipeline this reads only JSON and safetensors headers: the pipeline class (hence the
family and the operations it serves), whether every component is present with its config and
weights, the parameter count of each component (for the memory plan), and the native picture,
rate and window (family defaults, overridable by a ``shotforge.json`` beside ``model_index.json``).

What the architecture allows is read from the component configs, never guessed: the picture grid
(VAE spatial scale x patch size), the frame-count rule (VAE temporal scale: ``4k+1`` for Wan) and
the largest picture and window the rotary position table covers (``rope_max_seq_len`` positions
per axis, after patching). Defaults are fitted inside those limits; a ``shotforge.json`` asking
for more is a problem reported by ``shotforge doctor``, not a crash minutes into a job.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OPERATIONS = ("extend", "fill_gap", "outpaint", "generate", "inpaint")

#: pipeline class -> family (a Wan pipeline saved with ``expand_timesteps`` is Wan 2.2 TI2V: :func:`recognise`)
FAMILIES = {"WanVACEPipeline": "wan-vace", "LTXConditionPipeline": "ltx", "LTXPipeline": "ltx"}
#: family -> (its name, the diffusers class it is loaded as (None: as saved), what it serves, why not the rest)
FAMILY_SPECS = {
    "wan-vace": ("Wan VACE", "WanVACEPipeline", OPERATIONS, {}),
    "ltx": ("LTX-Video", "LTXConditionPipeline", ("extend", "fill_gap", "generate"),
            {"outpaint": "it is conditioned on whole frames and cannot keep part of a picture",
             "inpaint": "it is conditioned on whole frames and cannot keep part of a picture"}),
    "wan22-ti2v": ("Wan 2.2 TI2V", None, ("extend", "generate"),
                   {"fill_gap": "it is conditioned on one first frame and cannot see the shot after a gap",
                    "outpaint": "it takes no mask and cannot keep part of a picture",
                    "inpaint": "it takes no mask and cannot keep part of a picture"}),
}
#: pipeline classes recognised but not driven yet (said so in doctor instead of "unknown")
KNOWN_NOT_DRIVEN = {
    "WanPipeline": "Wan text-to-video (use the VACE checkpoint: it serves every operation)",
    "WanImageToVideoPipeline": "Wan image-to-video / first-last-frame",
    "CogVideoXPipeline": "CogVideoX",
}


def recognise(cls: str, index: dict) -> str | None:
    """The family of a pipeline folder from its ``model_index.json``, or None."""
    if cls in FAMILIES:
        return FAMILIES[cls]
    two_experts = (index.get("transformer_2") or [None])[0] is not None
    if cls in ("WanPipeline", "WanImageToVideoPipeline") and index.get("expand_timesteps") and not two_experts:
        return "wan22-ti2v"  # TI2V-5B: one checkpoint for text- and image-to-video
    return None


_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf")
_DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
                "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1}
_SIDECAR_KEYS = {"width": int, "height": int, "fps": float, "max_frames": int, "overlap": int, "steps": int,
                 "guidance": float, "guidance_2": float, "negative_prompt": str, "flow_shift": float, "attention": str}
#: attention settings: "exact" (the fastest exact backend installed) or one approximate backend, asked for
ATTENTION_CHOICES = ("exact", "sage")


@dataclass
class Native:
    """How a model likes to work: picture (width, height) whose area it is trained at, rate, window."""

    width: int
    height: int
    fps: float
    max_frames: int  # longest window, of the form temporal*k + 1
    overlap: int  # frames of the previous window each later window is conditioned on
    steps: int  # default denoising steps
    guidance: float  # default classifier-free guidance
    multiple: int = 16  # width and height must be multiples of this (VAE x patch)
    temporal: int = 4  # frames must be temporal*k + 1
    negative_prompt: str = ""
    limit_frames: int = 1 << 30  # the most frames one window may have (rope length)
    limit_width: int = 1 << 30  # the widest and tallest picture the rope covers
    limit_height: int = 1 << 30
    flow_shift: float | None = None  # None: the family's rule (families/wan_vace.py) or the scheduler's own
    attention: str = "exact"  # or "sage": an approximate backend, only when asked for
    guidance_2: float | None = None  # the low-noise expert's guidance (two experts); None: as ``guidance``
    max_context: int | None = None  # the most known frames a side a window can use (None: no limit)

    def describe(self) -> str:
        return (f"native {self.width}x{self.height} at {self.fps:g} fps, grid {self.multiple} px, "
                f"frames {self.temporal}k+1 up to {self.max_frames}")

    def to_dict(self) -> dict[str, Any]:
        return {"width": self.width, "height": self.height, "fps": self.fps, "max_frames": self.max_frames,
                "overlap": self.overlap, "steps": self.steps, "guidance": self.guidance, "grid": self.multiple,
                "frames_rule": f"{self.temporal}k+1", "limit_frames": self.limit_frames,
                "limit_size": [self.limit_width, self.limit_height], "flow_shift": self.flow_shift,
                "attention": self.attention, "guidance_2": self.guidance_2}


@dataclass
class ModelInfo:
    name: str
    path: Path
    source: str  # "models folder" or "Hugging Face cache"
    pipeline_class: str
    family: str | None  # None when this engine does not drive the class
    operations: tuple[str, ...]
    native: Native | None
    params: dict[str, int] = field(default_factory=dict)  # component -> parameter count
    problems: list[str] = field(default_factory=list)  # why it cannot be loaded at all
    size_label: str = ""  # e.g. "1.3B"
    experts: int = 1  # Wan 2.2 A14B: a high-noise ``transformer`` and a low-noise ``transformer_2``
    lora: Any = None  # the model folder's LoRA (:class:`.lora.LoraSpec`), from its shotforge.json
    plain_native: Native | None = None  # the defaults without that LoRA's settings (a request may drop it)

    @property
    def loader(self) -> str:
        """The diffusers class the pipeline is loaded as."""
        return (FAMILY_SPECS[self.family][1] if self.family else None) or self.pipeline_class

    @property
    def family_name(self) -> str:
        return FAMILY_SPECS[self.family][0] if self.family else self.pipeline_class

    def not_served(self) -> dict[str, str]:
        """Operation -> why this model does not serve it."""
        return dict(FAMILY_SPECS[self.family][3]) if self.family else {}

    @property
    def loadable(self) -> bool:
        return self.family is not None and not self.problems

    @property
    def total_params(self) -> int:
        return sum(self.params.values())

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "path": str(self.path), "source": self.source,
                "pipeline": self.pipeline_class, "family": self.family, "operations": list(self.operations),
                "params": dict(self.params), "problems": list(self.problems), "size": self.size_label,
                "family_name": self.family_name, "experts": self.experts, "not_served": self.not_served(),
                "lora": None if self.lora is None else self.lora.to_dict(),
                "native": None if self.native is None else self.native.to_dict()}


# ------------------------------------------------------------------------------------ discovery
def hf_cache_dir() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]) / "hub"
    return Path(os.path.expanduser("~/.cache/huggingface/hub"))


def discover(models_dir: Path | None, hf_cache: bool = True) -> tuple[list[ModelInfo], list[str]]:
    """Every pipeline found, and notes about places that could not be searched."""
    found: list[ModelInfo] = []
    notes: list[str] = []
    if models_dir is not None:
        models_dir = Path(models_dir)
        if not models_dir.is_dir():
            notes.append(f"models folder {models_dir} does not exist")
        else:
            if (models_dir / "model_index.json").is_file():
                found.append(inspect_pipeline(models_dir, models_dir.name, "models folder"))
            for sub in sorted(p for p in models_dir.iterdir() if p.is_dir() and not p.name.startswith(".")):
                if (sub / "model_index.json").is_file():
                    found.append(inspect_pipeline(sub, sub.name, "models folder"))
            if not found:
                notes.append(f"models folder {models_dir} holds no pipeline (no subfolder with a model_index.json)")
    if hf_cache:
        found.extend(_discover_hf_cache(hf_cache_dir()))
    return found, notes


def _discover_hf_cache(cache: Path) -> list[ModelInfo]:
    out = []
    if not cache.is_dir():
        return out
    for repo in sorted(cache.glob("models--*")):
        snapshots = repo / "snapshots"
        if not snapshots.is_dir():
            continue
        snapshot = None
        ref = repo / "refs" / "main"
        if ref.is_file():
            candidate = snapshots / ref.read_text().strip()
            if (candidate / "model_index.json").is_file():
                snapshot = candidate
        if snapshot is None:
            candidates = [s for s in snapshots.iterdir() if (s / "model_index.json").is_file()]
            snapshot = max(candidates, key=lambda s: s.stat().st_mtime) if candidates else None
        if snapshot is not None:
            name = "/".join(repo.name.split("--")[1:])
            info = inspect_pipeline(snapshot, name, "Hugging Face cache")
            if info.pipeline_class in FAMILIES or info.pipeline_class in KNOWN_NOT_DRIVEN:
                out.append(info)  # image pipelines and the like in the cache are none of our business
    return out


def inspect_pipeline(path: Path, name: str, source: str) -> ModelInfo:
    """Read a pipeline folder's JSON and weight headers; never raises for a broken folder."""
    try:
        index = json.loads((path / "model_index.json").read_text(encoding="utf-8"))
        if not isinstance(index, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        return ModelInfo(name, path, source, "?", None, (), None,
                         problems=[f"model_index.json cannot be read: {exc}"])
    cls = str(index.get("_class_name", "?"))
    family = recognise(cls, index)
    operations = FAMILY_SPECS[family][2] if family else ()
    info = ModelInfo(name, path, source, cls, family, tuple(operations), None)
    if family is None:
        what = KNOWN_NOT_DRIVEN.get(cls)
        info.problems.append(f"{cls} ({what}) is recognised but not driven by this engine yet" if what
                             else f"{cls} is not a video pipeline this engine knows")
        return info
    for component, spec in index.items():
        if component.startswith("_") or not isinstance(spec, list) or len(spec) != 2 or spec[0] is None:
            continue
        info.problems.extend(_check_component(path, component, spec[1], info.params))
    transformer, vae = _read_config(path, "transformer"), _read_config(path, "vae")
    info.experts = 2 if "transformer_2" in info.params else 1
    if family == "wan-vace":
        info.native, info.size_label = wan_native(transformer, vae, info.params.get("transformer", 0))
    else:
        from server.engines.diffusers import natives

        info.native = (natives.ltx_native if family == "ltx" else natives.ti2v_native)(transformer, vae)
        info.size_label = _size_label(info.params.get("transformer", 0))
    try:
        _apply_sidecar(path, info)
    except ValueError as exc:
        info.problems.append(str(exc))
    if info.lora is not None:
        from server.engines.diffusers.lora import peft_missing

        if peft_missing():
            info.problems.append(f"its LoRA {info.lora.name} needs the Python package peft (pip install peft)")
    return info


def _check_component(path: Path, component: str, cls: str, params: dict[str, int]) -> list[str]:
    folder = path / component
    if not folder.is_dir():
        return [f"component '{component}' ({cls}) is missing: no folder {folder}"]
    files = [f for f in folder.iterdir() if f.is_file() or f.is_symlink()]
    broken = [f.name for f in files if not f.exists()]  # dangling links: an unfinished download
    if broken:
        return [f"component '{component}' has missing files (unfinished download?): {', '.join(sorted(broken))}"]
    names = {f.name for f in files}
    if component.startswith("tokenizer"):
        if not names & {"tokenizer.json", "spiece.model", "tokenizer.model", "vocab.json", "tokenizer_config.json"}:
            return [f"component '{component}' has no tokenizer files in {folder}"]
        return []
    if component.startswith("scheduler"):
        return [] if "scheduler_config.json" in names else [f"component '{component}' has no scheduler_config.json"]
    if "config.json" not in names:
        return [f"component '{component}' ({cls}) has no config.json in {folder}"]
    try:
        json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [f"component '{component}' has an unreadable config.json: {exc}"]
    weights = [f for f in files if f.name.endswith(_WEIGHT_SUFFIXES)]
    if not weights:
        return [f"component '{component}' ({cls}) has no weights (no .safetensors/.bin file in {folder})"]
    problems = _check_shards(folder)
    total = 0
    for f in weights:
        if f.name.endswith(".safetensors"):
            try:
                total += _safetensors_params(f)
            except (OSError, ValueError) as exc:
                problems.append(f"component '{component}' has a damaged weights file {f.name}: {exc}")
        else:
            total += f.stat().st_size // 2  # a guess (bf16/fp16) for pickled weights
    params[component] = total
    return problems


def _check_shards(folder: Path) -> list[str]:
    problems = []
    for index_file in folder.glob("*.index.json"):
        try:
            shards = set(json.loads(index_file.read_text(encoding="utf-8")).get("weight_map", {}).values())
        except (OSError, ValueError) as exc:
            problems.append(f"{index_file} is unreadable: {exc}")
            continue
        missing = sorted(s for s in shards if not (folder / s).exists())
        if missing:
            problems.append(f"{folder.name}: weight shards missing: {', '.join(missing)}")
    return problems


def _safetensors_params(path: Path) -> int:
    """Parameter count from a safetensors header (8-byte length, then JSON), without reading the weights."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) != 8:
            raise ValueError("file too short")
        (length,) = struct.unpack("<Q", head)
        if length > min(size - 8, 100 * 1024 * 1024):
            raise ValueError("header length is wrong (truncated or not safetensors)")
        header = json.loads(fh.read(length))
    count, end = 0, 0
    for key, value in header.items():
        if key == "__metadata__":
            continue
        count += math.prod(value["shape"]) if value["shape"] else 1
        end = max(end, value["data_offsets"][1])
    if 8 + length + end > size:
        raise ValueError(f"truncated: {size} bytes, header says {8 + length + end}")
    return count


def _read_config(path: Path, component: str) -> dict:
    try:
        return json.loads((path / component / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _size_label(params: int) -> str:
    return f"{params / 1e9:.1f}B" if params >= 1e8 else (f"{params / 1e6:.1f}M" if params else "")


def wan_native(transformer: dict, vae: dict, params: int = 0) -> tuple[Native, str]:
    """A Wan model's native size, rate and window from its transformer and VAE configs, and a size label."""
    down = vae.get("temperal_downsample", [False, True, True])
    spatial = int(vae.get("scale_factor_spatial") or 2 ** len(down))
    temporal = int(vae.get("scale_factor_temporal") or 2 ** sum(bool(d) for d in down))
    p_t, p_h, p_w = (int(p) for p in transformer.get("patch_size", [1, 2, 2]))
    multiple = math.lcm(spatial * p_h, spatial * p_w)
    rope = int(transformer.get("rope_max_seq_len", 1024))  # positions per axis, after patching
    limit_frames = (rope * p_t - 1) * temporal + 1
    limit_w, limit_h = rope * p_w * spatial, rope * p_h * spatial
    width = int(transformer.get("num_attention_heads", 12)) * int(transformer.get("attention_head_dim", 128))
    big = width >= 4096 or params > 5e9
    label = _size_label(params)
    # 14B: 720p; 1.3B: 480p (the published checkpoints' training sizes); 16 fps, 81 frames
    w, h = (1280, 720) if big else (832, 480)
    scale = min(1.0, limit_w / w, limit_h / h)
    w = max(multiple, int(w * scale) // multiple * multiple)
    h = max(multiple, int(h * scale) // multiple * multiple)
    frames = min(81, limit_frames)
    overlap = min(2 * temporal + 1, (frames - 1) // 2)
    return Native(w, h, 16.0, frames, overlap, 30, 5.0, multiple, temporal, _WAN_NEGATIVE,
                  limit_frames=limit_frames, limit_width=limit_w, limit_height=limit_h), label


def _apply_sidecar(path: Path, info: ModelInfo) -> None:
    """``shotforge.json`` beside model_index.json overrides the native defaults (e.g. a tiny test model)."""
    sidecar = path / "shotforge.json"
    if not sidecar.is_file() or info.native is None:
        return
    try:
        data = json.loads(sidecar.read_text(encoding="utf-8"))
        for key, kind in _SIDECAR_KEYS.items():
            if key in data:
                setattr(info.native, key, kind(data[key]))
    except (OSError, ValueError, TypeError) as exc:
        raise ValueError(f"{sidecar} cannot be read: {exc}") from None
    n = info.native
    if data.get("lora") is not None:  # a distilled LoRA: its steps, guidance and shift are the model's defaults
        from server.engines.diffusers.lora import LoraSpec

        info.lora = LoraSpec.parse(data["lora"], path, f"{sidecar}: lora")
        info.plain_native = dataclasses.replace(n)
        for key in ("steps", "guidance", "flow_shift"):
            if getattr(info.lora, key) is not None:
                setattr(n, key, getattr(info.lora, key))
    if n.width % n.multiple or n.height % n.multiple:
        raise ValueError(f"{sidecar}: width and height must be multiples of {n.multiple}")
    if n.width > n.limit_width or n.height > n.limit_height:
        raise ValueError(f"{sidecar}: {n.width}x{n.height} is larger than this model's position table covers "
                         f"({n.limit_width}x{n.limit_height}: transformer rope_max_seq_len)")
    if n.max_frames < 1 or (n.max_frames - 1) % n.temporal:
        raise ValueError(f"{sidecar}: max_frames must be {n.temporal}k+1")
    if n.max_frames > n.limit_frames:
        raise ValueError(f"{sidecar}: max_frames {n.max_frames} is more than this model takes: {n.limit_frames} "
                         "frames (transformer rope_max_seq_len)")
    if not 0 <= n.overlap < n.max_frames or n.fps <= 0 or n.steps < 1:
        raise ValueError(f"{sidecar}: overlap, fps or steps out of range")
    if n.flow_shift is not None and not 0 < n.flow_shift <= 100:
        raise ValueError(f"{sidecar}: flow_shift must be a positive number")
    if n.guidance_2 is not None and not 0 <= n.guidance_2 <= 50:
        raise ValueError(f"{sidecar}: guidance_2 must be between 0 and 50")
    if n.attention not in ATTENTION_CHOICES:
        raise ValueError(f"{sidecar}: attention must be one of {', '.join(ATTENTION_CHOICES)}, not {n.attention!r}")


# The negative prompt the Wan authors publish with their examples (model-appropriate default).
_WAN_NEGATIVE = ("Bright tones, overexposed, static, blurred details, subtitles, style, works, paintings, images, "
                 "static, overall gray, worst quality, low quality, JPEG compression residue, ugly, incomplete, "
                 "extra fingers, poorly drawn hands, poorly drawn faces, deformed, disfigured, misshapen limbs, "
                 "fused fingers, still picture, messy background, three legs, many people in the background, "
                 "walking backwards")
