"""Interchange: read a timeline in any format an installed OpenTimelineIO adapter reads, and write
a result back in that same format beside ``result.otio``.

So an editor whose NLE writes only interchange (Final Cut Pro 7 / Premiere XML, CMX 3600 EDL,
Avid AAF, Final Cut Pro X FCPXML) round-trips without a plugin. Those formats keep no ShotForge
clip metadata; the takes stay findable through their media files' tags (:mod:`otio_tools.conform`).
An EDL says nothing of its frame rate: give it (``rate``), or a timecode past the default rate's
last frame is refused with a message asking for it. FCPXML goes through the adapter with exact
times (:mod:`otio_tools.fcpxml`: 23.976, 29.97, 59.94 and mixed-rate projects), and a result the
adapter's writer would not hold exactly is refused, result.otio holding it. Final Cut Pro 10.6
and later export a bundle (a ``.fcpxmld`` folder holding ``Info.fcpxml``): read the same, and the
result written back as ``result.fcpxmld``.
"""

from __future__ import annotations

import os
import shutil
from fractions import Fraction
from pathlib import Path
from typing import Any

import opentimelineio as otio

from otio_tools.errors import RequestError
from otio_tools.request import read_timeline

#: what each format is called in messages
FORMAT_NAMES = {"otio_json": "OTIO", "fcp_xml": "Final Cut Pro 7 XML", "cmx_3600": "CMX 3600 EDL", "AAF": "AAF",
                "fcpx_xml": "FCPXML", "otioz": "OTIOZ"}
#: where an adapter for a format editors export is found, when none is installed
ADAPTER_PACKAGES = {".fcpxml": "otio-fcpx-xml-adapter (Final Cut Pro X)", ".aaf": "otio-aaf-adapter",
                    ".edl": "otio-cmx3600-adapter", ".xml": "otio-fcp-adapter", ".ale": "otio-ale-adapter",
                    ".kdenlive": "otio-kdenlive-adapter"}


#: Final Cut Pro 10.6 on exports FCPXML as a bundle: a folder with this suffix holding Info.fcpxml
FCPXML_BUNDLE = ".fcpxmld"


def adapter_for(path: str | os.PathLike) -> str:
    """The installed adapter that reads ``path``'s format, by its file extension."""
    suffix = Path(path).suffix.lower()
    if suffix == FCPXML_BUNDLE:
        return "fcpx_xml"
    try:
        return otio.adapters.from_filepath(str(path)).name
    except otio.exceptions.NoKnownAdapterForExtensionError:
        package = ADAPTER_PACKAGES.get(suffix)
        hint = f": install {package}" if package else ""
        raise RequestError("unsupported_format", f"{path}: no installed OpenTimelineIO adapter reads "
                                                 f"{suffix or 'extensionless'} files{hint}") from None


def read_any(path: str | os.PathLike, rate: Fraction | None = None) -> tuple[otio.schema.Timeline, str]:
    """(timeline, adapter name) of a timeline file in any readable format. ``rate`` is an EDL's rate."""
    adapter = adapter_for(path)
    if adapter == "fcpx_xml":
        timeline = _read_fcpxml(path)
    elif adapter != "cmx_3600":
        timeline = read_timeline(str(path))
    else:
        try:
            timeline = otio.adapters.read_from_file(str(path), adapter_name=adapter,
                                                    rate=float(rate) if rate else 24)
        except FileNotFoundError:
            raise RequestError("request_missing", f"timeline file {path} does not exist") from None
        except Exception as exc:
            said = f"at {float(rate):g} fps" if rate else "at 24 fps (an EDL does not say its rate; give it)"
            raise RequestError("malformed_otio", f"{path} cannot be read as an EDL {said}: {exc}") from None
    if isinstance(timeline, otio.schema.SerializableCollection):  # FCPXML: a library of projects
        timeline = _the_one_timeline(timeline, path)
    if not isinstance(timeline, otio.schema.Timeline):
        raise RequestError("malformed_otio", f"{path} holds no timeline (its top object is "
                                             f"{type(timeline).__name__})")
    return timeline, adapter


