"""The strict part of the fake Resolve: which calls exist, with how many arguments, in which build.

* Only methods listed in ``shared/reference/resolve_api.tsv`` exist on the fake's API objects. Any
  other capitalised attribute, a call with a number of arguments the reference does not allow, or
  keyword arguments (Resolve's API takes none) raises :class:`ApiViolation` and is recorded in
  :data:`VIOLATIONS`, which the tests' fixture checks after every test. The reference is parsed at
  test time.
* Calls a build lacks (:data:`GATES`: ``Timeline.GetMarkInOut`` before 19.1,
  ``Timeline.GetSelectedClips`` before 21.0.4, ``resolve.EXPORT_OTIO`` before 18.5; and any
  ``"Class.Method"`` in the fake Resolve's ``lacks``, for calls whose first build the reference
  does not say, e.g. ``TimelineItem.SetName``, a "[README 2026-07]" row with no version) are
  missing from ``dir(obj)`` but, as on real
  Resolve where ``hasattr()`` is True for every name, reading the attribute still gives a
  callable; calling it returns None and is recorded as a violation (the script must probe with
  ``name in dir(obj)`` first).
* Media pool items and bins (the media side of the fake) live here too.
"""

from __future__ import annotations

import itertools
import os
import re
from fractions import Fraction
from pathlib import Path

REFERENCE = Path(os.environ.get("SHOTFORGE_SHARED", Path(__file__).resolve().parents[2] / "shared")) / \
    "reference" / "resolve_api.tsv"

#: Arguments the notes show as optional although the signature column lists them:
#: ``timeline.Export(path, resolve.EXPORT_OTIO)`` ("exportSubtype applies to some types (AAF/EDL)")
#: and ``timeline.AddTrack("video")`` (resolve_api_notes.md, "Re-import").
OPTIONAL_FROM_NOTES = {("Timeline", "Export"): 2, ("Timeline", "AddTrack"): 1}

#: The first build that has a call (resolve_api.tsv notes: "new in 19.1", "Resolve 21.0.4+").
GATES = {
    ("Timeline", "GetMarkInOut"): (19, 1), ("Timeline", "SetMarkInOut"): (19, 1),
    ("Timeline", "ClearMarkInOut"): (19, 1), ("MediaPoolItem", "GetMarkInOut"): (19, 1),
    ("Timeline", "GetSelectedClips"): (21, 0, 4),
    ("Resolve", "EXPORT_OTIO"): (18, 5),  # OTIO export/import arrived with 18.5 (resolve_api_notes.md)
}

VIOLATIONS: list[str] = []
CALLS: list[tuple[str, str, tuple]] = []


class ApiViolation(AssertionError):
    """The script used something the Resolve API reference does not document."""


