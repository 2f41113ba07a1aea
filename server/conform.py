"""Conform: re-render the placeholders (and, if asked, the classical results) of an exported
timeline from their recipes with a model, and put each new take in its clip's slot.

Each take is made again from its recipe's request (the source media and frames it was made
from) by ``server.render``, exactly as a re-render on the server would: the same slot (frame
count, rate and size) is checked before anything renders. The new take replaces the clip in the
conformed timeline where the clip stands now, showing the same frames (an editor's trim kept).
One take failing is named (clip, track, record frame, reason) and the others are still done.

Output, in ``DIR``: ``takes/NNN-<take id>/`` per new take (its media, result.otio, job.json, as
``render`` writes them; ``-2``, ``-3``... after it when an earlier conform into ``DIR`` made that
folder), ``result.otio`` (the conformed timeline), the same in the timeline's own format when it
was an interchange file (``result.xml``, ``result.edl``, ``result.aaf``), and
``job.json`` (``placements`` as for ``render``, one per new take, with ``takes``, ``failed``,
``left`` and ``interchange``).
"""

from __future__ import annotations

import json
import logging
import os
import pathlib
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio

from otio_tools.conform import TakeClip, find_takes, select, swap_in
from otio_tools.errors import RequestError, ShotForgeError
from otio_tools.interchange import read_any, write_in_format
from otio_tools.request import parse_request_json
from otio_tools.takes import new_slot_matches, plan_slot, rerender_request, take_from_metadata
from otio_tools.timeline import rate_of
from server.engines.base import EngineUnavailable
from server.paths import MediaPolicy, PathMapper, free_folder
from server.render import _write_atomically, plan_job, run_job

log = logging.getLogger("shotforge.conform")

Progress = Callable[[float, str], None]


@dataclass
class ConformReport:
    placements: list[dict] = field(default_factory=list)
    takes: list[dict] = field(default_factory=list)
    failed: list[dict] = field(default_factory=list)
    left: list[dict] = field(default_factory=list)
    otio: str = ""
    interchange: dict | None = None  # {format, path} or {format, error}: the result in the timeline's format

    def to_dict(self) -> dict:
        return {"placements": self.placements, "takes": self.takes, "failed": self.failed, "left": self.left,
                "otio": self.otio, "interchange": self.interchange}


def read_tags(path: str) -> dict[str, str] | None:
    from server import media_io

    if not os.path.isfile(path):
        return None
    try:
        return media_io.probe(path).metadata
    except media_io.MediaError:
        return None


