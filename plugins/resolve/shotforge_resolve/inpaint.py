"""Inpaint's region as the editor gives it in the dialog: four numbers in the clip's source pixels
(x, y, width, height; optionally a second box at the clip's last frame, for a moving object), or
the path of a matte file (a still or a video, white = replace). Checked against the clip's source
resolution when Resolve tells it (the media pool item's "Resolution" property), so a box that does
not fit the picture is refused here, naming the clip, before anything is sent.
"""

import hashlib
import os
import re

from .errors import ContextError

INPAINT_WITH = ("region", "matte")


def source_size(clip):
    """(width, height) of the clip's source media from its "Resolution" property ("1920x1080"), or
    None when Resolve did not tell it."""
    found = re.match(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$", str(clip.get("resolution") or ""))
    return (int(found.group(1)), int(found.group(2))) if found else None


def _clip_name(clip):
    """The clip as a message names it: 'A003_C012'."""
    return "'{}'".format(clip.get("name") or "the clip")


def parse_box(value, what, clip):
    """[x, y, w, h] as whole numbers from "x, y, w, h" (commas or spaces) or a list of four numbers."""
    if isinstance(value, (list, tuple)):
        parts = list(value)
    else:
        parts = [part for part in re.split(r"[\s,;]+", str(value or "").strip()) if part]
    try:  # 640 or 640.0 (a Lua number through JSON), never 640.5
        box = [int(part) if isinstance(part, float) and part.is_integer() else int(str(part).strip())
               for part in parts]
    except ValueError:
        box = []
    if len(box) != 4:
        raise ContextError("The inpaint {} {!r} of {} must be four whole numbers: x, y, width, height, in the clip's "
                           "source pixels (for example 640, 360, 200, 120).".format(what, value, _clip_name(clip)))
    return box


def check_box(box, size, clip, what):
    """Refuse a box that is empty or leaves the clip's source picture (``size``: (w, h) or None)."""
    x, y, width, height = box
    name = _clip_name(clip)
    if width < 1 or height < 1:
        raise ContextError("The inpaint {} {} of {} has no area: width and height must be at least 1 pixel.".format(
            what, ", ".join(str(v) for v in box), name))
    if x < 0 or y < 0:
        raise ContextError("The inpaint {} {} starts outside {}: x and y count from its top left corner, "
                           "from 0.".format(what, ", ".join(str(v) for v in box), name))
    if size and (x + width > size[0] or y + height > size[1]):
        edge = "right" if x + width > size[0] else "bottom"
        raise ContextError("The inpaint {} {} runs past the {} edge of {}, whose source is {}x{}: x + width must be "
                           "at most {} and y + height at most {}.".format(
                               what, ", ".join(str(v) for v in box), edge, name, size[0], size[1], size[0], size[1]))
    return box


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def inpaint_fields(options, clip):
    """The request's ``region`` (and ``region_end``) or ``mask`` (and ``mask_sha256``) for the clip facts ``clip``
    (``context._clip_dict``), from the options ``inpaint_with`` ("region" | "matte"),
    ``inpaint_region``, ``inpaint_region_end`` (blank: the region stays put) and ``inpaint_mask``."""
    mode = options.get("inpaint_with") or "region"
    if mode not in INPAINT_WITH:
        raise ContextError("Inpaint with {!r} must be one of {}.".format(mode, ", ".join(INPAINT_WITH)))
    if mode == "matte":
        path = str(options.get("inpaint_mask") or "").strip()
        if not path:
            raise ContextError("Inpaint of {} with a matte needs the matte file's path (a still or a video, white "
                               "where the picture is replaced).".format(_clip_name(clip)))
        if not os.path.isfile(path):
            raise ContextError("The matte file {} for {} does not exist (or is not a file).".format(
                path, _clip_name(clip)))
        # the server refuses a re-render (New take) whose matte changed since: same pixels replaced
        return {"mask": os.path.abspath(path), "mask_sha256": file_sha256(path)}
    size = source_size(clip)
    fields = {"region": check_box(parse_box(options.get("inpaint_region"), "region", clip), size, clip, "region")}
    end = options.get("inpaint_region_end")
    if end not in (None, "") and not (isinstance(end, str) and not end.strip()):
        fields["region_end"] = check_box(parse_box(end, "region at the clip's last frame", clip), size, clip,
                                         "region at the clip's last frame")
    return fields


def describe(meta):
    """What the dialog's status line says of the region: " (region x, y, w, h moving to …)" or the matte."""
    if meta.get("mask"):
        return " (matte {})".format(os.path.basename(meta["mask"]))
    words = " (region {}".format(", ".join(str(v) for v in meta["region"]))
    if meta.get("region_end"):
        words += " moving to {}".format(", ".join(str(v) for v in meta["region_end"]))
    return words + ")"
