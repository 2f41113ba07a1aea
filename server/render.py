"""One job, start to finish: request → plan → frames in → engine → frames out → media + placements.

``plan_job`` is quick (it reads the timeline and probes media headers) and raises
:class:`~otio_tools.RequestError` for anything wrong with the request, so the server can refuse
a bad request at once. ``run_job`` does the work. Everything it writes is written under a
temporary name and renamed when complete; on failure or cancel nothing it wrote remains.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections.abc import Callable, Generator, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import opentimelineio as otio

from otio_tools import Request, RequestError
from otio_tools.media import MediaFacts
from otio_tools.placement import with_audio_tracks
from otio_tools.plan import CONTEXT_FRAMES, Plan, SourceFrames, plan_request
from otio_tools.timeline import rate_of
from otio_tools.splice import splice_result
from server import masks, media_audio, media_io, provenance
from server.job_sound import handles_sound, room_tone_for
from server.engines import load_engine
from server.engines.base import Engine, EngineJob, EngineUnavailable, InpaintShot, OutpaintLayout, resize_frame
from server.lazy_frames import LazyFrames, kept_bytes
from server.takes import take_recipe

log = logging.getLogger("shotforge.render")

#: ``locate(path_as_written_in_the_request, where) -> local path``; raises RequestError if not allowed.
Locate = Callable[[str, str], str]
ProgressCallback = Callable[[float, str], None]

# Share of the progress bar each stage gets; rendering dominates.
_READ_SHARE, _RENDER_SHARE = 0.05, 0.9


@dataclass
class JobPlan:
    timeline: otio.schema.Timeline
    request: Request
    plan: Plan
    engine: str
    source_dtype: type  # np.uint8 or np.uint16: the depth frames travel at
    source_color: media_io.ColorTags | None


@dataclass
class JobOutcome:
    media: list[str]
    placements: list[dict]
    otio: str
    engine: str
    model: str
    placeholder: bool
    notes: list[str] = field(default_factory=list)  # what the editor should know (the plan's notes)

    def to_dict(self) -> dict:
        return asdict(self)


def file_must_exist(path: str, where: str) -> str:
    """The default media check: the file must be there (the server adds roots and path mapping)."""
    if not os.path.isfile(path):
        raise RequestError("media_missing", f"{where}: media file {path} does not exist or is not a file")
    return os.path.abspath(path)


def plan_job(timeline: otio.schema.Timeline, request: Request, *, locate_media: Locate | None = None) -> JobPlan:
    """Check a request against its timeline and media, and plan it. Raises RequestError."""
    locate = locate_media or file_must_exist
    probed: dict[str, media_io.MediaInfo] = {}

    def lookup(path: str, where: str) -> MediaFacts:
        local = locate(path, where)
        if local not in probed:
            try:
                probed[local] = media_io.probe(local)
            except media_io.MediaError as exc:
                raise RequestError(exc.code, f"{where}: {exc.message}") from None
        info = probed[local]
        return MediaFacts(local, info.width, info.height, info.rate, info.frames, info.start_timecode)

    engine = choose_engine(request)
    context = CONTEXT_FRAMES
    if engine == "diffusers":  # its options and a model for the operation are checked now, not mid-render
        context = max(context, _model_context_frames(timeline, request))
    plan = plan_request(timeline, request, lookup, context)
    if plan.inpaint is not None and plan.inpaint.mask is not None:
        plan = _plan_matte(plan, locate)
    sources = [s.media for s in (plan.context, plan.after, plan.handles, plan.reference) if s is not None]
    deep = any(probed[path].bit_depth > 8 for path in sources)
    first = probed[sources[0]] if sources else None
    return JobPlan(timeline, request, plan, engine,
                   np.uint16 if deep else np.uint8, first.color if first else None)


#: where a request's matte is named, for messages
MATTE_KEY = "metadata.shotforge.mask"


def _plan_matte(plan: Plan, locate: Locate) -> Plan:
    """An inpaint plan with its matte found (inside the media roots, like media) and checked; a
    re-render's matte must be the very file its take used (``mask_sha256``)."""
    local = locate(plan.inpaint.mask, f"the matte ({MATTE_KEY})")
    _check_matte(plan.request, local, plan.size, len(plan.inpaint.placed))
    return replace(plan, inpaint=replace(plan.inpaint, mask=local))


