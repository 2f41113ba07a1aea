"""Read and validate a ShotForge request: an OTIO timeline with ``metadata["shotforge"]``.

The contract is in DESIGN.md. Validation here covers what can be checked from the
metadata alone; whether the named frame really holds a clip or a gap is the planner's job
(it needs the tracks), and whether the media exists is checked there too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import opentimelineio as otio

from otio_tools.errors import RequestError

OPERATIONS = ("extend", "fill_gap", "outpaint", "generate")
ENGINES = ("auto", "classical", "diffusers")
#: Where a result goes (otio_tools.placement); "auto" for every operation unless the request says otherwise.
PLACEMENTS = ("auto", "above", "overwrite")
SIDES = ("head", "tail")

# Sane upper bounds: a request for millions of frames is refused, not attempted.
MAX_FRAMES = 10 * 60 * 60  # ten minutes at 60 fps
MAX_CANVAS_SIDE = 8192


@dataclass(frozen=True)
class Request:
    """The operation asked for, as validated values. Frames are timeline frames."""

    operation: str
    track: int
    frame: int | None = None
    range: tuple[int, int] | None = None
    side: str | None = None
    frames: int | None = None
    canvas: tuple[int, int] | None = None
    prompt: str = ""
    negative_prompt: str = ""
    seed: int = 0
    reference_frame: int | None = None
    engine: str = "auto"
    placement: str = "auto"
    drop_frame: bool | None = None  # how the timeline counts timecode at 29.97/59.94, when the editor says
    extra: dict[str, Any] = field(default_factory=dict)  # engine options (steps, guidance, …)

    def describe(self) -> str:
        """A short human description, for logs and progress lines."""
        where = f"frame {self.frame}" if self.range is None else f"frames {self.range[0]}-{self.range[1]}"
        what = self.operation if self.side is None else f"extend {self.side} by {self.frames}"
        return f"{what} at {where} on video track {self.track}"


def read_request(path: str) -> tuple[otio.schema.Timeline, Request]:
    """Read a request file (``.otio``) and validate its ShotForge metadata."""
    try:
        timeline = otio.adapters.read_from_file(str(path))
    except FileNotFoundError:
        raise RequestError("request_missing", f"request file {path} does not exist") from None
    except Exception as exc:  # OTIO raises many types for a malformed file
        raise RequestError("malformed_otio", f"{path} is not a readable OTIO file: {exc}") from None
    return timeline_and_request(timeline, source=str(path))


def parse_request_json(text: str | bytes, source: str = "request body") -> tuple[otio.schema.Timeline, Request]:
    """Parse a request sent as OTIO JSON text (the HTTP body)."""
    try:
        json.loads(text)  # a clearer message for plain JSON errors than OTIO's
        timeline = otio.adapters.read_from_string(text.decode() if isinstance(text, bytes) else text, "otio_json")
    except Exception as exc:
        raise RequestError("malformed_otio", f"{source} is not valid OTIO JSON: {exc}") from None
    return timeline_and_request(timeline, source=source)


def timeline_and_request(obj: Any, source: str = "request") -> tuple[otio.schema.Timeline, Request]:
    if not isinstance(obj, otio.schema.Timeline):
        raise RequestError("malformed_otio", f"{source} holds a {type(obj).__name__}, not a Timeline")
    return obj, request_from_timeline(obj)


def request_from_timeline(timeline: otio.schema.Timeline) -> Request:
    """Validate ``timeline.metadata["shotforge"]`` and return it as a :class:`Request`."""
    meta = timeline.metadata.get("shotforge")
    if meta is None:
        raise RequestError("not_a_request", "the timeline has no metadata.shotforge: nothing to do")
    meta = _plain(meta)
    if not isinstance(meta, dict):
        raise RequestError("bad_request", "metadata.shotforge must be an object")
    version = meta.get("version", 1)
    if version != 1:
        raise RequestError("bad_request", f"metadata.shotforge.version {version!r} is not supported (expected 1)")
    operation = meta.get("operation")
    if operation not in OPERATIONS:
        raise RequestError("bad_request", f"operation {operation!r} is not one of {', '.join(OPERATIONS)}")

    track = _int(meta, "track", default=0, minimum=0)
    values: dict[str, Any] = {"operation": operation, "track": track}
    if operation == "generate":
        values["range"] = _range(meta)
    else:
        values["frame"] = _int(meta, "frame", minimum=0)
    if operation == "extend":
        side = meta.get("side", "tail")
        if side not in SIDES:
            raise RequestError("bad_request", f"side {side!r} must be 'head' or 'tail'")
        values["side"] = side
        values["frames"] = _int(meta, "frames", minimum=1, maximum=MAX_FRAMES)
    if operation == "outpaint" or (operation == "generate" and meta.get("canvas") is not None):
        values["canvas"] = _canvas(meta)

    values["prompt"] = _str(meta, "prompt")
    values["negative_prompt"] = _str(meta, "negative_prompt")
    values["seed"] = _int(meta, "seed", default=0, minimum=0, maximum=2**32 - 1)
    if meta.get("reference_frame") is not None:
        values["reference_frame"] = _int(meta, "reference_frame", minimum=0)
    engine = meta.get("engine", "auto") or "auto"
    if engine not in ENGINES:
        raise RequestError("bad_request", f"engine {engine!r} is not one of {', '.join(ENGINES)}")
    values["engine"] = engine
    placement = meta.get("placement") or "auto"
    if placement not in PLACEMENTS:
        raise RequestError("bad_request", f"placement {placement!r} must be 'auto', 'above' or 'overwrite'")
    values["placement"] = placement
    drop_frame = meta.get("drop_frame")
    if drop_frame is not None and not isinstance(drop_frame, bool):
        raise RequestError("bad_request", f"metadata.shotforge.drop_frame must be true or false, not {drop_frame!r}")
    values["drop_frame"] = drop_frame
    known = {"version", "operation", "track", "frame", "range", "side", "frames", "canvas", "prompt",
             "negative_prompt", "seed", "reference_frame", "engine", "placement", "drop_frame"}
    values["extra"] = {k: v for k, v in meta.items() if k not in known}
    return Request(**values)


def _plain(value: Any) -> Any:
    """OTIO hands metadata back as AnyDictionary/AnyVector; make it plain Python."""
    if isinstance(value, (dict, otio._otio.AnyDictionary)):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, otio._otio.AnyVector)):
        return [_plain(v) for v in value]
    return value


def _int(meta: dict, key: str, *, default: int | None = None, minimum: int | None = None,
         maximum: int | None = None) -> int:
    value = meta.get(key, default)
    if value is None:
        raise RequestError("bad_request", f"metadata.shotforge.{key} is required for {meta.get('operation')}")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise RequestError("bad_request", f"metadata.shotforge.{key} must be a whole number, not {value!r}")
    if minimum is not None and value < minimum:
        raise RequestError("bad_request", f"metadata.shotforge.{key} is {value}; it must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise RequestError("too_large", f"metadata.shotforge.{key} is {value}; the most allowed is {maximum}")
    return value


def _str(meta: dict, key: str) -> str:
    value = meta.get(key) or ""
    if not isinstance(value, str):
        raise RequestError("bad_request", f"metadata.shotforge.{key} must be text")
    return value


def _range(meta: dict) -> tuple[int, int]:
    value = meta.get("range")
    if not isinstance(value, list) or len(value) != 2:
        raise RequestError("bad_request", "metadata.shotforge.range must be [in, out) timeline frames for generate")
    first, last = (_int({"range": v}, "range", minimum=0) for v in value)
    if last <= first:
        raise RequestError("bad_request", f"range [{first}, {last}) is empty: out must be after in")
    if last - first > MAX_FRAMES:
        raise RequestError("too_large", f"range [{first}, {last}) is {last - first} frames; the most allowed is {MAX_FRAMES}")
    return first, last


def _canvas(meta: dict) -> tuple[int, int]:
    value = meta.get("canvas")
    if not isinstance(value, list) or len(value) != 2:
        raise RequestError("bad_request", "metadata.shotforge.canvas must be [width, height] in pixels")
    width, height = (_int({"canvas": v}, "canvas", minimum=16, maximum=MAX_CANVAS_SIDE) for v in value)
    if width % 2 or height % 2:
        raise RequestError("bad_request", f"canvas {width}x{height} must have even width and height (4:2:2 video)")
    return width, height