def _split_top(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        if char in "[{(":
            depth += 1
        elif char in "]})":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    if current.strip():
        parts.append(current.strip())
    return parts


def _arity(args: str) -> tuple[int, int]:
    """(fewest, most) positional arguments for one signature cell of the reference."""
    args = args.strip()
    if not args:
        return 0, 0
    if ") or " in args:  # "a, b) or SetMetadata(dict": two call forms
        forms = [form.split("(")[-1] for form in args.split(") or ")]
        counts = [_arity(form) for form in forms]
        return min(c[0] for c in counts), max(c[1] for c in counts)
    params = _split_top(args)
    required = [p for p in params if "=" not in p]
    return len(required), len(params)


def load_reference(path: Path = REFERENCE) -> tuple[dict[str, dict[str, tuple[int, int]]], set[str]]:
    """{class: {method: (min, max)}} and the constants (resolve.EXPORT_*) named in the notes column."""
    api: dict[str, dict[str, tuple[int, int]]] = {}
    constants: set[str] = set()
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    assert header[:3] == ["class", "method", "args"], header
    for line in lines[1:]:
        if not line.strip():
            continue
        cells = (line.split("\t") + [""] * 5)[:5]
        cls, method, args, _returns, note = cells
        low, high = _arity(args)
        low = min(low, OPTIONAL_FROM_NOTES.get((cls, method), low))
        api.setdefault(cls, {})[method] = (low, high)
        constants.update(re.findall(r"\b(EXPORT_[A-Z0-9_]+)\b", note))
    return api, constants


API, CONSTANTS = load_reference()


def _violation(message: str) -> ApiViolation:
    VIOLATIONS.append(message)
    return ApiViolation(message)


def version_tuple(version) -> tuple[int, ...]:
    return tuple(int(part) for part in list(version)[:4] if str(part).strip().lstrip("-").isdigit())


class ApiObject:
    """Base of every fake API object: checks each capitalised attribute against the reference.

    ``self.resolve`` (when set) is the fake Resolve whose version gates :data:`GATES`.
    """

    api_class = ""
    resolve = None

    def _has(self, name: str) -> bool:
        cls = object.__getattribute__(self, "api_class")
        if name not in API.get(cls, {}) and not (cls == "Resolve" and name in CONSTANTS):
            return False
        resolve = object.__getattribute__(self, "resolve")
        if resolve is None:
            return True
        if f"{cls}.{name}" in resolve.lacks:
            return False
        first = GATES.get((cls, name))
        return first is None or version_tuple(resolve.version) >= first

    def __dir__(self):
        cls = object.__getattribute__(self, "api_class")
        names = [name for name in API.get(cls, {}) if self._has(name)]
        if cls == "Resolve":
            names += [name for name in sorted(CONSTANTS) if self._has(name)]
        return sorted(names)

    def __getattribute__(self, name: str):
        if not name[:1].isupper():
            return object.__getattribute__(self, name)
        cls = object.__getattribute__(self, "api_class")
        if name.isupper() and cls == "Resolve":
            if name in CONSTANTS and object.__getattribute__(self, "_has")(name):
                return name
            if name in CONSTANTS:  # as on Resolve, reading a name it lacks gives something, never None
                VIOLATIONS.append(f"resolve.{name} read on Resolve {self.version}, which lacks it "
                                  "(probe with `name in dir(obj)`)")
                return object()
            raise _violation(f"resolve.{name} is not a constant named in resolve_api.tsv")
        spec = API.get(cls, {}).get(name)
        if spec is None:
            raise _violation(f"{cls}.{name} is not in resolve_api.tsv")
        if not object.__getattribute__(self, "_has")(name):
            version = object.__getattribute__(self, "resolve").version

            def missing(*args, **kwargs):
                VIOLATIONS.append(f"{cls}.{name} called on Resolve {version}, which lacks it "
                                  "(probe with `name in dir(obj)`)")
                return None

            return missing
        try:
            method = object.__getattribute__(self, name)
        except AttributeError:
            raise _violation(f"{cls}.{name} is documented but the fake does not implement it; "
                             "add it to tests/fake_resolve*.py") from None
        low, high = spec

        def checked(*args, **kwargs):
            if kwargs:
                raise _violation(f"{cls}.{name} called with keyword arguments {sorted(kwargs)}")
            if not low <= len(args) <= high:
                raise _violation(f"{cls}.{name} takes {low}..{high} arguments per resolve_api.tsv, "
                                 f"called with {len(args)}")
            CALLS.append((cls, name, args))
            return method(*args)

        return checked


_ids = itertools.count(1)


def uid(prefix: str) -> str:
    return f"{prefix}-{next(_ids):06d}"


def rate_text(rate: Fraction) -> str:
    if rate.denominator == 1:
        return str(rate.numerator)
    return f"{float(rate):.3f}".rstrip("0").rstrip(".")


def _dropped_per_minute(rate: Fraction) -> int:
    """Timecode labels drop-frame skips each minute (not every tenth): 2 at 29.97, 4 at 59.94, 8 at
    119.88; 0 at rates without drop-frame timecode."""
    nominal = round(rate)
    return nominal // 15 if rate.denominator == 1001 and nominal % 30 == 0 else 0


def timecode_frame(tc: str, rate) -> int:
    """The absolute frame of a timecode at ``rate``, as Resolve counts (drop-frame when written
    with ';'). Integer maths at every rate Resolve offers, 12 to 120 fps (OTIO's refuses some)."""
    rate = Fraction(rate)
    hours, minutes, seconds, frames = (int(part) for part in re.split(r"[:;]", tc.strip()))
    total_minutes = hours * 60 + minutes
    count = (total_minutes * 60 + seconds) * round(rate) + frames
    if ";" in tc:
        count -= _dropped_per_minute(rate) * (total_minutes - total_minutes // 10)
    return count


def frame_timecode(frame: int, rate, drop_frame: bool = False) -> str:
    """The timecode Resolve shows for an absolute frame (the inverse of :func:`timecode_frame`)."""
    rate = Fraction(rate)
    fps, drop = round(rate), _dropped_per_minute(rate) if drop_frame else 0
    if drop:
        tens, rest = divmod(frame, fps * 600 - 9 * drop)
        frame += 9 * drop * tens + (drop * ((rest - drop) // (fps * 60 - drop)) if rest >= drop else 0)
    seconds, ff = divmod(frame, fps)
    return "{:02d}:{:02d}:{:02d}{}{:02d}".format(seconds // 3600, seconds // 60 % 60, seconds % 60,
                                                 ";" if drop else ":", ff)


def probe(path: str) -> dict | None:
    """What Resolve's media pool shows for a file: fps, frames, resolution, start TC, whether it has sound."""
    import av

    try:
        with av.open(path) as container:
            stream = container.streams.video[0]
            rate = Fraction(stream.average_rate or stream.guessed_rate)
            frames = stream.frames or sum(1 for _ in container.decode(stream))
            tc = stream.metadata.get("timecode") or container.metadata.get("timecode") or "00:00:00:00"
            return {"fps": rate, "frames": int(frames), "width": stream.width, "height": stream.height,
                    "timecode": tc, "audio": bool(container.streams.audio)}
    except Exception:
        return None


class MediaPoolItem(ApiObject):
    """A clip in the media pool. ``path`` "" is an item without a file (a compound clip or an
    adjustment clip): its "File Path" property is empty, as in Resolve."""

    api_class = "MediaPoolItem"

    def __init__(self, path: str, info: dict, name: str | None = None, kind: str = "Video"):
        self.path = str(path)
        self.info = info
        self.name = name or os.path.basename(self.path)
        self.kind = kind
        self.uid = uid("mpi")
        self.color = ""

    @property
    def start_tc_frame(self) -> int:
        return timecode_frame(self.info["timecode"], self.info["fps"])

    def GetName(self):
        return self.name

    def GetUniqueId(self):
        return self.uid

    def GetMediaId(self):
        return self.uid

    def GetClipProperty(self, name=None):
        props = {
            "File Path": self.path, "Clip Name": self.name, "FPS": rate_text(self.info["fps"]),
            "Frames": str(self.info["frames"]), "Resolution": f"{self.info['width']}x{self.info['height']}",
            "Start TC": self.info["timecode"], "Type": self.kind,
        }
        return props if name is None else props.get(name, "")

    def GetClipColor(self):
        return self.color


class Folder(ApiObject):
    api_class = "Folder"

    def __init__(self, name: str):
        self.name = name
        self.clips: list[MediaPoolItem] = []
        self.subfolders: list[Folder] = []
        self.uid = uid("folder")

    def GetName(self):
        return self.name

    def GetClipList(self):
        return list(self.clips)

    def GetSubFolderList(self):
        return list(self.subfolders)

    def GetUniqueId(self):
        return self.uid

    def GetIsFolderStale(self):
        return False