def _check_matte(request: Request, path: str, size: tuple[int, int], frames: int) -> masks.Matte:
    """The matte checked, and a re-render's matte the very file its take used (``mask_sha256``)."""
    wanted = request.mask_sha256
    if wanted is not None and provenance.file_sha256(path) != wanted:
        raise RequestError("matte_changed", f"the matte {path} is not the file the take was made with (its "
                                            "content changed): a new take of that slot needs the same matte")
    return masks.check_matte(path, size, frames)


def _model_context_frames(timeline: otio.schema.Timeline, request: Request) -> int:
    """Check the diffusers engine's options and model for the request; the timeline frames of
    context a side that model wants at the timeline's rate (at least one latent group of its own)."""
    from server.engines.diffusers import check_options, select_model
    from server.engines.diffusers.windows import context_frames
    from server.settings import active_settings

    check_options(request.extra)
    try:
        info, _device = select_model(request.operation, request.extra.get("model"), active_settings())
    except EngineUnavailable as exc:
        if request.engine == "diffusers":  # ("auto" chose it only because a model serves the operation)
            raise RequestError("engine_unavailable", f"the diffusers engine cannot do this "
                                                     f"{request.operation}: {exc.reason}") from None
        return CONTEXT_FRAMES
    return context_frames(rate_of(timeline), info.native)


# What a job holds and writes, per pixel, for the estimate checked before it starts (server.limits).
# Outpaint keeps float32 RGBA canvases, their ages and warp buffers: 7.0 GB was measured for an
# 8192x8192 canvas, about 104 bytes a canvas pixel, whatever the frame count (frames stream).
_OUTPAINT_BYTES_PER_PIXEL = 104
# The other operations hold their source frames (context, after, copied handles) and about a
# dozen float32 RGB working frames (flow fields, warps, blends).
_WORKING_BYTES_PER_PIXEL = 12 * 3 * 4
# Encoded media a frame pixel: ProRes at its highest observed rate (2.2 GB for 36000 frames of
# 176x144: small frames cost more a pixel), H.264 at a generous high-quality rate.
_DISK_BYTES_PER_PIXEL = {"prores": 2.5, "h264": 0.5}
_FILE_OVERHEAD = 1 << 20  # result.otio, job.json, the container's index and credentials
# The classical inpaint puts aside, on disk for its second pass, each placed frame's carried colour
# and distance (float32 RGB and one float32) over the box of its region widened by an edge ring.
_INPAINT_SPILL_BYTES_PER_PIXEL = 4 * 4


@dataclass(frozen=True)
class JobEstimate:
    """What a planned job is expected to take: bytes of memory at its peak and of output on disk."""

    memory: int
    disk: int
    operation: str
    shape: str  # "8192x8192, 48 frames": what the figures grow with


