"""Takes: a result plus the recipe that made it, and what a re-render of it may change.

A take is written three times, the same dictionary each time: into the new media's tags (key
``take``, JSON text), into the new clip's ``metadata.shotforge.take`` in ``result.otio``, and
into the server's job store. Its recipe is everything needed to make it again: the request
timeline (OTIO JSON, zlib-compressed and base64-encoded so a long timeline stays a short tag),
engine, model and the model's revision, prompt, negative prompt, seed, steps, guidance, LoRA
and the ShotForge version. Its *slot* is where it sits: video track, record frame, frame count,
timeline rate and picture size. A re-render or a conform makes a new take of exactly that slot;
overrides that would move or resize it are refused.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from typing import Any

from otio_tools.errors import RequestError
from otio_tools.request import INPAINT_KEYS, _plain  # _plain: OTIO's metadata containers as plain dicts and lists

#: the media tag and the clip metadata key (under ``metadata.shotforge``) a take is written to
TAKE_KEY = "take"
TAKE_VERSION = 1

#: what a re-render may change; everything else comes from the take's recipe
OVERRIDES = ("seed", "prompt", "negative_prompt", "engine", "model", "steps", "guidance")
#: request keys that decide the slot: a re-render changing one would not fill the same slot
SLOT_KEYS = ("track", "frame", "range", "side", "frames", "canvas", "placement", "record_frame", "rate",
             "size", "width", "height", "drop_frame", "reference_frame", "operation")
RERENDER_ENGINES = ("classical", "diffusers")


@dataclass(frozen=True)
class Slot:
    """Where a take sits: 0-based video track, first record frame, frames, timeline rate, picture size."""

    track: int
    record_frame: int
    frames: int
    rate: Fraction
    width: int
    height: int

    def to_dict(self) -> dict:
        return {"track": self.track, "record_frame": self.record_frame, "frames": self.frames,
                "rate": f"{self.rate.numerator}/{self.rate.denominator}", "width": self.width, "height": self.height}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Slot":
        num, _, den = str(data["rate"]).partition("/")
        return cls(int(data["track"]), int(data["record_frame"]), int(data["frames"]),
                   Fraction(int(num), int(den or 1)), int(data["width"]), int(data["height"]))

    def describe(self) -> str:
        rate = self.rate.numerator if self.rate.denominator == 1 else float(self.rate)
        return (f"video track {self.track} (V{self.track + 1}), record frames {self.record_frame}-"
                f"{self.record_frame + self.frames - 1} ({self.frames} frames at {rate:g} fps, "
                f"{self.width}x{self.height})")

    def differences(self, other: "Slot") -> list[str]:
        """What differs between two slots, in words ('frames 12, not 10'); empty when they are the same."""
        out = []
        for name in ("track", "record_frame", "frames", "rate", "width", "height"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine != theirs:
                out.append(f"{name.replace('_', ' ')} {theirs}, not {mine}")
        return out


@dataclass(frozen=True)
class Take:
    """One take: its id, slot and recipe (see the module doc)."""

    id: str
    operation: str
    slot: Slot
    engine: str
    model: str  # the model folder's name; "classical" for the classical engine
    model_revision: str  # a Hugging Face snapshot revision, a model folder's fingerprint, or the ShotForge version
    request: str  # the request timeline, OTIO JSON, packed (see :func:`pack`)
    shotforge_version: str
    prompt: str = ""
    negative_prompt: str = ""
    seed: int = 0
    steps: int | None = None
    guidance: float | None = None
    lora: str | None = None
    placeholder: bool = False  # a stand-in (the classical slate) to re-render with a real model
    timeline: str = ""  # the request timeline's name: how an editor finds the takes of a timeline
    media_start_timecode: str = ""  # the take media's first frame
    media_frames: int = 0
    #: inpaint: what was replaced, ``region`` (and ``region_end``) or ``mask`` with its ``mask_sha256``
    inpaint: dict | None = None
    extra: dict = field(default_factory=dict)  # recipe keys a newer ShotForge wrote, kept as they are

    def to_dict(self) -> dict:
        data = {k: v for k, v in asdict(self).items() if k not in ("slot", "extra")
                and not (k == "inpaint" and v is None)}
        return {"version": TAKE_VERSION, **self.extra, **data, "slot": self.slot.to_dict()}

    def to_tag(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "take") -> "Take":
        """A take from its dictionary; a :class:`RequestError` (``bad_take``) says what is wrong with it."""
        try:
            data = dict(data)
            data.pop("version", None)
            slot = Slot.from_dict(data.pop("slot"))
            known = {f for f in cls.__dataclass_fields__ if f not in ("slot", "extra")}
            values = {k: v for k, v in data.items() if k in known}
            take = cls(slot=slot, extra={k: v for k, v in data.items() if k not in known}, **values)
        except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
            raise RequestError("bad_take", f"{where} is not a readable ShotForge take: {type(exc).__name__} "
                                           f"{exc}") from None
        for name in ("id", "operation", "engine", "request"):
            if not isinstance(getattr(take, name), str) or not getattr(take, name):
                raise RequestError("bad_take", f"{where} is not a readable ShotForge take: it has no {name}")
        return take

    def request_text(self) -> str:
        """The request timeline the take was made from, as OTIO JSON text."""
        return unpack(self.request, f"take {self.id}")

    def request_document(self) -> tuple[dict, dict]:
        """(the request timeline as JSON data, its ``metadata.shotforge``): what the take was made
        from; a recipe without its request keys is refused (``bad_take``)."""
        try:
            document = json.loads(self.request_text())
            recipe = document["metadata"]["shotforge"]
        except (ValueError, KeyError, TypeError):
            raise RequestError("bad_take", f"take {self.id}: its request has no metadata.shotforge") from None
        if not isinstance(recipe, dict):
            raise RequestError("bad_take", f"take {self.id}: its request's metadata.shotforge is not a mapping")
        return document, recipe

    def summary(self) -> str:
        model = f" {self.model}" if self.model and self.model != self.engine else ""
        return f"take {self.id}: {self.engine}{model}, seed {self.seed}, {self.slot.describe()}"


def pack(text: str) -> str:
    """Text made short for a media tag: zlib, then base64."""
    return base64.b64encode(zlib.compress(text.encode("utf-8"), 9)).decode("ascii")


def unpack(packed: str, where: str = "take") -> str:
    try:
        return zlib.decompress(base64.b64decode(packed.encode("ascii"), validate=True)).decode("utf-8")
    except (binascii.Error, zlib.error, UnicodeError, ValueError):
        raise RequestError("bad_take", f"{where}: its request cannot be read (not zlib+base64 OTIO JSON)") from None


def take_from_tags(tags: Mapping[str, str], where: str = "media") -> Take | None:
    """The take a media file's tags carry, or None when they carry none. A take tag that cannot be
    read is an error (naming ``where``), not silently nothing."""
    text = tags.get(TAKE_KEY)
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        raise RequestError("bad_take", f"{where}: its '{TAKE_KEY}' tag is not JSON") from None
    if not isinstance(data, dict):
        raise RequestError("bad_take", f"{where}: its '{TAKE_KEY}' tag is not a take")
    return Take.from_dict(data, where)


def take_from_metadata(metadata: Mapping[str, Any], where: str = "clip") -> Take | None:
    """The take in a clip's ``metadata.shotforge.take``, or None."""
    shotforge = metadata.get("shotforge") if hasattr(metadata, "get") else None
    data = shotforge.get(TAKE_KEY) if hasattr(shotforge, "get") else None
    if data is None:
        return None
    return Take.from_dict(_plain(data), where)


