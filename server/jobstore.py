"""The SQLite job store: job records, one connection and one lock shared by every thread.

A record is the request (the OTIO JSON text as received), its state (queued → running → done |
failed | canceled), progress, stage, ``error {code, message}``, the result, and, for a submit
that carried an ``Idempotency-Key``, that key and a hash of the body (so a retried submit finds
its first job). Lists read every column but the request text (:data:`LIST_COLUMNS`): a list of
jobs never loads request bodies, however large they were.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATES = ("queued", "running", "done", "failed", "canceled")
TERMINAL = frozenset({"done", "failed", "canceled"})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    state TEXT NOT NULL,
    progress REAL NOT NULL DEFAULT 0,
    stage TEXT NOT NULL DEFAULT '',
    error_code TEXT,
    error_message TEXT,
    result TEXT,
    operation TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    source TEXT NOT NULL DEFAULT 'http',
    out_dir TEXT NOT NULL,
    base_dir TEXT,
    request TEXT NOT NULL,
    meta TEXT NOT NULL DEFAULT '{}',
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    updated REAL NOT NULL,
    version INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state, seq);
CREATE INDEX IF NOT EXISTS jobs_source ON jobs(source);
"""
#: columns added since the first schema: (name, declaration); added to an older database on open
_ADDED = (("idem_key", "TEXT"), ("body_hash", "TEXT"), ("retries", "INTEGER NOT NULL DEFAULT 0"))
_ADDED_INDEXES = "CREATE UNIQUE INDEX IF NOT EXISTS jobs_idem ON jobs(idem_key) WHERE idem_key IS NOT NULL;"
_COLUMNS = ("seq", "id", "state", "progress", "stage", "error_code", "error_message", "result", "operation",
            "description", "source", "out_dir", "base_dir", "meta", "created", "started", "finished", "updated",
            "version", "retries")
#: what lists select: everything a job record shows, the request text left out
LIST_COLUMNS = ", ".join(_COLUMNS) + ", '' AS request"


class QueueFull(Exception):
    def __init__(self, limit: int):
        super().__init__(f"the queue is full ({limit} jobs waiting); try again when some have finished")
        self.limit = limit


class AlreadyRunning(RuntimeError):
    """Another server process holds this data folder."""


@dataclass
class JobRow:
    id: str
    state: str
    progress: float
    stage: str
    error: dict | None
    result: dict | None
    operation: str
    description: str
    source: str
    out_dir: str
    base_dir: str | None
    request: str
    meta: dict
    created: float
    started: float | None
    finished: float | None
    updated: float
    version: int
    seq: int = 0
    idem_key: str | None = None
    body_hash: str | None = None
    retries: int = 0  # times it ran again: its farm worker was lost, or the server stopped under it

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    @classmethod
    def from_sql(cls, row: sqlite3.Row) -> "JobRow":
        d = dict(row)
        code, message = d.pop("error_code"), d.pop("error_message")
        d["error"] = {"code": code, "message": message or ""} if code else None
        d["result"] = json.loads(d["result"]) if d["result"] else None
        d["meta"] = json.loads(d["meta"] or "{}")
        return cls(**d)


def new_job_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)




