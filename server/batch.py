"""Batches: every item a marked-up timeline asks for (:mod:`otio_tools.batch`) as its own job in
the job store, and one ``result.otio`` carrying all their results.

A batch record (table ``batches``, in the job store's database) is written *before* its items
are queued, with every item's key; each item job's ``source`` is ``batch:<batch id>:<item key>``.
So after a crash nothing is lost or repeated: :meth:`Batches.resume` queues the items that have
no job yet (a job already queued under that source is found, not queued twice) and again those
whose job was interrupted by the crash; done items keep their results. When the last item has
finished, the batch's ``result.otio`` (the timeline with every item's result in free space; for an
interchange timeline also ``result.xml``/``.edl``/``.aaf`` in its own format) and ``job.json``
(``placements``, one per new clip, and each failed item named) are written into its folder.

A batch created with an ``idempotency_key`` is stored with that key and a hash of its body (as
jobs are, :mod:`server.jobs`): the same key again with the same body is the first batch, with
another body :class:`BatchKeyConflict`. The key lives as long as the batch record.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import opentimelineio as otio

from otio_tools.batch import clip_of, combine, find_items
from otio_tools.errors import RequestError
from otio_tools.interchange import write_in_format
from server.jobs import IdempotencyConflict, JobManager, JobRow, QueueFull
from server.paths import free_folder

log = logging.getLogger("shotforge.batch")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    name TEXT NOT NULL,
    out_dir TEXT NOT NULL,
    timeline TEXT NOT NULL,
    options TEXT NOT NULL,
    items TEXT NOT NULL,
    problems TEXT NOT NULL,
    state TEXT NOT NULL,
    result TEXT,
    created REAL NOT NULL
);
"""
#: columns added since the first schema: (name, declaration); added to an older database on open
_ADDED = (("idem_key", "TEXT"), ("body_hash", "TEXT"))
_ADDED_INDEXES = "CREATE UNIQUE INDEX IF NOT EXISTS batches_idem ON batches(idem_key) WHERE idem_key IS NOT NULL;"

#: job error codes after which an item is queued again on resume (the job never really ran)
_RETRY = ("interrupted",)


@dataclass
class Batch:
    id: str
    name: str
    out_dir: str
    timeline: str  # OTIO JSON
    options: dict
    items: list[dict]  # {key, where, operation, job_id | None, error | None}
    problems: list[dict]  # markers that ask for what cannot be done: {where, reason}
    state: str  # running | done
    result: dict | None


class BatchKeyConflict(IdempotencyConflict):
    """An idempotency key already used for a batch with a different body."""

    def __init__(self, key: str, batch_id: str):
        Exception.__init__(self, f"the Idempotency-Key {key!r} was already used for batch {batch_id} with a "
                                 "different request body; use a new key for a new request")
        self.key, self.batch_id = key, batch_id


def body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def new_batch_id() -> str:
    return "batch-" + time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)