def check_overrides(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The overrides a re-render may apply, checked; refused (naming the key) when one would change
    the slot or is not a recipe value at all. ``None`` values mean 'as the take was made'."""
    out = {}
    for key, value in overrides.items():
        if key in SLOT_KEYS:
            raise RequestError("slot_change", f"{key} cannot be changed by a re-render: a new take fills exactly "
                                              "the same slot (track, record frame, frame count, rate and size)")
        if key in INPAINT_KEYS:  # what an inpaint replaced: a new region is a new request
            raise RequestError("bad_request", f"{key} cannot be changed by a re-render: a new take of an inpaint "
                                              "replaces the same pixels; send a new inpaint request instead")
        if key not in OVERRIDES:
            raise RequestError("bad_request", f"{key!r} is not something a re-render can change; it can change "
                                              f"{', '.join(OVERRIDES)}")
        if value is not None:
            out[key] = value
    if "engine" in out and out["engine"] not in RERENDER_ENGINES:
        raise RequestError("bad_request", f"engine {out['engine']!r} is not one of {', '.join(RERENDER_ENGINES)}")
    return out


def rerender_request(take: Take, overrides: Mapping[str, Any] | None = None) -> str:
    """The request text for a new take of ``take``'s slot: its recipe, with ``overrides`` applied.

    The engine and model are the ones the take was really made with (an ``auto`` request is
    pinned to what it chose), so a re-render changing only the seed changes only the seed."""
    changes = check_overrides(overrides or {})
    document, meta = take.request_document()
    engine = changes.pop("engine", take.engine)
    meta["engine"] = engine
    model = changes.pop("model", take.model if engine == take.engine else None)
    meta.pop("model", None)
    if engine == "diffusers" and model:
        meta["model"] = model
    elif engine == "classical" and model not in (None, "", "classical"):
        raise RequestError("bad_request", f"the classical engine has no models; model {model!r} needs engine "
                                          "diffusers")
    if engine == "classical":  # it has neither steps nor guidance
        meta.pop("steps", None)
        meta.pop("guidance", None)
    meta.update(changes)
    if take.inpaint and take.inpaint.get("mask_sha256"):  # the same matte, or the new take is refused
        meta["mask_sha256"] = take.inpaint["mask_sha256"]
    return json.dumps(document)


def new_slot_matches(take: Take, slot: Slot) -> None:
    """Refuse a new take that would not fill ``take``'s slot exactly (``slot_change``)."""
    differences = take.slot.differences(slot)
    if differences:
        raise RequestError("slot_change", f"a new take of {take.id} would not fill its slot ({take.slot.describe()}):"
                                          f" it would have {', '.join(differences)}; the timeline or its media "
                                          "changed since the take was made")


def plan_slot(plan: Any) -> Slot:
    """The slot a plan's new media fills (:class:`otio_tools.plan.Plan`): its placement, rate and size."""
    marker = "\0new media"
    made = next(p for p in plan.placements(marker) if p.media == marker)
    return Slot(made.track, made.record_frame, made.frames, plan.rate, *plan.size)