class JobStore:
    """SQLite job records, safe to use from several threads (one connection, one lock)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=10)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        have = {r[1] for r in self._db.execute("PRAGMA table_info(jobs)")}
        for name, decl in _ADDED:
            if name not in have:
                self._db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {decl}")
        self._db.executescript(_ADDED_INDEXES)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def locked(self) -> Iterator[sqlite3.Connection]:
        """The store's one connection, under its lock: for the tables kept beside ``jobs`` in the same
        database (takes, batches) and for retention's queries over them."""
        with self._lock:
            yield self._db

    def _one(self, sql: str, args: tuple = ()) -> JobRow | None:
        row = self._db.execute(sql, args).fetchone()
        return JobRow.from_sql(row) if row else None

    def insert(self, row: JobRow, *, max_queued: int | None = None) -> JobRow:
        with self._lock:
            if max_queued is not None and self.count("queued") >= max_queued:
                raise QueueFull(max_queued)
            self._db.execute(
                "INSERT INTO jobs (id, state, progress, stage, operation, description, source, out_dir, base_dir,"
                " request, meta, created, updated, idem_key, body_hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (row.id, row.state, row.progress, row.stage, row.operation, row.description, row.source, row.out_dir,
                 row.base_dir, row.request, json.dumps(row.meta), row.created, row.updated, row.idem_key,
                 row.body_hash))
            return self.get(row.id)

    def by_idempotency_key(self, key: str) -> JobRow | None:
        with self._lock:
            return self._one(f"SELECT {LIST_COLUMNS}, idem_key, body_hash FROM jobs WHERE idem_key=?", (key,))

    def get(self, job_id: str) -> JobRow | None:
        """A job record without its request text (only the worker reads that, from :meth:`claim_next`)."""
        with self._lock:
            return self._one(f"SELECT {LIST_COLUMNS} FROM jobs WHERE id=?", (job_id,))

    def list(self, limit: int = 50, states: tuple[str, ...] = (), source_prefix: str | None = None) -> list[JobRow]:
        """Newest first, without the request text (``request`` is '')."""
        sql, args = f"SELECT {LIST_COLUMNS} FROM jobs", []
        where = []
        if states:
            where.append(f"state IN ({','.join('?' * len(states))})")
            args += list(states)
        if source_prefix:
            where.append("source LIKE ? ESCAPE '\\'")
            args.append(source_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY seq DESC LIMIT ?"
        args.append(limit)
        with self._lock:
            return [JobRow.from_sql(r) for r in self._db.execute(sql, args).fetchall()]

    def by_source(self, source: str) -> list[JobRow]:
        """The jobs of one source, oldest first, without the request text."""
        with self._lock:
            rows = self._db.execute(f"SELECT {LIST_COLUMNS} FROM jobs WHERE source=? ORDER BY seq",
                                    (source,)).fetchall()
            return [JobRow.from_sql(r) for r in rows]

    def count(self, *states: str) -> int:
        with self._lock:
            q = f"SELECT COUNT(*) FROM jobs WHERE state IN ({','.join('?' * len(states))})"
            return self._db.execute(q, states).fetchone()[0]

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall()
        out = {s: 0 for s in STATES}
        out.update({r[0]: r[1] for r in rows})
        return out

    def update(self, job_id: str, *, only_if_state: tuple[str, ...] = (), **values: Any) -> JobRow | None:
        """Change fields (``error`` as a dict or None, ``result`` as a dict); bump the version.

        With ``only_if_state`` the change happens only while the job is in one of those states;
        returns the new row, or None when nothing changed.
        """
        cols, args = [], []
        for key, value in values.items():
            if key == "error":
                cols += ["error_code=?", "error_message=?"]
                args += [value["code"], value["message"]] if value else [None, None]
            elif key in ("result", "meta"):
                cols.append(f"{key}=?")
                args.append(json.dumps(value) if value is not None else None)
            else:
                cols.append(f"{key}=?")
                args.append(value)
        cols += ["updated=?", "version=version+1"]
        args.append(time.time())
        sql = f"UPDATE jobs SET {', '.join(cols)} WHERE id=?"
        args.append(job_id)
        if only_if_state:
            sql += f" AND state IN ({','.join('?' * len(only_if_state))})"
            args += list(only_if_state)
        with self._lock:
            if self._db.execute(sql, args).rowcount == 0:
                return None
            return self.get(job_id)

    def claim_next(self) -> JobRow | None:
        """Atomically move the oldest queued job to running and return it."""
        now = time.time()
        with self._lock:
            row = self._db.execute(
                "UPDATE jobs SET state='running', stage='starting', progress=0, started=?, updated=?,"
                " version=version+1 WHERE seq=(SELECT seq FROM jobs WHERE state='queued' ORDER BY seq LIMIT 1)"
                " RETURNING *", (now, now)).fetchone()
            return JobRow.from_sql(row) if row else None

    def retried(self, job_id: str) -> JobRow | None:
        """Count one more run of a job (its worker was lost); returns the new row."""
        with self._lock:
            row = self._db.execute("UPDATE jobs SET retries=retries+1, updated=?, version=version+1 WHERE id=?"
                                   " RETURNING *", (time.time(), job_id)).fetchone()
            return JobRow.from_sql(row) if row else None

    def requeue_interrupted(self, max_retries: int) -> tuple[list[JobRow], list[JobRow]]:
        """Jobs left 'running' by a server that died, when their work ran on a farm (so it cannot be
        what killed the server): queued again, a retry counted, in their order; those already
        retried ``max_retries`` times are failed as :meth:`mark_interrupted` does. Returns (queued, failed)."""
        now = time.time()
        with self._lock:
            queued = self._db.execute(
                "UPDATE jobs SET state='queued', stage='queued', progress=0, started=NULL, retries=retries+1,"
                " updated=?, version=version+1 WHERE state='running' AND retries<? RETURNING *",
                (now, max_retries)).fetchall()
        return [JobRow.from_sql(r) for r in queued], self.mark_interrupted()

    def mark_interrupted(self) -> list[JobRow]:
        """Jobs left 'running' by a process that died: fail them with code ``interrupted``."""
        now = time.time()
        with self._lock:
            rows = self._db.execute(
                "UPDATE jobs SET state='failed', error_code='interrupted', error_message=?, stage='interrupted',"
                " finished=?, updated=?, version=version+1 WHERE state='running' RETURNING *",
                ("the server stopped while this job was running; submit it again", now, now)).fetchall()
            return [JobRow.from_sql(r) for r in rows]


