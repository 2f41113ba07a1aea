"""Distilled LoRAs from a local folder: the few-step LoRAs people run Wan and LTX with.

A LoRA comes with the settings it was distilled for (few steps, guidance 1.0, its own shift); they
become the defaults while it is in use (a request's own ``steps``/``guidance`` still win). It is
chosen in one of two places, never downloaded:

- per model folder, in its ``shotforge.json``: ``{"lora": {"path": "lightx2v.safetensors",
  "weight": 1.0, "steps": 4, "guidance": 1.0, "flow_shift": 5.0}}``, the path relative to the model
  folder (or absolute). Two-expert Wan 2.2 models may give ``path_2`` for the low-noise expert;
  without it the same LoRA goes into both;
- per request, ``metadata.shotforge.lora``: the name of a LoRA in the models folder's ``loras/``
  subfolder (``loras/NAME.safetensors``, its settings in ``loras/NAME.json`` if there is one), or
  ``{"name": NAME, "weight": 0.8, ...}`` with settings of its own, or ``"none"`` for the model
  without its folder's LoRA. A request names a LoRA, never a path: the server reads only the
  folders it was configured with.

Only ``.safetensors`` files are read: a pickled LoRA (``.bin``) runs code when it is loaded.
LoRAs are loaded with ``load_lora_weights`` (the PEFT backend) as named adapters, once per warm
pipeline, and switched per job with ``set_adapters``/``disable_lora`` under the run lock.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

#: a request's ``lora`` that turns the model folder's LoRA off
NO_LORA = ("none", "off")
_SETTINGS = {"weight": (float, 0.0, 2.0), "steps": (int, 1, 500), "guidance": (float, 0.0, 50.0),
             "flow_shift": (float, 0.01, 100.0)}


@dataclass(frozen=True)
class LoraSpec:
    """One LoRA file (and, for a second expert, another), its strength and the settings it wants."""

    path: Path
    weight: float = 1.0
    steps: int | None = None
    guidance: float | None = None
    flow_shift: float | None = None
    path_2: Path | None = None

    @property
    def name(self) -> str:
        return self.path.stem

    def label(self) -> str:
        """How a take's recipe names it."""
        return f"{self.name} (weight {self.weight:g})"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "path": str(self.path), "weight": self.weight, "steps": self.steps,
                "guidance": self.guidance, "flow_shift": self.flow_shift,
                "path_2": None if self.path_2 is None else str(self.path_2)}

    @classmethod
    def parse(cls, value: Any, base: Path, where: str) -> "LoraSpec":
        """A ``shotforge.json`` LoRA (paths relative to ``base``); raises ValueError naming ``where``."""
        if isinstance(value, str):
            value = {"path": value}
        if not isinstance(value, dict) or not isinstance(value.get("path"), str):
            raise ValueError(f"{where} must be an object with a \"path\" to a .safetensors file")
        unknown = sorted(set(value) - {"path", "path_2", *_SETTINGS})
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}")
        paths = [_lora_file(base / value[key], where) if value.get(key) is not None else None
                 for key in ("path", "path_2")]
        return cls(paths[0], path_2=paths[1], **settings(value, where))


def settings(value: dict, where: str) -> dict[str, Any]:
    """The LoRA settings in ``value``, checked (weight, steps, guidance, flow_shift)."""
    out = {}
    for key, (kind, low, high) in _SETTINGS.items():
        if value.get(key) is None:
            continue
        try:
            number = kind(value[key])
            if isinstance(value[key], bool) or not math.isfinite(number):
                raise ValueError
        except (TypeError, ValueError):
            raise ValueError(f"{where}.{key} must be a number, not {value[key]!r}") from None
        if not low <= number <= high:
            raise ValueError(f"{where}.{key} must be between {low:g} and {high:g}, not {number:g}")
        out[key] = number
    return out


def _lora_file(path: Path, where: str) -> Path:
    path = path.expanduser()
    if path.suffix != ".safetensors":
        raise ValueError(f"{where}: {path.name} is not a .safetensors file (pickled LoRAs run code when loaded)")
    if not path.is_file():
        raise ValueError(f"{where}: no LoRA file {path}")
    return path.resolve()


def peft_missing() -> bool:
    return importlib.util.find_spec("peft") is None


