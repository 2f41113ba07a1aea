"""Job retention: finished job records are kept by age (``keep_jobs_days``) and by size
(``keep_jobs_gb``); rendered media stays unless the user opts in (``prune_outputs``).

What is removed, when pruning runs (at start and each time a job finishes):

* Only finished jobs (done, failed, canceled), oldest finish first; never a queued or running one.
* By age: those finished more than ``keep_jobs_days`` ago. By size: while the text of all job
  records (request, result, metadata, and their takes' recipes) is over ``keep_jobs_gb``.
* Always kept: the newest finished job (its client may still be reading it); the items of a batch
  still running (resuming it would render a missing one again); watch-folder jobs whose request
  file has not been moved to ``out/`` or ``failed/`` yet.
* A job's record goes with its takes' rows (each take's recipe is also in its media's tags and
  in ``result.otio``, which stay) and its ``Idempotency-Key`` (a re-render's key is its job's,
  and answers a retry while that record stays, the take it re-rendered gone or not). Batch
  records are not removed: a batch's key stays.

Outputs, and what "referenced by a timeline" can mean to a server: the editor's timelines live
in the editor, where the server cannot see them, and any rendered clip may be cut into one. So
by default **no rendered media is ever deleted**; removing records frees the database only.
With ``prune_outputs`` a removed job's output folder is deleted too, but only a folder inside the
server's output folder (never a watch folder's ``out/``), and not while the request of a kept job
names a path inside it: a later job made on a timeline that holds this result (a take re-rendered
next to it, an extend of it), whose take recipe references its media; nor a batch item's folder
(inside its batch's folder, whose ``result.otio`` names that media) while the batch record stays.

SQLite reuses the pages of removed records, so the database stops growing instead of shrinking.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from server.paths import PathMapper, is_within, path_to_file_url

log = logging.getLogger("shotforge.retention")

_FINISHED = "('done', 'failed', 'canceled')"
_SIZE = ("length(j.request) + length(coalesce(j.result, '')) + length(j.meta)"
         " + coalesce((SELECT SUM(length(t.recipe)) FROM takes t WHERE t.job_id = j.id), 0)")


class Retention:
    def __init__(self, manager: Any, *, keep_days: float | None, keep_bytes: int | None, prune_outputs: bool,
                 mapper: PathMapper | None = None):
        self.manager = manager
        self.keep_days, self.keep_bytes, self.prune_outputs = keep_days, keep_bytes, prune_outputs
        self.mapper = mapper or PathMapper()
        self._store = manager.store
        self._pruning = threading.Lock()

    @classmethod
    def from_settings(cls, manager: Any, settings: Any, mapper: PathMapper | None = None) -> "Retention":
        keep_bytes = int(settings.keep_jobs_gb * 1e9) if settings.keep_jobs_gb is not None else None
        return cls(manager, keep_days=settings.keep_jobs_days, keep_bytes=keep_bytes,
                   prune_outputs=settings.prune_outputs, mapper=mapper)

    def attach(self) -> None:
        """Prune each time a job finishes."""
        self.manager.hub.add_callback(self._on_job)

    def _on_job(self, row: Any) -> None:
        if row.terminal:
            self.prune()

    def prune(self, now: float | None = None) -> list[str]:
        """Remove what the rules allow; the ids of the job records removed."""
        if self.keep_days is None and self.keep_bytes is None:
            return []
        if not self._pruning.acquire(blocking=False):
            return []  # another thread is pruning now; what this finish adds is pruned next time
        try:
            return self._prune(time.time() if now is None else now)
        finally:
            self._pruning.release()

    def _prune(self, now: float) -> list[str]:
        with self._store.locked() as db:
            rows = db.execute(
                f"SELECT j.id, j.out_dir, j.meta, coalesce(j.finished, j.updated) AS ended, {_SIZE} AS size"
                f" FROM jobs j WHERE j.state IN {_FINISHED} ORDER BY ended, j.seq").fetchall()
            total = db.execute(f"SELECT coalesce(SUM({_SIZE}), 0) FROM jobs j").fetchone()[0]
            running_batches = self._running_batches()
        doomed: list[Any] = []
        for row in rows[:-1]:  # the newest finished job stays
            meta = json.loads(row["meta"] or "{}")
            if meta.get("batch") in running_batches or (meta.get("sha256") and not meta.get("finalized")):
                continue
            too_old = self.keep_days is not None and now - row["ended"] > self.keep_days * 86400
            too_big = self.keep_bytes is not None and total > self.keep_bytes
            if not (too_old or too_big):
                continue
            doomed.append(row)
            total -= row["size"]
        if not doomed:
            return []
        ids = [row["id"] for row in doomed]
        with self._store.locked() as db:
            for start in range(0, len(ids), 500):  # SQLite's limit on bound parameters
                chunk = ids[start:start + 500]
                marks = ",".join("?" * len(chunk))
                db.execute(f"DELETE FROM takes WHERE job_id IN ({marks})", chunk)
                db.execute(f"DELETE FROM jobs WHERE id IN ({marks})", chunk)
        log.info("retention: removed %d finished job record(s)", len(ids))
        if self.prune_outputs:
            for row in doomed:
                self._remove_output(Path(row["out_dir"]))
        return ids

    def _running_batches(self) -> set[str]:
        try:
            with self._store.locked() as db:
                return {r[0] for r in db.execute("SELECT id FROM batches WHERE state='running'")}
        except Exception:  # no batches table: this store never had a batch
            return set()

    def _remove_output(self, folder: Path) -> None:
        output = self.manager.output.resolve()
        if not folder.is_dir() or folder.resolve() == output or not is_within(folder.resolve(), output):
            return
        referrer = self._referrer(folder)
        if referrer is not None:
            log.info("retention: kept %s: %s names media in it", folder, referrer)
            return
        shutil.rmtree(folder, ignore_errors=True)

    def _referrer(self, folder: Path) -> str | None:
        """A kept batch whose folder holds ``folder``, or a kept job whose request names a path inside it, as
        this machine or the editor's names it."""
        needles = set()
        for path in {str(folder), self.mapper.to_editor(str(folder))}:
            for form in (path.rstrip("/\\") + ("\\" if "\\" in path and "/" not in path else os.sep),
                         path_to_file_url(path).rstrip("/") + "/"):
                needles.update({form, json.dumps(form)[1:-1]})  # as written, and as JSON escapes it
        with self._store.locked() as db:
            try:  # a batch's result.otio names its items' media, in its own folder
                batch = db.execute("SELECT id FROM batches WHERE substr(?, 1, length(out_dir) + 1) ="
                                   " out_dir || ? LIMIT 1", (str(folder), os.sep)).fetchone()
            except sqlite3.OperationalError:  # no batches table: this store never had a batch
                batch = None
            if batch:
                return f"batch {batch[0]}"
            for needle in needles:
                hit = db.execute("SELECT id FROM jobs WHERE instr(request, ?) > 0 LIMIT 1",
                                 (needle,)).fetchone()
                if hit:
                    return f"job {hit[0]}"
        return None