def estimate_job(job_plan: JobPlan, output_format: str = "prores") -> JobEstimate:
    """The memory and disk a planned job needs (an upper estimate; see the constants above)."""
    plan = job_plan.plan
    width, height = plan.size
    pixels = width * height
    sample = 2 if job_plan.source_dtype == np.uint16 else 1
    frame = pixels * 3 * sample
    if plan.operation == "outpaint":
        inner = plan.layout.inner[0] * plan.layout.inner[1] if plan.layout else pixels
        memory = pixels * _OUTPAINT_BYTES_PER_PIXEL + 4 * inner * 3 * sample
    elif plan.operation == "inpaint":  # frames and masks stream through their caches (server.lazy_frames)
        shown = len(plan.context)
        memory = kept_bytes(frame, shown) + kept_bytes(pixels, shown) + pixels * _WORKING_BYTES_PER_PIXEL
    else:
        held = sum(len(s) for s in (plan.context, plan.after, plan.reference) if s is not None)
        memory = (held + plan.copied_handles) * frame + pixels * _WORKING_BYTES_PER_PIXEL
    disk = int(plan.media_frames * pixels * _DISK_BYTES_PER_PIXEL.get(output_format, 2.5)) + _FILE_OVERHEAD
    if plan.operation == "inpaint" and job_plan.engine == "classical":
        disk += len(plan.inpaint.made) * _inpaint_box(plan.inpaint, plan.size) * _INPAINT_SPILL_BYTES_PER_PIXEL
    return JobEstimate(int(memory), disk, plan.operation, f"{width}x{height}, {plan.media_frames} frames")


def _inpaint_box(area, size: tuple[int, int]) -> int:
    """Pixels of the largest box the classical inpaint works on in a frame: a matte may cover it all; a
    region (moving, of any size between its ends) widened by the ring it matches the picture on."""
    width, height = size
    if area.region is None:
        return width * height
    ring = max(2, round(min(width, height) / 90)) + 1  # as the engine's, and a pixel of rounding
    ends = [r for r in (area.region, area.region_end) if r is not None]
    return min(width, max(r[2] for r in ends) + 2 * ring) * min(height, max(r[3] for r in ends) + 2 * ring)


def choose_engine(request: Request) -> str:
    """The engine a request runs on. "auto" is the diffusers engine when a models folder is configured
    and a usable model there serves the operation, else the embedded classical engine. Without a
    models folder this imports nothing (no torch); models only in the Hugging Face cache are used
    when a request asks for ``engine: diffusers``."""
    if request.engine != "auto":
        return request.engine
    from server.settings import SettingsError, active_settings

    try:
        settings = active_settings()
    except SettingsError:
        return "classical"
    if settings.models is None:
        return "classical"
    try:
        from server.engines.diffusers import serves

        if serves(request.operation, request.extra.get("model"), settings):
            return "diffusers"
    except Exception as exc:  # a broken install must not stop the classical engine from working
        log.warning("engine auto: diffusers engine not considered: %s", exc)
    return "classical"


