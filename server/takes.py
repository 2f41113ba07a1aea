"""Takes on the server side: the recipe a render writes, the model revision, and the takes table.

:func:`take_recipe` is what ``server.render.run_job`` puts under ``made_by["take"]`` (so it lands in
the media tags and in ``result.otio``). :class:`TakeStore` keeps every finished take in the job
store's SQLite file (table ``takes``), filled by the job manager from the media it just wrote: the
store holds what the file really carries, read back through :mod:`server.media_io`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from pathlib import Path
from typing import Any

import opentimelineio as otio

from otio_tools.errors import RequestError
from otio_tools.takes import Take, pack, plan_slot, take_from_tags
from server import shotforge_version

log = logging.getLogger("shotforge.takes")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS takes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    job_id TEXT NOT NULL,
    timeline TEXT NOT NULL,
    track INTEGER NOT NULL,
    record_frame INTEGER NOT NULL,
    frames INTEGER NOT NULL,
    media TEXT NOT NULL,
    recipe TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS takes_slot ON takes(timeline, track, record_frame);
CREATE INDEX IF NOT EXISTS takes_job ON takes(job_id);
"""

#: what a listed take's ``request`` holds: lists leave the request timeline (most of a recipe) unread
NOT_LISTED = "(not listed: read the take itself)"

#: bytes read from each end of a large weight file for a model folder's fingerprint
_SAMPLE = 1 << 20


def new_take_id() -> str:
    return "take-" + time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


def model_revision(engine: Any) -> tuple[str, str]:
    """(model, revision) of what made the frames: ``("classical", <ShotForge version>)`` for the
    classical engine; for a model, its folder name and either its Hugging Face snapshot revision
    or a fingerprint of the folder's files."""
    info = getattr(engine, "info", None)
    path = getattr(info, "path", None)
    if not getattr(engine, "model", "") or path is None:
        return engine.name, shotforge_version()
    path = Path(path)
    if path.parent.name == "snapshots":  # the HF cache names a snapshot by its commit
        return engine.model, f"hf:{path.name}"
    return engine.model, f"sha256:{folder_fingerprint(path)}"


def folder_fingerprint(folder: Path) -> str:
    """A content hash of a model folder that does not read every byte of multi-GB weights: each
    file's path and size, small files whole, large ones by their first and last megabyte (where
    safetensors keep their header and the last tensors)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
        size = path.stat().st_size
        digest.update(f"{path.relative_to(folder).as_posix()}\0{size}\0".encode())
        with open(path, "rb") as fh:
            if size <= 2 * _SAMPLE:
                digest.update(fh.read())
            else:
                digest.update(fh.read(_SAMPLE))
                fh.seek(size - _SAMPLE)
                digest.update(fh.read(_SAMPLE))
    return digest.hexdigest()[:32]


def take_recipe(job_plan: Any, engine: Any, placeholder: bool) -> dict:
    """The take a job is about to make (``made_by["take"]``): its slot is where the new media lands."""
    plan, request = job_plan.plan, job_plan.request
    model, revision = model_revision(engine)
    native = getattr(getattr(engine, "info", None), "native", None)
    steps, guidance = request.extra.get("steps"), request.extra.get("guidance")
    lora = request.extra.get("lora")
    if hasattr(engine, "job_settings"):  # what the model really runs with: the request's values or its defaults
        ran = engine.job_settings(request.extra).recipe()
        steps, guidance, lora = ran["steps"], ran["guidance"], ran["lora"]
    elif native is not None:
        steps = steps if steps is not None else native.steps
        guidance = guidance if guidance is not None else native.guidance
    take = Take(
        id=new_take_id(), operation=plan.operation,
        slot=plan_slot(plan),
        engine=engine.name, model=model, model_revision=revision,
        request=pack(otio.adapters.write_to_string(recipe_timeline(job_plan.timeline), "otio_json")),
        shotforge_version=shotforge_version(), prompt=request.prompt, negative_prompt=request.negative_prompt,
        seed=request.seed, steps=steps, guidance=None if guidance is None else float(guidance),
        lora=lora, placeholder=placeholder, timeline=job_plan.timeline.name or "",
        media_start_timecode=plan.start_timecode, media_frames=plan.media_frames, inpaint=_inpaint_recipe(plan))
    return take.to_dict()


def _inpaint_recipe(plan: Any) -> dict | None:
    """What an inpaint replaced, as its take records it: the region(s), or the matte with its content
    hash (a re-render refuses a matte that changed since)."""
    area = getattr(plan, "inpaint", None)
    if area is None:
        return None
    if area.mask is not None:
        from server.provenance import file_sha256

        return {"mask": area.mask, "mask_sha256": file_sha256(area.mask)}
    recipe = {"region": list(area.region)}
    if area.region_end is not None:
        recipe["region_end"] = list(area.region_end)
    return recipe


def recipe_timeline(timeline: otio.schema.Timeline) -> otio.schema.Timeline:
    """The request timeline as a recipe keeps it: earlier takes on it keep their recipes but not
    their own request timelines (else each take would hold all earlier ones, doubling per take)."""
    copy = timeline.deepcopy()
    copy.metadata.pop("shotforge_result", None)
    for clip in copy.find_clips():
        shotforge = clip.metadata.get("shotforge")
        take = shotforge.get("take") if hasattr(shotforge, "get") else None
        if hasattr(take, "get") and take.get("request"):
            take["request"] = ""
    return copy


def takes_in_result(result: dict) -> list[tuple[Take, str]]:
    """The takes a finished job's media carry (read back from the files), with their media paths."""
    from server import media_io

    found = []
    for media in result.get("media", []):
        try:
            take = take_from_tags(media_io.probe(media).metadata, str(media))
        except (media_io.MediaError, RequestError, OSError) as exc:
            log.warning("no take recorded for %s: %s", media, exc)
            continue
        if take is not None:
            found.append((take, str(media)))
    return found


