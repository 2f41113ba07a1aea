"""Read and validate a ShotForge request: an OTIO timeline with ``metadata["shotforge"]``.

The contract is in DESIGN.md. Validation here covers what the metadata and the timeline's extent
can tell: every key known (a typo is refused with the key it most likely meant, not ignored),
every value of the right kind, a reference frame inside the timeline. Whether the named frame
really holds a clip or a gap is the planner's job (it needs the tracks), and whether the media
exists is checked there too.
"""

from __future__ import annotations

import difflib
import json
import math
import os
from dataclasses import dataclass, field
from typing import Any

import opentimelineio as otio

from otio_tools.errors import RequestError
from otio_tools.timeline import rate_of, timeline_length

OPERATIONS = ("extend", "fill_gap", "outpaint", "generate", "inpaint")
ENGINES = ("auto", "classical", "diffusers")
#: Where a result goes (otio_tools.placement); "auto" for every operation unless the request says otherwise.
PLACEMENTS = ("auto", "above", "overwrite")
SIDES = ("head", "tail")

#: The request's own keys (DESIGN.md "The request"), as both plugins send them.
REQUEST_KEYS = ("version", "operation", "track", "frame", "range", "side", "frames", "canvas", "region",
                "region_end", "mask", "mask_sha256", "prompt", "negative_prompt", "seed", "reference_frame", "engine",
                "placement", "drop_frame")
#: Inpaint's own keys: refused on the other operations (they would be silently ignored there).
INPAINT_KEYS = ("region", "region_end", "mask", "mask_sha256")
#: Engine options carried as metadata extras: read by server.engines.diffusers (steps, guidance,
#: model) and sent by the Resolve plugin (reference_image, a still used as image prompt).
ENGINE_OPTIONS = ("steps", "guidance", "guidance_2", "model", "lora", "reference_image")
KNOWN_KEYS = REQUEST_KEYS + ENGINE_OPTIONS

# Sane upper bounds: a request for millions of frames is refused, not attempted.
MAX_FRAMES = 10 * 60 * 60  # ten minutes at 60 fps
MIN_CANVAS_SIDE = 16
MAX_CANVAS_SIDE = 8192
MAX_REGION_SIDE = 65536  # past any picture an editor has: a region's numbers are checked against the clip later
MAX_METADATA_DEPTH = 16  # metadata.shotforge is flat; deeper nesting is a hostile or broken request


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
    region: tuple[int, int, int, int] | None = None  # inpaint: [x, y, w, h] in the clip's source pixels
    region_end: tuple[int, int, int, int] | None = None  # inpaint: the region at the clip's last frame
    mask: str | None = None  # inpaint: a matte's path as written (a still or a video, white = replace)
    mask_sha256: str | None = None  # inpaint re-render: the matte must still be the file the take used
    prompt: str = ""
    negative_prompt: str = ""
    seed: int = 0
    reference_frame: int | None = None
    engine: str = "auto"
    placement: str = "auto"
    drop_frame: bool | None = None  # how the timeline counts timecode at 29.97/59.94/119.88, when the editor says
    extra: dict[str, Any] = field(default_factory=dict)  # engine options (steps, guidance, …)

    def describe(self) -> str:
        """A short human description, for logs and progress lines."""
        where = f"frame {self.frame}" if self.range is None else f"frames {self.range[0]}-{self.range[1]}"
        what = self.operation if self.side is None else f"extend {self.side} by {self.frames}"
        return f"{what} at {where} on video track {self.track}"


def read_request(path: str) -> tuple[otio.schema.Timeline, Request]:
    """Read a request file (``.otio``, or any editor export OTIO reads) and validate its ShotForge metadata."""
    return timeline_and_request(read_timeline(path, "request file"), source=str(path))


def read_timeline(path: str, what: str = "timeline file") -> Any:
    """Read a timeline file with whichever installed OTIO adapter reads its format; a
    :class:`RequestError` says why not (``what`` names the file's role in the message)."""
    path = str(path)
    if os.path.isdir(path):
        raise RequestError("malformed_otio", f"{path} is a folder, not a {what}")
    try:
        timeline = otio.adapters.read_from_file(path)
    except FileNotFoundError:
        raise RequestError("request_missing", f"{what} {path} does not exist") from None
    except OSError as exc:
        raise RequestError("request_missing", f"{what} {path} cannot be read: {exc.strerror or exc}") from None
    except otio.exceptions.NoKnownAdapterForExtensionError:
        suffix = os.path.splitext(path)[1] or "(none)"
        raise RequestError("malformed_otio", f"{path} is not a timeline OTIO can read: no adapter for the file "
                                             f"extension {suffix} (a request is an .otio file)") from None
    except Exception as exc:  # OTIO raises many types for a malformed file
        raise RequestError("malformed_otio", f"{path} is not a readable OTIO file: {_reason(exc, path)}") from None
    return timeline