def for_request(value: Any, folder_lora: LoraSpec | None, models_dir: Path | None) -> LoraSpec | None:
    """The LoRA a job runs with: the request's (``metadata.shotforge.lora``) or the model folder's.
    Raises ValueError (a bad request) naming what is wrong."""
    if value is None:
        return folder_lora
    if isinstance(value, str) and value.strip().lower() in NO_LORA:
        return None
    check_request(value)
    if isinstance(value, str):
        value = {"name": value}
    name = value["name"].strip()
    if Path(name).name != name or name.startswith("."):
        raise ValueError(f"metadata.shotforge.lora {name!r} must be a name in the models folder's loras/, not a path")
    if models_dir is None:
        raise ValueError(f"metadata.shotforge.lora {name!r}: no models folder is configured, so there is no loras/")
    folder = Path(models_dir) / "loras"
    path = folder / f"{name}.safetensors"
    if not path.is_file():
        known = sorted(p.stem for p in folder.glob("*.safetensors")) if folder.is_dir() else []
        raise ValueError(f"metadata.shotforge.lora: no LoRA {name!r} in {folder} (found: {', '.join(known) or 'none'})")
    defaults = {}
    sidecar = folder / f"{name}.json"
    if sidecar.is_file():
        try:
            defaults = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"{sidecar} cannot be read: {exc}") from None
        defaults = settings(defaults if isinstance(defaults, dict) else {}, str(sidecar))
    return LoraSpec(path.resolve(), **{**defaults, **settings(value, "metadata.shotforge.lora")})


def check_request(value: Any) -> None:
    """Refuse a malformed ``metadata.shotforge.lora`` before a job is queued (its file is found later)."""
    if value is None or isinstance(value, str) and value.strip():
        return
    if not isinstance(value, dict) or not isinstance(value.get("name"), str) or not value["name"].strip():
        raise ValueError("metadata.shotforge.lora must be a LoRA name, {\"name\": ..., \"weight\": ...} or \"none\"")
    unknown = sorted(set(value) - {"name", *_SETTINGS})
    if unknown:
        raise ValueError(f"metadata.shotforge.lora: unknown key(s) {', '.join(unknown)}")
    settings(value, "metadata.shotforge.lora")


def with_settings(native: Any, spec: LoraSpec | None) -> Any:
    """``native`` with the LoRA's steps, guidance and shift as its defaults."""
    if spec is None:
        return native
    return replace(native, **{k: getattr(spec, k) for k in ("steps", "guidance", "flow_shift")
                              if getattr(spec, k) is not None})


class Adapters:
    """The LoRAs loaded into one warm pipeline, and the one in use."""

    def __init__(self) -> None:
        self.loaded: dict[tuple, str] = {}  # (path, path_2) -> adapter name
        self.active: tuple | None = None  # (adapter name, weight), None: no LoRA

    def use(self, pipe: Any, spec: LoraSpec | None) -> None:
        """Make ``spec`` (or no LoRA) the one the next pipeline call runs with."""
        if spec is None:
            if self.active is not None:
                pipe.disable_lora()
                self.active = None
            return
        if peft_missing():
            from server.engines.base import EngineUnavailable

            raise EngineUnavailable("diffusers", f"LoRA {spec.name} needs the Python package peft (pip install peft)")
        key = (str(spec.path), str(spec.path_2))
        name = self.loaded.get(key)
        if name is None:
            name = "sf_" + hashlib.sha1("\0".join(key).encode()).hexdigest()[:12]
            self._load(pipe, spec, name)
            self.loaded[key] = name
        if self.active != (name, spec.weight):
            pipe.enable_lora()
            pipe.set_adapters([name], [spec.weight])
            self.active = (name, spec.weight)

    @staticmethod
    def _load(pipe: Any, spec: LoraSpec, name: str) -> None:
        from server.engines.base import EngineUnavailable
        from server.engines.diffusers.errors import one_line

        try:
            pipe.load_lora_weights(str(spec.path), adapter_name=name)
            if getattr(pipe, "transformer_2", None) is not None:  # the low-noise expert: its own LoRA, or the same
                pipe.load_lora_weights(str(spec.path_2 or spec.path), adapter_name=name, load_into_transformer_2=True)
        except Exception as exc:  # a LoRA for another model, or a damaged file: named, never a traceback
            raise EngineUnavailable("diffusers", f"LoRA {spec.path} cannot be loaded: {one_line(exc)}") from None
