"""Durable jobs: a SQLite job store, a bounded queue and the worker(s) that render.

Job records live in ``<data dir>/jobs.sqlite`` (stdlib ``sqlite3``, WAL journal). A record is
the request (the OTIO JSON text as received), its state (queued → running → done | failed |
canceled), progress 0..1, a stage name, ``error {code, message}`` and the result. Every change
bumps ``version``; the :class:`~server.progress.EventHub` hands each new version to server-sent-event streams.

Decisions (also in the server's README-level docs, :mod:`server.app`):

* **Validation up front, the slow part in the job.** :meth:`JobManager.submit` checks the JSON,
  parses the request, checks its bounds (:mod:`server.limits`) and runs the planner
  (``server.render.plan_job``: it reads the timeline, locates media inside the roots and probes
  media headers) before anything is queued, so a request that cannot work is refused with its
  reason (and its 4xx status) instead of becoming a job that fails later. One probe is slow:
  media whose container does not state its frame count (Matroska/WebM, MPEG streams, some AVI)
  is counted by decoding every frame. Submit does not wait for that: once such a file is found
  (located, its container allowed), the job is queued with the checks made so far, and the
  worker plans it in full; media that turns out bad fails the job with the same error code
  (``media_unreadable``, ``frame_out_of_range``, ...). Probes are cached by (path, size, mtime),
  so the next submit naming the same file plans in full at once. The worker always plans again
  from the stored text when the job starts (the plan is not persisted; media may have changed),
  and checks the job's memory and disk estimate again.
* **Idempotent submits.** A submit with an ``idempotency_key`` is stored with that key and a
  hash of its text; the same key again with the same text returns the first job (not a new
  one), with a different text it raises :class:`IdempotencyConflict`. Keys live as long as the
  job's record (see :mod:`server.retention`).
* **Restart policy.** A job still ``running`` in the database when the server starts was
  running when the server *died*: it is marked ``failed`` with code ``interrupted`` and its
  output folder removed, not re-run, so a job that crashes the process (out of GPU memory, a
  decoder fault) cannot crash it again at every start. With a render farm (``backend``, see
  :mod:`server.farm`) the engines ran on the workers, not in the server: such a job is queued
  again (its folder removed, a retry counted) until it has been retried ``ray_max_retries``
  times. Queued jobs are kept and run. On a *graceful* stop (Ctrl-C, SIGTERM) the running job is
  stopped through its cancel flag and put back in the queue, so it runs again on the next start.
* **The farm.** With a ``backend`` the manager runs one worker thread per engine host of the
  cluster (more as hosts are added), and gives each job's ``run_job`` the backend's engine
  builder; a worker lost mid-job is run again elsewhere by the builder and counted in the job's
  ``retries``.
* **Output folders.** Each job writes to its own folder, ``<output>/<job id>/`` for HTTP jobs
  and ``<watch>/out/<name>/`` for watch folder jobs; a job that fails or is canceled leaves no
  folder behind.
* **One worker** by default (``workers``): the GPU is the bottleneck. Workers are threads, so
  the HTTP event loop stays free while rendering. The queue is bounded (``max_queue`` queued
  jobs); :class:`QueueFull` becomes HTTP 429. A batch is refused when the queue is full; once
  accepted, its items are queued past the bound (each item is part of one accepted request).
* **Cancel.** A queued job is canceled at once (an atomic state change). A running job gets its
  ``cancel_event`` set; engines check it between frames and ``run_job`` raises ``Canceled``
  having removed what it wrote. One that does not stop within ``cancel_grace`` seconds (a model
  load or a driver call that never returns cannot be interrupted in a thread) is marked canceled
  anyway, its output folder removed, and its worker thread left behind: a new worker takes the
  queue, and the one left behind ends when its call returns, never taking another job.
* **Takes.** A done job's takes are read back from the media it wrote and recorded in the
  ``takes`` table (:mod:`server.takes`); the result names them (``result.takes``).
* **One process per data folder.** The server holds an exclusive lock on
  ``<data dir>/server.lock``; a second server on the same folder refuses to start.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import sqlite3
import shutil
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from otio_tools.errors import RequestError, ShotForgeError
from server.jobstore import STATES, TERMINAL, AlreadyRunning, JobRow, JobStore, QueueFull, new_job_id
from server.limits import Limits
from server.progress import EventHub
from server.takes import TakeStore

__all__ = ["STATES", "TERMINAL", "AlreadyRunning", "FolderLock", "IdempotencyConflict", "JobManager", "JobRow",
           "JobStore", "QueueFull", "new_job_id"]

log = logging.getLogger("shotforge.jobs")

#: deepest JSON nesting a request may have (a plain request nests about 12 levels, each compound
#: clip about 6 more); far below what the JSON and OTIO readers survive
MAX_JSON_DEPTH = 128
_JSON_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")  # an escape for NUL, not an escaped backslash before 'u0000'
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')


def json_depth(text: str) -> int:
    """How deep ``[`` and ``{`` nest in JSON text (brackets inside strings not counted), without
    recursion: a hostile body cannot exhaust the stack by being measured."""
    skeleton = np.frombuffer(_JSON_STRING.sub("", text).encode("utf-8", "replace"), np.uint8)
    steps = np.isin(skeleton, (ord("["), ord("{"))).astype(np.int32) - np.isin(skeleton, (ord("]"), ord("}")))
    return int(np.cumsum(steps).max(initial=0))


def _default_renderer():
    from server import render  # lazy: media and engine imports only when a server starts

    return render


def plan_frames(plan: Any) -> int | None:
    """How many frames a plan makes, whatever shape the planner gives it."""
    for obj in (plan, getattr(plan, "plan", None)):
        for name in ("make", "frames", "total_frames"):
            value = getattr(obj, name, None) if obj is not None else None
            if isinstance(value, int) and not isinstance(value, bool):
                return value
    return None


class IdempotencyConflict(Exception):
    """An idempotency key already used for a different request body."""

    def __init__(self, key: str, job_id: str):
        super().__init__(f"the Idempotency-Key {key!r} was already used for job {job_id} with a different request "
                         "body; use a new key for a new request")
        self.key, self.job_id = key, job_id


_COUNTED_KEPT = 128  # as many as server.media_probe's probe cache holds


class _Deferred(Exception):
    """Planning stopped at media whose frames can only be counted by decoding them all."""


def _file_key(path: str) -> tuple[str, int, int] | None:
    """(path, size, mtime) as the media probe caches by; None when the file cannot be read."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return path, st.st_size, st.st_mtime_ns


def _counting_decodes(path: str) -> bool:
    """Whether probing ``path`` would decode every frame: its container is one ShotForge reads but
    does not state the frame count. False when the file cannot be opened: the probe says why, at once."""
    import av

    from server.media_formats import identify, open_options

    try:
        container = identify(path)
        if container.demuxer is None:
            return False
        with av.open(path, "r", format=container.demuxer, options=open_options(container.demuxer)) as media:
            return bool(media.streams.video) and media.streams.video[0].frames <= 0
    except (OSError, av.FFmpegError):
        return False


@dataclass
class _Running:
    cancel: threading.Event = field(default_factory=threading.Event)
    user_canceled: bool = False
    worker: threading.Thread = field(default_factory=threading.current_thread)


class JobManager:
    """The queue, the workers and the rules for submitting, canceling and recovering jobs.

    ``renderer`` is anything with ``plan_job`` and ``run_job`` as in :mod:`server.render`
    (the default; tests of the queue mechanics may pass a fake). ``locate_media(ref, base_dir, where)``
    is the server's media policy (:class:`server.paths.MediaPolicy.locate`).
    """

    def __init__(self, store: JobStore, output: Path, *, locate_media: Callable[[str, Path | None, str | None], str],
                 workers: int = 1, max_queue: int = 32, limits: Limits | None = None,
                 output_format: str = "prores", renderer: Any = None, progress_interval: float = 0.1,
                 backend: Any = None, cancel_grace: float = 30.0):
        self.store = store
        self.takes = TakeStore(store)
        self.output = Path(output)
        self.locate_media = locate_media
        self.workers = workers
        self.max_queue = max_queue
        self.limits = limits or Limits()
        #: media whose frames a job's planning counted, by (path, size, mtime): the probe cache has them
        self._counted: OrderedDict[tuple[str, int, int], bool] = OrderedDict()
        self.output_format = output_format
        self._renderer = renderer
        self.progress_interval = progress_interval
        self.cancel_grace = cancel_grace
        self.backend: Any = None
        self.max_retries = 0
        self.hub = EventHub()
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._running: dict[str, _Running] = {}
        self._threads: list[threading.Thread] = []
        self._started_workers = 0  # worker threads ever started: each one's name
        self._stopping = False
        self.started_at = time.time()
        if backend is not None:
            self.use_backend(backend)

    def use_backend(self, backend: Any) -> None:
        """Run jobs' engines on ``backend`` (a :class:`server.farm.Farm`) instead of in this process."""
        self.backend = backend
        self.max_retries = backend.max_retries

    @property
    def renderer(self):
        if self._renderer is None:
            self._renderer = _default_renderer()
        return self._renderer

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> list[JobRow]:
        """Recover from a previous run and start the workers; returns the jobs marked interrupted."""
        if self.backend is not None:
            requeued, interrupted = self.store.requeue_interrupted(self.max_retries)
        else:
            requeued, interrupted = [], self.store.mark_interrupted()
        for row in requeued:
            log.warning("job %s was running when the server stopped; queued again (retry %d)", row.id, row.retries)
        for row in interrupted:
            log.warning("job %s was running when the server stopped; marked failed (interrupted)", row.id)
        for row in requeued + interrupted:
            self._remove_output(row)
            self.takes.forget_job(row.id)  # killed between recording its takes and 'done'
            self.hub.publish(row)
        self._stopping = False
        if self.backend is not None:
            self.workers = max(1, self.backend.slots())
            self.backend.on_capacity(self.ensure_workers)
        self.ensure_workers(self.workers)
        return interrupted

    def ensure_workers(self, count: int) -> None:
        """Run at least ``count`` worker threads (a farm's cluster grew)."""
        with self._lock:
            if self._stopping:
                return
            self.workers = max(self.workers, count)
            while len(self._threads) < self.workers:
                t = threading.Thread(target=self._work, name=f"shotforge-worker-{self._started_workers}", daemon=True)
                self._started_workers += 1
                t.start()
                self._threads.append(t)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the workers; a running job is stopped and put back in the queue for the next start."""
        with self._lock:
            self._stopping = True
            for running in self._running.values():
                running.cancel.set()
            self._wake.notify_all()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        self._threads = [t for t in self._threads if t.is_alive()]

    @property
    def stopping(self) -> bool:
        return self._stopping

    # -- submitting -----------------------------------------------------------------------------
    @staticmethod
    def check_json(text: str, source_name: str) -> None:
        """Refuse what JSON itself forbids (NaN, Infinity, numbers beyond a float) and nesting
        deeper than :data:`MAX_JSON_DEPTH`, and NUL characters, before OTIO or the planner read the text. Text that
        is not JSON at all is left to the OTIO reader, which says what is wrong with it."""
        depth = json_depth(text)
        if depth > MAX_JSON_DEPTH:
            raise RequestError("malformed_otio", f"{source_name} nests {depth} levels deep; a request nests at "
                                                 f"most {MAX_JSON_DEPTH}")

        if _JSON_NUL.search(text):  # OTIO would cut the text there: a path would name another file
            raise RequestError("malformed_otio", f"{source_name} has a NUL character (\\u0000) in a text; no "
                                                 "name, path or prompt holds one")

        def constant(name: str) -> float:
            raise RequestError("malformed_otio", f"{source_name} has {name} where a number must be; JSON numbers "
                                                 "are finite")

        def number(literal: str) -> float:
            value = float(literal)
            if not math.isfinite(value):
                raise RequestError("malformed_otio", f"{source_name} has the number {literal[:40]}, too large for "
                                                     "any time, rate or size")
            return value

        try:
            # long integers go through float too: Python refuses ints over 4300 digits with a ValueError
            json.loads(text, parse_constant=constant, parse_float=number,
                       parse_int=lambda literal: number(literal) if len(literal) > 18 else int(literal))
        except json.JSONDecodeError:
            pass

    def validate(self, text: str | bytes, *, source_name: str = "request body",
                 base_dir: Path | None = None) -> tuple[Any, Any, Any]:
        """Parse, bound and plan a request now, media probed in full; raise :class:`RequestError`."""
        return self._validate(text, source_name, base_dir, defer=False)

    def _validate(self, text: str | bytes, source_name: str, base_dir: Path | None, *,
                  defer: bool) -> tuple[Any, Any, Any]:
        """As :meth:`validate`; with ``defer``, the plan is None when it needs media counted by decoding."""
        from otio_tools.request import parse_request_json

        timeline, request = parse_request_json(text, source_name)
        self.limits.check_request(request)

        def locate(ref: str, where: str | None = None) -> str:
            local = self.locate_media(ref, base_dir, where)
            if defer and self._counted.get(_file_key(local)) is None and _counting_decodes(local):
                raise _Deferred(local)
            return local

        try:
            plan = self.renderer.plan_job(timeline, request, locate_media=locate)
        except _Deferred as deferred:
            log.info("%s: %s is counted by decoding it; planned when the job starts", source_name, deferred)
            return timeline, request, None
        self.check_plan(request, plan)
        return timeline, request, plan

    def check_plan(self, request: Any, plan: Any) -> None:
        """A planned job against the bounds, and its memory and disk estimate (when the renderer makes one)."""
        inner = getattr(plan, "plan", None)
        self.limits.check_plan(request, plan_frames(plan), getattr(inner, "size", None))
        estimate = getattr(self.renderer, "estimate_job", None)
        if estimate is not None:
            self.limits.check_resources(estimate(plan, self.output_format), self.output)

    def submit(self, text: str | bytes, *, source: str = "http", source_name: str = "request body",
               out_dir: Path | None = None, base_dir: Path | None = None, meta: dict | None = None,
               bounded: bool = True) -> JobRow:
        """Validate and queue a request; raise :class:`RequestError` or :class:`QueueFull`. Not
        ``bounded``: queued past ``max_queue`` (an item of a batch accepted as a whole)."""
        return self.submit_once(text, None, source=source, source_name=source_name, out_dir=out_dir,
                                base_dir=base_dir, meta=meta, bounded=bounded)[0]

    def submit_once(self, text: str | bytes, idempotency_key: str | None, *, source: str = "http",
                    source_name: str = "request body", out_dir: Path | None = None, base_dir: Path | None = None,
                    meta: dict | None = None, bounded: bool = True) -> tuple[JobRow, bool]:
        """As :meth:`submit`: (the new job, True), or, for an ``idempotency_key`` already used with
        this same text, (that first job, False); raises :class:`IdempotencyConflict` for the key
        used with another text."""
        if isinstance(text, bytes):
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError:
                raise RequestError("malformed_otio", f"{source_name} is not UTF-8 text") from None
        body_hash = hashlib.sha256(text.encode("utf-8")).hexdigest() if idempotency_key else None
        if idempotency_key:
            first = self._replay(idempotency_key, body_hash)
            if first is not None:
                return first, False
        if bounded and self.store.count("queued") >= self.max_queue:  # cheap early refusal before planning
            raise QueueFull(self.max_queue)
        self.check_json(text, source_name)
        _, request, _ = self._validate(text, source_name, base_dir, defer=True)
        job_id = new_job_id()
        now = time.time()
        row = JobRow(id=job_id, state="queued", progress=0.0, stage="queued", error=None, result=None,
                     operation=request.operation, description=request.describe(), source=source,
                     out_dir=str(out_dir or self.output / job_id), base_dir=str(base_dir) if base_dir else None,
                     request=text, meta=meta or {}, created=now, started=None, finished=None, updated=now, version=1,
                     idem_key=idempotency_key, body_hash=body_hash)
        try:
            row = self.store.insert(row, max_queued=self.max_queue if bounded else None)
        except sqlite3.IntegrityError:  # the same key submitted at the same moment: that one won
            first = self._replay(idempotency_key, body_hash) if idempotency_key else None
            if first is None:
                raise
            return first, False
        self.hub.publish(row)
        with self._lock:
            self._wake.notify()
        return row, True

    def _replay(self, key: str, body_hash: str | None) -> JobRow | None:
        first = self.store.by_idempotency_key(key)
        if first is not None and first.body_hash != body_hash:
            raise IdempotencyConflict(key, first.id)
        return first

    # -- canceling ------------------------------------------------------------------------------
    def cancel(self, job_id: str) -> JobRow | None:
        """Cancel a job: a queued one at once, a running one through its cancel flag."""
        with self._lock:
            row = self.store.update(job_id, only_if_state=("queued",), state="canceled", stage="canceled",
                                    finished=time.time(),
                                    error={"code": "canceled", "message": "canceled before it started"})
            if row is None:
                running = self._running.get(job_id)
                if running is not None:
                    running.user_canceled = True
                    running.cancel.set()
                    row = self.store.update(job_id, only_if_state=("running",), stage="canceling")
                    grace = threading.Timer(self.cancel_grace, self._abandon, (job_id, running))
                    grace.daemon = True
                    grace.start()
        if row is not None:
            self.hub.publish(row)
        return self.store.get(job_id)

    def _abandon(self, job_id: str, running: _Running) -> None:
        """A canceled job still running after :attr:`cancel_grace`: canceled now, its worker left behind and replaced."""
        with self._lock:
            if self._running.get(job_id) is not running:
                return  # it stopped in time
            del self._running[job_id]
            if running.worker in self._threads:
                self._threads.remove(running.worker)
            row = self.store.update(job_id, only_if_state=("running",), state="canceled", stage="canceled",
                                    finished=time.time(), error={
                                        "code": "canceled", "message": f"canceled; the engine did not stop within "
                                        f"{self.cancel_grace:g} s, so its worker was left to end on its own"})
        if row is None:
            return
        log.warning("job %s: the engine did not stop within %g s of its cancel; its worker thread %s is left "
                    "behind and a new one takes the queue", job_id, self.cancel_grace, running.worker.name)
        self._remove_output(row)
        self.hub.publish(row)
        self.ensure_workers(self.workers)

    # -- the worker -----------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self._lock:
                if self._stopping or threading.current_thread() not in self._threads:
                    return  # stopping, or left behind by a cancel it did not answer (another took its place)
                row = self.store.claim_next()
                if row is None:
                    self._wake.wait(timeout=1.0)
                    continue
                running = _Running()
                self._running[row.id] = running
            try:
                self.hub.publish(row)
                self._run(row, running)
            except Exception:  # the worker survives anything
                log.exception("worker failed on job %s", row.id)
                self._finish(row, "failed", error={"code": "internal_error", "message": "the server failed on this "
                                                   "job; see the server log"})
            finally:
                with self._lock:
                    if self._running.get(row.id) is running:
                        del self._running[row.id]

    def _run(self, row: JobRow, running: _Running) -> None:
        from server.engines.base import Canceled, EngineUnavailable

        out_dir = Path(row.out_dir)
        last = {"t": 0.0, "p": 0.0, "stage": "starting"}

        def on_progress(fraction: float, stage: str) -> None:
            fraction = max(last["p"], min(1.0, max(0.0, float(fraction))))  # never goes backwards
            now = time.monotonic()
            changed = stage != last["stage"] or fraction - last["p"] >= 0.01
            if not changed or (now - last["t"] < self.progress_interval and fraction < 1.0):
                return  # at most one event per interval, and only for a visible change
            last.update(t=now, p=fraction, stage=stage)
            if running.cancel.is_set():
                return  # the record says "canceling" now; don't overwrite it
            self.hub.publish(self.store.update(row.id, only_if_state=("running",), progress=fraction, stage=stage))

        try:
            if running.cancel.is_set():
                raise Canceled()
            from otio_tools.request import parse_request_json

            base = Path(row.base_dir) if row.base_dir else None
            on_progress(0.0, "planning")
            timeline, request = parse_request_json(row.request, f"job {row.id}")
            located: list[str] = []

            def locate(ref: str, where: str | None = None) -> str:
                located.append(self.locate_media(ref, base, where))
                return located[-1]

            plan = self.renderer.plan_job(timeline, request, locate_media=locate)
            self._remember_counted(located)
            self.check_plan(request, plan)  # deferred planning's bounds, and the disk as it is now
            if running.cancel.is_set():
                raise Canceled()
            out_dir.mkdir(parents=True, exist_ok=True)
            farm = {}
            if self.backend is not None:
                farm["engines"] = engines = self.backend.engines_for(
                    running.cancel, lambda: self._retried(row), lambda: on_progress(0.0, "waiting for a worker"))
            try:
                outcome = self.renderer.run_job(plan, out_dir, on_progress=on_progress, cancel_event=running.cancel,
                                                output_format=self.output_format, **farm)
            finally:
                if farm:
                    engines.close()
            if running.user_canceled:  # the engine finished past its cancel: the editor asked for nothing
                raise Canceled()
        except Canceled:
            self._remove_output(row)
            if running.user_canceled or not self._stopping:
                self._finish(row, "canceled", error={"code": "canceled", "message": "canceled while rendering"})
            else:  # graceful shutdown: run it again on the next start
                self.hub.publish(self.store.update(row.id, state="queued", progress=0.0, stage="queued",
                                                   started=None))
            return
        except ShotForgeError as exc:  # the request or its media: the message names the problem
            self._remove_output(row)
            self._finish(row, "failed", error=exc.to_dict())
            return
        except EngineUnavailable as exc:
            self._remove_output(row)
            self._finish(row, "failed", error={"code": "engine_unavailable",
                                               "message": f"the {exc.engine} engine cannot run here: {exc.reason}"})
            return
        except Exception as exc:
            log.exception("job %s failed", row.id)
            self._remove_output(row)
            self._finish(row, "failed", error={"code": "internal_error", "message": f"{type(exc).__name__}: {exc}"})
            return
        result = outcome.to_dict() if hasattr(outcome, "to_dict") else dict(outcome)
        result["takes"] = self.takes.record_result(row.id, result)  # read back from the media written
        self._finish(row, "done", result=result, progress=1.0)

    def _retried(self, row: JobRow) -> None:
        """The farm ran this job's engine call again (its worker was lost): count it in the record."""
        self.hub.publish(self.store.retried(row.id))

    def _remember_counted(self, paths: list[str]) -> None:
        """Media just probed in full: a submit naming it again plans in full at once (the probe is cached)."""
        with self._lock:
            for key in filter(None, map(_file_key, paths)):
                self._counted[key] = True
                self._counted.move_to_end(key)
            while len(self._counted) > _COUNTED_KEPT:
                self._counted.popitem(last=False)

    def _finish(self, row: JobRow, state: str, **values: Any) -> None:
        values.setdefault("error", None)
        new = self.store.update(row.id, only_if_state=("running",), state=state, stage=state,
                                finished=time.time(), **values)
        self.hub.publish(new)

    def _remove_output(self, row: JobRow) -> None:
        """Remove a job's own output folder (never anything above it)."""
        path = Path(row.out_dir)
        if path.is_dir() and path.resolve() != self.output.resolve():
            shutil.rmtree(path, ignore_errors=True)

    # -- reading --------------------------------------------------------------------------------
    def get(self, job_id: str) -> JobRow | None:
        return self.store.get(job_id)

    def list(self, limit: int = 50, states: tuple[str, ...] = ()) -> list[JobRow]:
        return self.store.list(limit=limit, states=states)

    def running_ids(self) -> list[str]:
        with self._lock:
            return list(self._running)


class FolderLock:
    """An exclusive, process-lifetime lock file (released by the OS if the process dies)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._fh = None

    def acquire(self) -> "FolderLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+")
        try:
            if os.name == "nt":  # pragma: no cover
                import msvcrt

                msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            raise AlreadyRunning(f"another ShotForge server or watcher is using {self.path.parent}") from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._fh = fh
        return self

    def release(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