def parse_request_json(text: str | bytes, source: str = "request body") -> tuple[otio.schema.Timeline, Request]:
    """Parse a request sent as OTIO JSON text (the HTTP body)."""
    try:
        json.loads(text)  # a clearer message for plain JSON errors than OTIO's
        timeline = otio.adapters.read_from_string(text.decode() if isinstance(text, bytes) else text, "otio_json")
    except Exception as exc:
        raise RequestError("malformed_otio", f"{source} is not valid OTIO JSON: {_reason(exc, source)}") from None
    return timeline_and_request(timeline, source=source)


def _reason(exc: Exception, path: str) -> str:
    """The library's explanation without the file name the message already starts with."""
    text = str(exc)
    for shown in (f" on file '{path}'", f" '{path}'", f" \"{path}\"", f" {path}", path):
        text = text.replace(shown, "")
    text = text.replace("JSON parse error while reading: JSON parse error on input string: ", "")
    return text.strip(" :") or type(exc).__name__


def timeline_and_request(obj: Any, source: str = "request") -> tuple[otio.schema.Timeline, Request]:
    if not isinstance(obj, otio.schema.Timeline):
        raise RequestError("malformed_otio",
                           f"{source} holds no OTIO timeline (its top object is {type(obj).__name__})")
    return obj, request_from_timeline(obj)


def request_from_timeline(timeline: otio.schema.Timeline) -> Request:
    """Validate ``timeline.metadata["shotforge"]`` and return it as a :class:`Request`."""
    meta = timeline.metadata.get("shotforge")
    if meta is None:
        raise RequestError("not_a_request", "the timeline has no metadata.shotforge: nothing to do")
    meta = _plain(meta)
    if not isinstance(meta, dict):
        raise RequestError("bad_request", "metadata.shotforge must be an object")
    for key in meta:
        if key not in KNOWN_KEYS:
            raise RequestError("bad_request", f"unknown key {key!r} in metadata.shotforge: {_suggest(key, KNOWN_KEYS)}")
    version = meta.get("version", 1)
    if version != 1 or isinstance(version, bool):
        raise RequestError("bad_request", f"metadata.shotforge.version {version!r} is not supported (expected 1)")
    operation = meta.get("operation")
    if operation is None:
        raise RequestError("bad_request", f"metadata.shotforge has no operation: one of {', '.join(OPERATIONS)}")
    if operation not in OPERATIONS:
        raise RequestError("bad_request", f"metadata.shotforge.operation {operation!r} is not one of "
                                          f"{', '.join(OPERATIONS)}{_did_you_mean(operation, OPERATIONS)}")

    track = _int(meta, "track", default=0, minimum=0)
    values: dict[str, Any] = {"operation": operation, "track": track}
    if operation == "generate":
        values["range"] = _range(meta)
    else:
        values["frame"] = _int(meta, "frame", minimum=0)
    if operation == "extend":
        side = meta.get("side")
        if side is None:
            raise RequestError("bad_request", "extend needs side: 'head' or 'tail'")
        if side not in SIDES:
            raise RequestError("bad_request", f"metadata.shotforge.side {side!r} must be 'head' or 'tail'")
        values["side"] = side
        values["frames"] = _int(meta, "frames", minimum=1, maximum=MAX_FRAMES)
    if operation == "outpaint" or (operation == "generate" and meta.get("canvas") is not None):
        values["canvas"] = _canvas(meta)
    if operation == "inpaint":
        values.update(_inpaint_area(meta))
    else:
        stray = [key for key in INPAINT_KEYS if meta.get(key) is not None]
        if stray:
            raise RequestError("bad_request", f"metadata.shotforge.{stray[0]} is for inpaint only, not {operation}")

    values["prompt"] = _str(meta, "prompt")
    values["negative_prompt"] = _str(meta, "negative_prompt")
    values["seed"] = _int(meta, "seed", default=0, minimum=0, maximum=2**32 - 1)
    if meta.get("reference_frame") is not None:
        values["reference_frame"] = _int(meta, "reference_frame", minimum=0)
    engine = meta.get("engine", "auto") or "auto"
    if engine not in ENGINES:
        raise RequestError("bad_request", f"metadata.shotforge.engine {engine!r} is not one of "
                                          f"{', '.join(ENGINES)}{_did_you_mean(engine, ENGINES)}")
    values["engine"] = engine
    placement = meta.get("placement") or "auto"
    if placement not in PLACEMENTS:
        raise RequestError("bad_request", f"metadata.shotforge.placement {placement!r} must be 'auto', 'above' or "
                                          f"'overwrite'{_did_you_mean(placement, PLACEMENTS)}")
    values["placement"] = placement
    drop_frame = meta.get("drop_frame")
    if drop_frame is not None and not isinstance(drop_frame, bool):
        raise RequestError("bad_request", f"metadata.shotforge.drop_frame must be true or false, not {drop_frame!r}")
    values["drop_frame"] = drop_frame
    values["extra"] = {k: v for k, v in meta.items() if k in ENGINE_OPTIONS}
    request = Request(**values)
    if request.reference_frame is not None:
        _check_inside_timeline(timeline, "reference_frame", request.reference_frame)
    return request