def run_job(job_plan: JobPlan, out_dir: Path, *, on_progress: ProgressCallback = lambda f, s: None,
            cancel_event: threading.Event | None = None, output_format: str = "prores",
            engines: Callable[..., Engine] = load_engine) -> JobOutcome:
    """Render a planned job into ``out_dir``: the media, ``result.otio`` and ``job.json``.
    ``engines`` builds the engine by name (a farm passes one that runs it on a worker)."""
    plan, request = job_plan.plan, job_plan.request
    # the operation (and a model named in the request) let the engine choose its model now
    engine = engines(job_plan.engine, operation=plan.operation, model=request.extra.get("model"))
    out_dir = Path(out_dir).absolute()  # placements and result.otio name the media by full path
    created_dir = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    job = EngineJob(rate=plan.rate, prompt=request.prompt, negative_prompt=request.negative_prompt,
                    seed=request.seed, options={**request.extra, "range": request.range},
                    on_progress=lambda fraction, stage: on_progress(_READ_SHARE + _RENDER_SHARE * fraction, stage),
                    cancel_event=cancel_event or threading.Event(), scratch_dir=str(out_dir))
    placeholder = plan.operation == "generate" and engine.generate_is_placeholder
    made_by = {"engine": engine.name, "model": engine.model, "prompt": request.prompt,
               "negative_prompt": request.negative_prompt, "seed": request.seed, "placeholder": placeholder}
    if plan.media_frames:  # the take: this result and its recipe, in the tags and result.otio
        made_by["take"] = take_recipe(job_plan, engine, placeholder)
    log.info("job: %s with engine %s, %d frame(s) to make", request.describe(), engine.name, plan.make)
    for note in plan.notes:
        log.info("job: %s", note)
    written: list[Path] = []
    try:
        on_progress(0.0, "reading")
        media: list[str] = []
        sound = room_tone_for(plan)
        if plan.media_frames:
            media_path = out_dir / _media_name(plan, output_format)
            _write_media(media_path, _frames_out(plan, job_plan, engine, job), plan, job_plan, made_by,
                         output_format, job, sound)
            written.append(media_path)
            media = [str(media_path)]
        job.check_cancel()
        on_progress(_READ_SHARE + _RENDER_SHARE, "splicing")
        placements = plan.placements(media[0] if media else "")
        with_sound = media[0] if sound is not None else handles_sound(plan)
        if with_sound:
            placements = with_audio_tracks(job_plan.timeline, plan.rate, placements, with_sound)
        result = splice_result(job_plan.timeline, plan, placements, made_by)
        otio_path = out_dir / "result.otio"
        _write_atomically(otio_path, otio.adapters.write_to_string(result, "otio_json"))
        written.append(otio_path)
        outcome = JobOutcome(media, [p.to_dict() for p in placements], str(otio_path), engine.name,
                             engine.model, placeholder,
                             list(plan.notes) + list(result.metadata["shotforge_result"].get("notes", [])))
        _write_atomically(out_dir / "job.json", json.dumps(
            {"request": request.describe(), "operation": plan.operation, "timeline_rate": str(plan.rate),
             "start_timecode": plan.start_timecode, **outcome.to_dict()}, indent=2))
        on_progress(1.0, "done")
        log.info("job done: %s", ", ".join(media) or "handles only")
        return outcome
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        if created_dir and not any(out_dir.iterdir()):
            out_dir.rmdir()
        raise


def _frames_out(plan: Plan, job_plan: JobPlan, engine, job: EngineJob) -> Iterator[np.ndarray]:
    """The new media's frames, in time order: copied real handles and what the engine makes."""
    dtype = job_plan.source_dtype
    copied = list(_read(plan.handles, plan.size, dtype)) if plan.copied_handles else []
    if plan.operation == "extend":
        context = list(_read(plan.context, plan.size, dtype))
        made = engine.extend(context, plan.make, plan.request.side, job) if plan.make else iter(())
        first, second = (copied, made) if plan.request.side == "tail" else (made, copied)
        yield from first
        yield from second
    elif plan.operation == "fill_gap":
        yield from engine.fill_gap(list(_read(plan.context, plan.size, dtype)),
                                   list(_read(plan.after, plan.size, dtype)), plan.make, job)
    elif plan.operation == "outpaint":
        layout = plan.layout
        yield from engine.outpaint(_SizedFrames(plan.context, layout.inner, dtype),
                                   OutpaintLayout(layout.canvas, layout.inner, layout.offset), job)
    elif plan.operation == "inpaint":
        shot = inpaint_shot(plan, dtype, job)
        try:
            yield from engine.inpaint(shot, job)
        finally:  # the shot's files close when the engine is done, not when the shot is collected
            _close(shot.frames, shot.masks)
    else:
        reference = next(_read(plan.reference, plan.size, dtype)) if plan.reference else None
        yield from engine.generate(plan.make, plan.size, job, reference=reference, dtype=dtype)


def inpaint_shot(plan: Plan, dtype: type, job: EngineJob | None = None) -> InpaintShot:
    """The shot an inpaint engine is given: the planned frames (placed frames and handles) decoded
    on demand at the plan's size, and their masks; a matte is checked again (the file may have
    changed while the job was queued) and, a video, must replace something over the clip."""
    area, size = plan.inpaint, plan.size
    frame_bytes = size[0] * size[1] * 3 * np.dtype(dtype).itemsize
    frames = LazyFrames(plan.context.media, plan.context.indices, dtype, frame_bytes,
                        lambda frame: resize_frame(frame, size))
    matte = _check_matte(plan.request, area.mask, size, len(area.placed)) if area.mask is not None else None
    shot_masks = masks.shot_masks(area, size, len(frames), matte)
    if matte is not None and matte.still is None:
        if job is not None:
            job.progress(0.0, "reading the matte")
        try:
            masks.require_replacing(shot_masks, area.placed, f"the matte {area.mask}")
        except BaseException:  # refused (or canceled): the matte closes now, not when the error is dropped
            _close(shot_masks)
            raise
    return InpaintShot(frames, shot_masks, area.made)