class TakeStore:
    """The ``takes`` table, in the job store's database (``JobStore.locked``)."""

    def __init__(self, jobs: Any):
        self._store = jobs
        with self._store.locked() as db:
            db.executescript(_SCHEMA)

    def record(self, take: Take, job_id: str, media: str) -> None:
        with self._store.locked() as db:
            db.execute(
                "INSERT OR IGNORE INTO takes (id, job_id, timeline, track, record_frame, frames, media, recipe,"
                " created) VALUES (?,?,?,?,?,?,?,?,?)",
                (take.id, job_id, take.timeline, take.slot.track, take.slot.record_frame, take.slot.frames, media,
                 json.dumps(take.to_dict()), time.time()))

    def forget_job(self, job_id: str) -> None:
        """Drop a job's takes: one that did not finish (killed after its takes were recorded) has no media."""
        with self._store.locked() as db:
            db.execute("DELETE FROM takes WHERE job_id=?", (job_id,))

    def get(self, take_id: str) -> tuple[Take, str, str] | None:
        """(take, job id, media) or None."""
        with self._store.locked() as db:
            row = db.execute("SELECT * FROM takes WHERE id=?", (take_id,)).fetchone()
        return self._row(row) if row else None

    def list(self, *, timeline: str | None = None, track: int | None = None, record_frame: int | None = None,
             frames: int | None = None, job_id: str | None = None, limit: int = 100) -> list[tuple[Take, str, str]]:
        """Takes, newest first, their recipes without the request timeline (``request`` is
        :data:`NOT_LISTED`; :meth:`get` has it); each filter given narrows the list (a slot: track +
        record frame + frames)."""
        where, args = [], []
        for column, value in (("timeline", timeline), ("track", track), ("record_frame", record_frame),
                              ("frames", frames), ("job_id", job_id)):
            if value is not None:
                where.append(f"{column}=?")
                args.append(value)
        # the recipe without its request timeline (the bulk of it): a list never shows one
        sql = ("SELECT id, job_id, media, json_set(recipe, '$.request', ?) AS recipe FROM takes"
               + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY seq DESC LIMIT ?")
        with self._store.locked() as db:
            rows = db.execute(sql, (NOT_LISTED, *args, limit)).fetchall()
        return [self._row(r) for r in rows]

    def record_result(self, job_id: str, result: dict) -> list[str]:
        """Record the takes a finished job's media carry; their ids."""
        found = takes_in_result(result)
        for take, media in found:
            self.record(take, job_id, media)
        return [take.id for take, _ in found]

    @staticmethod
    def _row(row) -> tuple[Take, str, str]:
        return Take.from_dict(json.loads(row["recipe"]), f"take {row['id']}"), row["job_id"], row["media"]