def _check_inside_timeline(timeline: otio.schema.Timeline, key: str, frame: int) -> None:
    """Refuse a frame past the timeline's last frame: an image prompt is a picture on the timeline."""
    length = timeline_length(timeline, rate_of(timeline))
    if frame >= length:
        extent = f"frames 0-{length - 1}" if length else "no frames"
        raise RequestError("outside_timeline", f"metadata.shotforge.{key} {frame} is outside the timeline: it is "
                                               f"{length} frames long ({extent})")


def _suggest(word: str, choices: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(str(word).lower(), choices, n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else f"the keys are {', '.join(choices)}"


def _did_you_mean(word: Any, choices: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(str(word).lower(), choices, n=1, cutoff=0.6) if isinstance(word, str) else []
    return f": did you mean {close[0]!r}?" if close else ""


def _plain(value: Any, depth: int = 0) -> Any:
    """OTIO hands metadata back as AnyDictionary/AnyVector; make it plain Python."""
    if depth > MAX_METADATA_DEPTH:
        raise RequestError("bad_request", f"metadata.shotforge is nested more than {MAX_METADATA_DEPTH} levels deep")
    if isinstance(value, (dict, otio._otio.AnyDictionary)):
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, otio._otio.AnyVector)):
        return [_plain(v, depth + 1) for v in value]
    return value


def _whole(value: Any) -> int | None:
    """``value`` as a whole number (7 and 7.0), else None (True, 7.5, NaN, "7")."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def _int(meta: dict, key: str, *, default: int | None = None, minimum: int | None = None,
         maximum: int | None = None) -> int:
    value = meta.get(key, default)
    if value is None:
        raise RequestError("bad_request", f"metadata.shotforge.{key} is required for {meta.get('operation')}")
    number = _whole(value)
    if number is None:
        raise RequestError("bad_request", f"metadata.shotforge.{key} must be a whole number, not {value!r}")
    if minimum is not None and number < minimum:
        raise RequestError("bad_request", f"metadata.shotforge.{key} is {number}; it must be at least {minimum}")
    if maximum is not None and number > maximum:
        raise RequestError("too_large", f"metadata.shotforge.{key} is {number}; the most allowed is {maximum}")
    return number


def _str(meta: dict, key: str) -> str:
    value = meta.get(key) or ""
    if not isinstance(value, str):
        raise RequestError("bad_request", f"metadata.shotforge.{key} must be text, not {type(value).__name__}")
    return value


def _range(meta: dict) -> tuple[int, int]:
    value = meta.get("range")
    if not isinstance(value, list) or len(value) != 2:
        raise RequestError("bad_request", "metadata.shotforge.range must be [in, out) timeline frames for generate")
    first, last = (_int({"range": v}, "range", minimum=0) for v in value)
    if last <= first:
        raise RequestError("bad_request", f"metadata.shotforge.range [{first}, {last}) is empty: out must be after in")
    if last - first > MAX_FRAMES:
        raise RequestError("too_large", f"metadata.shotforge.range [{first}, {last}) is {last - first} frames; "
                                        f"the most allowed is {MAX_FRAMES}")
    return first, last


def _inpaint_area(meta: dict) -> dict[str, Any]:
    """Inpaint's region (and region_end) or mask: exactly one of region and mask. Whether a region
    lies inside the picture is the planner's to check (the clip's media tells its size)."""
    region, mask = meta.get("region"), meta.get("mask")
    if region is not None and mask is not None:
        raise RequestError("bad_request", "metadata.shotforge has both region and mask: inpaint takes one of them "
                                          "(a region [x, y, w, h] or the path of a matte)")
    if region is None and mask is None:
        raise RequestError("bad_request", "inpaint needs region: [x, y, w, h] in the clip's source pixels, or mask: "
                                          "the path of a matte (white = replace)")
    if mask is not None:
        if meta.get("region_end") is not None:
            raise RequestError("bad_request", "metadata.shotforge.region_end moves a region; a mask is a matte that "
                                              "moves by itself: send one of them")
        if not isinstance(mask, str) or not mask.strip():
            raise RequestError("bad_request", f"metadata.shotforge.mask must be the path of a matte file, not "
                                              f"{mask!r}")
        digest = meta.get("mask_sha256")
        if digest is not None and not (isinstance(digest, str) and len(digest) == 64
                                       and all(c in "0123456789abcdef" for c in digest)):
            raise RequestError("bad_request", f"metadata.shotforge.mask_sha256 must be 64 lowercase hex digits, "
                                              f"not {digest!r}")
        return {"mask": mask, "mask_sha256": digest}
    if meta.get("mask_sha256") is not None:
        raise RequestError("bad_request", "metadata.shotforge.mask_sha256 names a matte's content; this inpaint "
                                          "has a region, not a mask")
    values: dict[str, Any] = {"region": _region(meta, "region")}
    if meta.get("region_end") is not None:
        values["region_end"] = _region(meta, "region_end")
    return values


def _region(meta: dict, key: str) -> tuple[int, int, int, int]:
    value = meta.get(key)
    shape = f"metadata.shotforge.{key} must be [x, y, w, h]: whole numbers of the clip's source pixels"
    if not isinstance(value, list) or len(value) != 4:
        raise RequestError("bad_request", f"{shape}, not {value!r}")
    numbers = [_whole(v) for v in value]
    if any(n is None for n in numbers):
        raise RequestError("bad_request", f"{shape}, not {value!r}")
    x, y, w, h = numbers
    shown = f"metadata.shotforge.{key} [{x}, {y}, {w}, {h}]"
    if x < 0 or y < 0:
        raise RequestError("bad_request", f"{shown} starts outside the picture: x and y count from its top-left "
                                          "corner, 0 or more")
    if w < 1 or h < 1:
        raise RequestError("bad_request", f"{shown} has zero size: its width and height must be at least 1 pixel")
    if max(x + w, y + h) > MAX_REGION_SIDE:
        raise RequestError("too_large", f"{shown} reaches past {MAX_REGION_SIDE} pixels: no picture is that large")
    return x, y, w, h


def _canvas(meta: dict) -> tuple[int, int]:
    value = meta.get("canvas")
    rule = (f"each must be an even whole number of pixels from {MIN_CANVAS_SIDE} to {MAX_CANVAS_SIDE} "
            "(4:2:2 video)")
    if not isinstance(value, list) or len(value) != 2:
        raise RequestError("bad_request", f"metadata.shotforge.canvas must be [width, height] in pixels, not {value!r}")
    width, height = (_whole(v) for v in value)
    if width is None or height is None:
        raise RequestError("bad_request", f"metadata.shotforge.canvas [{value[0]!r}, {value[1]!r}] is not a "
                                          f"picture size: width and height {rule}")
    shown = f"metadata.shotforge.canvas [{width}, {height}]"
    sizes = f"width {width} and height {height}"
    if max(width, height) > MAX_CANVAS_SIDE:
        raise RequestError("too_large", f"{shown} is too large: {sizes}; {rule}")
    if min(width, height) < MIN_CANVAS_SIDE or width % 2 or height % 2:
        raise RequestError("bad_request", f"{shown} is not a picture size ShotForge makes: {sizes}; {rule}")
    return width, height