def _close(*parts) -> None:
    for part in parts:
        if isinstance(part, LazyFrames):
            part.close()


class _SizedFrames:
    """Planned frames decoded lazily, one pass, with a length (so an engine can report progress)."""

    def __init__(self, source: SourceFrames, size: tuple[int, int], dtype: type):
        self.source, self.size, self.dtype = source, size, dtype

    def __len__(self) -> int:
        return len(self.source)

    def __iter__(self) -> Iterator[np.ndarray]:
        return _read(self.source, self.size, self.dtype)


def _read(source: SourceFrames, size: tuple[int, int], dtype: type) -> Iterator[np.ndarray]:
    """Decode planned frames, at the job's depth and the given (width, height)."""
    for frame in media_io.read_frames(source.media, source.indices, dtype):
        yield resize_frame(frame, size)


def _write_media(path: Path, frames: Generator[np.ndarray, None, None], plan: Plan, job_plan: JobPlan,
                 made_by: dict, output_format: str, job: EngineJob, sound: media_audio.Audio | None) -> None:
    width, height = plan.size
    tags = {key: json.dumps(value) if isinstance(value, dict) else str(value) for key, value in made_by.items()}
    tags["operation"] = plan.operation
    deep = job_plan.source_dtype == np.uint16
    # Encoded under a hidden name, then signed onto the final name: the final name only ever holds
    # a complete file with its Content Credentials (a crash leaves hidden files, never an unsigned one).
    unsigned = path.with_name(f".{path.stem}.unsigned{path.suffix}")
    try:
        with media_io.MediaWriter(str(unsigned), width=width, height=height, rate=plan.rate,
                                  codec="h264" if output_format == "h264" else "prores",
                                  start_timecode=plan.start_timecode, metadata=tags, color=job_plan.source_color,
                                  bit_depth=10 if (deep or output_format != "h264") else 8,
                                  audio=sound) as writer:
            for frame in frames:
                job.check_cancel()
                writer.write(frame)
                job.progress(writer.frames_written / plan.media_frames)
            if writer.frames_written != plan.media_frames:
                raise RuntimeError(f"engine {made_by['engine']} made {writer.frames_written} frames; "
                                   f"the plan asked for {plan.media_frames}")
        job.check_cancel()
        source_type = provenance.digital_source_type(
            learned=bool(made_by["model"]), operation=plan.operation, made_frames=plan.make,
            copied_frames=plan.copied_handles, placeholder=made_by["placeholder"], reference=plan.reference is not None)
        provenance.sign_media(unsigned, path, source_type=source_type, take=made_by["take"],
                              sources=provenance.job_sources(plan))
    finally:
        frames.close()  # an engine stopped between two frames lets go of its files now (its finally runs)
        unsigned.unlink(missing_ok=True)


def _media_name(plan: Plan, output_format: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{plan.clip_name}_{plan.operation}").strip("._") or "shotforge"
    return f"{stem[:80]}.{'mp4' if output_format == 'h264' else 'mov'}"


def _write_atomically(path: Path, text: str) -> None:
    temp = path.with_name(f".{path.name}.part")
    try:
        temp.write_text(text, encoding="utf-8")
        os.replace(temp, path)
    except BaseException:  # a full disk or a name that cannot be replaced: no half-written file stays
        temp.unlink(missing_ok=True)
        raise