def _read_fcpxml(path: str | os.PathLike) -> Any:
    from otio_tools.fcpxml import read_fcpxml_string

    document = Path(path)
    if document.suffix.lower() == FCPXML_BUNDLE and document.is_dir():
        document = document / "Info.fcpxml"
        if not document.is_file():
            raise RequestError("request_missing", f"{path} is a Final Cut Pro bundle without its Info.fcpxml: "
                               "export the project again (File > Export XML)")
    try:
        text = document.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RequestError("request_missing", f"timeline file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RequestError("request_missing", f"timeline file {path} cannot be read: {exc}") from None
    try:
        return read_fcpxml_string(text)
    except Exception as exc:  # the adapter raises whatever its XML walk meets
        raise RequestError("malformed_otio", f"{path} cannot be read as FCPXML: {type(exc).__name__}: "
                                             f"{str(exc).strip()[:300]}") from None


def _the_one_timeline(collection: otio.schema.SerializableCollection, path: str | os.PathLike) -> Any:
    """The timeline of a collection that holds exactly one (an FCPXML library with one project)."""
    timelines = [item for item in collection if isinstance(item, otio.schema.Timeline)]
    if len(timelines) == 1:
        return timelines[0]
    if not timelines:
        raise RequestError("malformed_otio", f"{path} holds no timeline, only "
                                             f"{', '.join(type(item).__name__ for item in collection) or 'nothing'} "
                                             "(export a project, not clips from a browser)")
    names = ", ".join(repr(item.name) for item in timelines)
    raise RequestError("malformed_otio", f"{path} holds {len(timelines)} timelines ({names}): export the one "
                                         "project to work on")


def write_like(timeline: otio.schema.Timeline, adapter: str, source: str | os.PathLike, out_dir: Path) -> Path | None:
    """Write ``timeline`` as ``out_dir/result<ext of source>`` with ``adapter``; None for OTIO (result.otio
    is that file). Raises RequestError (``interchange_write``) naming why the format cannot hold it."""
    if adapter == "otio_json":
        return None
    target = Path(out_dir) / f"result{Path(source).suffix.lower()}"
    temp = target.with_name(f".{target.stem}.part{target.suffix}")
    bundle = target.suffix == FCPXML_BUNDLE
    try:
        if adapter == "fcpx_xml":
            from otio_tools.fcpxml import write_fcpxml

            if bundle:
                temp.mkdir(exist_ok=True)  # a crashed write's leftover is written over
            write_fcpxml(timeline, str(temp / "Info.fcpxml" if bundle else temp))
        else:
            otio.adapters.write_to_file(timeline, str(temp), adapter_name=adapter)
        if bundle and target.is_dir():  # a folder is not replaced by a rename: the old bundle goes first
            shutil.rmtree(target)
        os.replace(temp, target)
    except Exception as exc:
        if bundle and temp.is_dir():
            shutil.rmtree(temp)
        else:
            temp.unlink(missing_ok=True)
        name = FORMAT_NAMES.get(adapter, adapter)
        raise RequestError("interchange_write", f"the result cannot be written as {name} ({target.name}): "
                                                f"{type(exc).__name__}: {str(exc).strip()[:300]}; result.otio "
                                                "holds it") from None
    return target


def write_in_format(timeline: otio.schema.Timeline, adapter: str, source: str | Path, out_dir: Path) -> dict | None:
    """The result beside result.otio in the source timeline's own format: {format, path} or {format, error}."""
    if adapter == "otio_json":
        return None
    try:
        return {"format": FORMAT_NAMES.get(adapter, adapter), "path": str(write_like(timeline, adapter, source,
                                                                                      out_dir))}
    except RequestError as exc:
        return {"format": FORMAT_NAMES.get(adapter, adapter), "error": exc.message}


def parse_rate(text: str) -> Fraction:
    """'25', '23.976', '24000/1001' as an exact rate (the NTSC rates exactly)."""
    from otio_tools.timing import exact_rate

    try:
        value = Fraction(text)
    except (ValueError, ZeroDivisionError):
        value = Fraction(0)
    if value <= 0:
        raise RequestError("bad_request", f"--rate {text!r} is not a frame rate: e.g. 25, 23.976 or 24000/1001")
    return exact_rate(float(value)) or value