def conform(timeline_path: str | Path, out_dir: Path, *, engine: str = "diffusers", model: str | None = None,
            include_classical: bool = False, output_format: str = "prores", on_progress: Progress = lambda f, s: None,
            cancel_event: threading.Event | None = None, edl_rate: Fraction | None = None,
            mapper: PathMapper | None = None) -> ConformReport:
    """Conform a timeline file (any format OTIO reads; ``edl_rate`` for an EDL) into ``out_dir``. Raises
    RequestError when the timeline cannot be read; each take's failure is in the report instead.

    ``mapper`` maps the paths the editor's machine wrote (in the timeline and in the recipes) to
    this machine's, and the new takes' paths back: a cut roughed in on a laptop, conformed on a GPU box."""
    mapper = mapper or PathMapper()
    if engine == "classical" and model:
        raise RequestError("bad_request", f"the classical engine has no models; --model {model} needs --engine "
                                          "diffusers")
    timeline, adapter = read_any(timeline_path, edl_rate)
    out_dir = Path(out_dir).absolute()
    found, unreadable = find_takes(timeline, lambda path: read_tags(mapper.to_server(path)))
    chosen, left = select(found, include_classical)
    report = ConformReport()
    report.failed += [{"clip": u.name, "track": u.track, "record_frame": u.record_frame, "code": "bad_take",
                       "reason": u.reason} for u in unreadable]
    report.left += [{"clip": c.name, "track": c.track, "record_frame": c.record_frame, "take": c.take.id,
                     "why": f"made by the {c.take.engine} engine" + ("" if c.take.engine != "classical" else
                                                                    " (--include-classical conforms it)")}
                    for c in left]
    conformed = timeline.deepcopy()
    rate = rate_of(timeline)
    total = sum(c.frames for c in chosen) or 1
    made: dict[str, tuple[otio.schema.Clip, str, dict, bool]] = {}  # a take used twice is rendered once
    created: list[Path] = []
    done_frames = 0
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        for n, item in enumerate(chosen):
            label = f"{n + 1}/{len(chosen)} {item.name}"
            base, share = done_frames / total, item.frames / total

            def progress(fraction: float, stage: str, base=base, share=share, label=label) -> None:
                on_progress(base + share * fraction, f"{label}: {stage}")

            try:
                if item.take.slot.rate != rate:
                    raise RequestError("slot_change", f"the timeline runs at {rate} fps; the take was made at "
                                                      f"{item.take.slot.rate} fps")
                if item.take.id not in made:
                    dest = free_folder(out_dir / "takes" / f"{n:03d}-{item.take.id}")
                    created.append(dest)
                    made[item.take.id] = _render(item, dest, engine, model, output_format, progress, cancel_event,
                                                 mapper)
                new_clip, media, new_take, sound = made[item.take.id]
                if item.source_in + item.frames > new_take["media_frames"]:
                    raise RequestError("slot_change", f"the clip shows media frames {item.source_in}-"
                                                      f"{item.source_in + item.frames - 1}; the take has "
                                                      f"{new_take['media_frames']}")
                audio_track = swap_in(conformed, item, new_clip, sound=sound)
            except (ShotForgeError, EngineUnavailable) as exc:
                code = getattr(exc, "code", "engine_unavailable")
                reason = exc.message if isinstance(exc, ShotForgeError) else f"the {exc.engine} engine cannot " \
                                                                             f"run here: {exc.reason}"
                log.info("conform: %s failed: %s", item.describe(), reason)
                report.failed.append({"clip": item.name, "track": item.track, "record_frame": item.record_frame,
                                      "take": item.take.id, "code": code, "reason": reason})
            else:
                report.placements.append({"media": media, "track": item.track, "record_frame": item.record_frame,
                                          "source_in": item.source_in, "frames": item.frames,
                                          **({} if audio_track is None else {"audio_track": audio_track})})
                report.takes.append({"clip": item.name, "track": item.track, "record_frame": item.record_frame,
                                     "frames": item.frames, "replaced": item.take.id, "take": new_take["id"],
                                     "engine": new_take["engine"], "model": new_take["model"], "media": media})
            done_frames += item.frames
            on_progress(done_frames / total, f"{label}: done")
        report.otio = str(out_dir / "result.otio")
        _write_atomically(out_dir / "result.otio", otio.adapters.write_to_string(conformed, "otio_json"))
        report.interchange = write_in_format(conformed, adapter, timeline_path, out_dir)
        _write_atomically(out_dir / "job.json", json.dumps(
            {"timeline": str(timeline_path), "engine": engine, "model": model, **report.to_dict()}, indent=2))
    except BaseException:  # canceled (Ctrl-C) or broken: nothing of this conform stays
        for path in created:
            shutil.rmtree(path, ignore_errors=True)
        raise
    return report


def _render(item: TakeClip, dest: Path, engine: str, model: str | None, output_format: str, progress: Progress,
            cancel_event: threading.Event | None, mapper: PathMapper) -> tuple[otio.schema.Clip, str, dict, bool]:
    """Make the take again from its recipe; (the new clip as its result.otio holds it, media, new take,
    whether its media has sound), the clip and media named as the editor's machine names them."""

    text = rerender_request(item.take, {"engine": engine, "model": model})
    timeline, request = parse_request_json(text, f"the recipe of {item.describe()}")
    try:
        job_plan = plan_job(timeline, request, locate_media=MediaPolicy((), mapper).locator())
    except RequestError as exc:
        raise RequestError(exc.code, f"its recipe cannot be made again: {exc.message}") from None
    new_slot_matches(item.take, plan_slot(job_plan.plan))
    outcome = run_job(job_plan, dest, on_progress=progress, cancel_event=cancel_event, output_format=output_format)
    (media,) = outcome.media
    url = pathlib.Path(media).as_uri()
    result = otio.adapters.read_from_file(outcome.otio)
    new_clip = next(c for c in result.find_clips() if getattr(c.media_reference, "target_url", None) == url)
    new_take = take_from_metadata(new_clip.metadata).to_dict()
    new_clip.media_reference.target_url = mapper.reference_to_editor(url)
    sound = any("audio_track" in p for p in outcome.placements if p["media"] == media)
    return new_clip, mapper.to_editor(media), new_take, sound