class Batches:
    """Batches over one job manager: submit, resume after a restart, follow, finish."""

    def __init__(self, manager: JobManager):
        self.manager = manager
        self._store = manager.store
        self._finishing = threading.Lock()
        with self._store.locked() as db:
            db.executescript(_SCHEMA)
            have = {r[1] for r in db.execute("PRAGMA table_info(batches)")}
            for column, declaration in _ADDED:
                if column not in have:
                    db.execute(f"ALTER TABLE batches ADD COLUMN {column} {declaration}")
            db.executescript(_ADDED_INDEXES)
        manager.hub.add_callback(self._on_job)

    # -- records --------------------------------------------------------------------------------
    def get(self, batch_id: str) -> Batch | None:
        with self._store.locked() as db:
            row = db.execute("SELECT * FROM batches WHERE id=?", (batch_id,)).fetchone()
        return self._batch(row) if row else None

    def by_name(self, name: str) -> Batch | None:
        with self._store.locked() as db:
            row = db.execute("SELECT * FROM batches WHERE name=? ORDER BY seq DESC LIMIT 1", (name,)).fetchone()
        return self._batch(row) if row else None

    def replay(self, idempotency_key: str | None, body: bytes) -> Batch | None:
        """The batch an earlier create with this key made from this same body (None: the key is new);
        raises :class:`BatchKeyConflict` when that batch came from another body."""
        if not idempotency_key:
            return None
        with self._store.locked() as db:
            row = db.execute("SELECT * FROM batches WHERE idem_key=?", (idempotency_key,)).fetchone()
        if row is None:
            return None
        if row["body_hash"] != body_hash(body):
            raise BatchKeyConflict(idempotency_key, row["id"])
        return self._batch(row)

    def unfinished(self) -> list[Batch]:
        with self._store.locked() as db:
            rows = db.execute("SELECT * FROM batches WHERE state='running' ORDER BY seq").fetchall()
        return [self._batch(r) for r in rows]

    @staticmethod
    def _batch(row) -> Batch:
        return Batch(row["id"], row["name"], row["out_dir"], row["timeline"], json.loads(row["options"]),
                     json.loads(row["items"]), json.loads(row["problems"]), row["state"],
                     json.loads(row["result"]) if row["result"] else None)

    def _save(self, batch: Batch) -> None:
        with self._store.locked() as db:
            db.execute("UPDATE batches SET items=?, state=?, result=? WHERE id=?",
                       (json.dumps(batch.items), batch.state, json.dumps(batch.result) if batch.result else None,
                        batch.id))

    def _save_items(self, batch: Batch) -> None:
        """Only the items' job ids and errors: a worker may have finished the batch meanwhile (its
        state and result are not this copy's to write back)."""
        with self._store.locked() as db:
            db.execute("UPDATE batches SET items=? WHERE id=?", (json.dumps(batch.items), batch.id))

    # -- submitting -----------------------------------------------------------------------------
    def create(self, timeline: otio.schema.Timeline, out_dir: Path | None = None, *, fill_gaps_up_to: int = 0,
               tracks: list[int] | None = None, engine: str = "auto", name: str = "",
               source: tuple[str, str] | None = None) -> Batch:
        """As :meth:`create_once`, without an idempotency key."""
        return self.create_once(timeline, None, b"", out_dir, fill_gaps_up_to=fill_gaps_up_to, tracks=tracks,
                                engine=engine, name=name, source=source)[0]

    def create_once(self, timeline: otio.schema.Timeline, idempotency_key: str | None, body: bytes,
                    out_dir: Path | None = None, *, fill_gaps_up_to: int = 0, tracks: list[int] | None = None,
                    engine: str = "auto", name: str = "", source: tuple[str, str] | None = None) -> tuple[Batch, bool]:
        """(the new batch, True), or, for an ``idempotency_key`` already used with this same ``body``
        (the request as received), (that first batch, False).

        Record a batch and queue its items (results in ``out_dir``, default ``<output>/<batch id>``);
        an item refused at once (no clip there, missing media) is recorded with its error and the
        others still run. ``source`` (adapter, file) of an interchange timeline: the result is also
        written in that format. Raises RequestError for bad options, QueueFull (nothing recorded)
        when the queue is full already, BatchKeyConflict; once accepted, every item is queued."""
        first = self.replay(idempotency_key, body)
        if first is not None:
            return first, False
        try:
            board = find_items(timeline, fill_gaps_up_to=fill_gaps_up_to, tracks=tracks)
        except ValueError as exc:
            raise RequestError("no_such_track", str(exc)) from None
        if self.manager.store.count("queued") >= self.manager.max_queue:
            raise QueueFull(self.manager.max_queue)
        batch_id = new_batch_id()
        out_dir = Path(out_dir) if out_dir is not None else self.manager.output / batch_id
        items = [{"key": i.key, "where": i.where, "operation": i.operation, "request": i.request, "job_id": None,
                  "error": None} for i in board.items]
        problems = [{"where": p.where, "reason": p.reason} for p in board.problems]
        options = {"fill_gaps_up_to": fill_gaps_up_to, "tracks": tracks, "engine": engine,
                   "source": list(source) if source else None}
        try:
            with self._store.locked() as db:
                db.execute(
                    "INSERT INTO batches (id, name, out_dir, timeline, options, items, problems, state, created,"
                    " idem_key, body_hash) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (batch_id, name or batch_id, str(Path(out_dir).absolute()),
                     otio.adapters.write_to_string(timeline, "otio_json"), json.dumps(options), json.dumps(items),
                     json.dumps(problems), "running", time.time(), idempotency_key,
                     body_hash(body) if idempotency_key else None))
        except sqlite3.IntegrityError:  # the same key created at the same moment: that one won
            first = self.replay(idempotency_key, body)
            if first is None:
                raise
            return first, False
        batch = self.get(batch_id)
        self.resume(batch)
        return self.get(batch_id), True

    def resume(self, batch: Batch) -> None:
        """Queue every item that has no job, or whose job was interrupted; then finish if all are done."""
        timeline = otio.adapters.read_from_string(batch.timeline, "otio_json")
        changed = False
        for n, item in enumerate(batch.items):
            job = self.manager.get(item["job_id"]) if item["job_id"] else None
            if job is not None and not (job.state == "failed" and (job.error or {}).get("code") in _RETRY):
                continue
            if item["error"] is not None:
                continue  # refused when submitted: the same request would be refused again
            source = f"batch:{batch.id}:{item['key']}"
            waiting = [j for j in self.manager.store.by_source(source) if j.state in ("queued", "running", "done")]
            if waiting:  # queued just before a crash that came before its id was recorded
                item["job_id"] = waiting[-1].id
                changed = True
                continue
            request = timeline.deepcopy()
            request.metadata["shotforge"] = {"version": 1, "engine": batch.options.get("engine", "auto"),
                                             **item["request"]}
            # beside, not over, the items of an earlier batch into the same folder (its result names them)
            out = free_folder(Path(batch.out_dir) / "items" / f"{n:03d}-{_slug(item['key'])}")
            try:
                # the batch was accepted as one request: its items go past the queue bound
                row = self.manager.submit(otio.adapters.write_to_string(request, "otio_json"), source=source,
                                          source_name=item["where"], out_dir=out,
                                          meta={"batch": batch.id, "item": item["key"]}, bounded=False)
                item["job_id"] = row.id
            except RequestError as exc:
                item["error"] = exc.to_dict()
            changed = True
            self._save_items(batch)  # each id as soon as it exists: a crash loses none
        if changed:
            self._save_items(batch)
        self.finish_if_done(batch.id)

    def resume_all(self) -> None:
        for batch in self.unfinished():
            self.resume(batch)

    # -- following ------------------------------------------------------------------------------
    def item_jobs(self, batch: Batch) -> list[JobRow | None]:
        return [self.manager.get(item["job_id"]) if item["job_id"] else None for item in batch.items]

    def progress(self, batch: Batch) -> float:
        jobs = self.item_jobs(batch)
        if not jobs:
            return 1.0
        return sum(1.0 if (j is None or j.terminal) else j.progress for j in jobs) / len(jobs)

    def _on_job(self, row: Any) -> None:
        batch_id = (getattr(row, "meta", None) or {}).get("batch")
        if batch_id and row.terminal:
            self.finish_if_done(batch_id)

    def finish_if_done(self, batch_id: str) -> Batch | None:
        """When every item has finished: write result.otio and job.json, and mark the batch done."""
        with self._finishing:
            batch = self.get(batch_id)
            if batch is None or batch.state != "running":
                return batch
            jobs = self.item_jobs(batch)
            if any(j is not None and not j.terminal for j in jobs):
                return batch
            if any(j is None and item["error"] is None for j, item in zip(jobs, batch.items)):
                return batch  # not queued yet (resume is under way)
            if any(j is not None and j.state == "failed" and (j.error or {}).get("code") in _RETRY for j in jobs):
                return batch  # interrupted: resume queues it again
            batch.result = self._write_result(batch, jobs)
            batch.state = "done"
            self._save(batch)
            return batch

    def _write_result(self, batch: Batch, jobs: list[JobRow | None]) -> dict:
        timeline = otio.adapters.read_from_string(batch.timeline, "otio_json")
        results, failed, made = [], [], []
        for item, job in zip(batch.items, jobs):
            if job is None or job.state != "done":
                error = item["error"] or (job.error if job is not None else None) or {"code": "canceled",
                                                                                         "message": "not run"}
                failed.append({"item": item["key"], "where": item["where"], **error})
                continue
            made.append({"item": item["key"], "job_id": job.id, "takes": job.result.get("takes", [])})
            done = otio.adapters.read_from_file(job.result["otio"])
            results += [(clip_of(done, p), p) for p in job.result["placements"]]
        from server.render import _write_atomically  # (the one atomic writer of result files)

        placements = combine(timeline, results)
        timeline.metadata.pop("shotforge", None)
        out = Path(batch.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        result = {"otio": str(out / "result.otio"), "placements": placements, "items": made, "failed": failed,
                  "problems": batch.problems}
        _write_atomically(out / "result.otio", otio.adapters.write_to_string(timeline, "otio_json"))
        if batch.options.get("source"):
            adapter, source = batch.options["source"]
            result["interchange"] = write_in_format(timeline, adapter, source, out)
        _write_atomically(out / "job.json", json.dumps({"batch": batch.id, **batch.options, **result}, indent=2))
        return result


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")[:60] or "item"
