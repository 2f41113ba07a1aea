"""The watch folder (hot folder): drop a request ``.otio`` into ``DIR/in/`` and it runs once.

Layout::

    DIR/in/NAME.otio         requests waiting (written by an editor, a script, a render farm)
    DIR/out/NAME/            results of NAME: the media, result.otio, job.json, and request.otio
                             (the request file, moved there when the job is done)
    DIR/failed/NAME.json     why NAME failed ({"error": {code, message}, "job": ..., ...}),
    DIR/failed/NAME.otio     and the request file itself, moved out of in/

Rules:

* Only ``*.otio`` files directly in ``in/`` are read; names starting with ``.`` or ``~`` are
  ignored (write under such a temporary name and rename for an instant hand-over).
* A file is read only when it is *stable*: same size and modification time on two looks at
  least ``settle`` seconds apart (default 1 s) and openable. A file that is stable but not yet
  valid JSON and was modified in the last ``grace`` seconds (default 10 s) is looked at again
  later rather than failed, in case its writer paused.
* watchdog events wake the watcher; a rescan every ``rescan`` seconds (default 2 s) also finds
  files whose events were missed (network shares) and files dropped while nothing was running.
* "Once": a request file stays in ``in/`` while its job is queued or running and is moved out
  (to ``out/NAME/request.otio`` or ``failed/NAME.otio``) when the job ends. The job database
  remembers the file (path + SHA-256, and whether it was moved out) so a restart neither runs
  it twice nor forgets it: a queued job simply runs, a job that ended just before a crash is
  only moved out, a job that was running when the process died is failed (``interrupted``)
  and reported in ``failed/``. The same file dropped again later is a new request.
* A request that fails for any reason (refused when read, failed while rendering, a fault of
  the server's own, unreadable for longer than ``grace``) leaves ``in/`` for ``failed/`` with
  its report; a fault of the server's is reported with code ``internal``, its traceback logged.
* If ``out/NAME/`` already exists (the same name dropped again), results go to ``out/NAME-2/``,
  ``out/NAME-3/``... ``failed/NAME.json`` is replaced by the newest failure.
* Media paths in a watch request may be relative to ``in/``; the same media roots and path
  mapping as for HTTP requests apply.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
import time
from pathlib import Path

from otio_tools.errors import RequestError
from server.jobs import TERMINAL, JobManager, JobRow, QueueFull

log = logging.getLogger("shotforge.watch")

SOURCE_PREFIX = "watch:"


def internal_error(exc: BaseException) -> dict:
    """The error of a failure that is the server's fault; the traceback is in the log."""
    return {"code": "internal", "message": f"the server failed on this request ({type(exc).__name__}); "
                                           "the server log has the details"}


class _StopNoise(logging.Filter):
    """watchdog's inotify emitter logs an error when it is stopped while waiting for events (a
    race in watchdog itself, harmless); drop that one message, only while a watcher stops."""

    stopping = 0

    def filter(self, record: logging.LogRecord) -> bool:
        return not (self.stopping and "called when the thread is inactive" in record.getMessage())


_stop_noise = _StopNoise()
logging.getLogger("watchdog.observers.inotify").addFilter(_stop_noise)


def _atomic_write(path: Path, text: str) -> None:
    temp = path.with_name(f".{path.name}.part")
    temp.write_text(text, encoding="utf-8")
    os.replace(temp, path)


class WatchFolder:
    def __init__(self, root: Path, manager: JobManager, *, settle: float = 1.0, grace: float = 10.0,
                 rescan: float = 2.0):
        self.root = Path(os.path.abspath(root))
        self.inbox, self.outbox, self.failed = self.root / "in", self.root / "out", self.root / "failed"
        self.manager = manager
        self.settle, self.grace, self.rescan = settle, grace, rescan
        self._seen: dict[Path, tuple[int, int, float]] = {}  # path -> (size, mtime_ns, first seen stable at)
        self._busy: set[Path] = set()  # files with a job in flight
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._observer = None
        self.results: dict[str, str] = {}  # request file name -> final state, for this process's lifetime

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        for d in (self.inbox, self.outbox, self.failed):
            d.mkdir(parents=True, exist_ok=True)
        self.manager.hub.add_callback(self._on_job)
        self._recover()
        try:
            from watchdog.events import FileSystemEventHandler
            from watchdog.observers import Observer

            wake = self._wake

            class _Handler(FileSystemEventHandler):
                def on_any_event(self, event):
                    wake.set()

            self._observer = Observer()
            self._observer.schedule(_Handler(), str(self.inbox), recursive=False)
            self._observer.daemon = True
            self._observer.start()
        except Exception as exc:  # polling alone still works
            log.warning("watchdog cannot watch %s (%s); polling every %.0f s", self.inbox, exc, self.rescan)
            self._observer = None
        self._thread = threading.Thread(target=self._loop, name="shotforge-watch", daemon=True)
        self._thread.start()
        log.info("watching %s", self.inbox)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._observer is not None:
            _stop_noise.stopping += 1
            try:
                self._observer.stop()
                self._observer.join(timeout=5)
            finally:
                _stop_noise.stopping -= 1
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.manager.hub.remove_callback(self._on_job)

    def busy(self) -> bool:
        """Whether any request from in/ is still queued or running (or waiting to settle)."""
        with self._lock:
            return bool(self._busy) or any(self._candidates())

    # -- scanning -------------------------------------------------------------------------------
    def _candidates(self) -> list[Path]:
        try:
            entries = list(os.scandir(self.inbox))
        except FileNotFoundError:
            return []
        return sorted(Path(e.path) for e in entries
                      if e.name.lower().endswith(".otio") and not e.name.startswith((".", "~")) and e.is_file())

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.scan()
            except Exception:
                log.exception("watch folder scan failed")
            self._wake.wait(timeout=min(self.rescan, self.settle / 2 if self._seen else self.rescan))
            self._wake.clear()

    def scan(self) -> None:
        now = time.monotonic()
        present = set()
        for path in self._candidates():
            present.add(path)
            with self._lock:
                if path in self._busy:
                    continue
            try:
                st = path.stat()
            except OSError:
                continue
            key = (st.st_size, st.st_mtime_ns)
            prev = self._seen.get(path)
            if prev is None or prev[:2] != key:
                self._seen[path] = (*key, now)
                continue
            if now - prev[2] < self.settle:
                continue
            self._take(path, st)
        for gone in set(self._seen) - present:
            self._seen.pop(gone, None)

    def _take(self, path: Path, st: os.stat_result) -> None:
        try:
            data = path.read_bytes()
        except OSError as exc:  # still locked by its writer (Windows), just removed, or never readable
            if path.exists() and time.time() - st.st_mtime >= self.grace:
                self._seen.pop(path, None)
                self._report_failure(path, path.stem, {"code": "request_unreadable", "message":
                                     f"{path.name} cannot be read: {exc.strerror or exc}"}, job_id=None)
            return
        if len(data) != st.st_size:
            self._seen.pop(path, None)
            return
        digest = hashlib.sha256(data).hexdigest()
        source = SOURCE_PREFIX + str(path)
        for row in reversed(self.manager.store.by_source(source)):
            if row.meta.get("sha256") != digest or row.meta.get("finalized"):
                continue  # another file of that name, or this one dropped again after it was handled
            if row.terminal:  # finished before a crash, but the file was not moved yet
                self._finalize(row)
            else:
                with self._lock:
                    self._busy.add(path)
            self._seen.pop(path, None)
            return
        name = path.stem
        out_dir = self._free_out_dir(name)
        with self._lock:
            self._busy.add(path)  # before submitting: the job may end before submit returns
        try:
            row = self.manager.submit(data, source=source, source_name=path.name, out_dir=out_dir,
                                      base_dir=self.inbox, meta={"sha256": digest, "watch_name": name})
        except QueueFull:
            with self._lock:
                self._busy.discard(path)
            return  # try again at the next scan
        except RequestError as exc:
            with self._lock:
                self._busy.discard(path)
            age = time.time() - st.st_mtime
            if exc.code == "malformed_otio" and age < self.grace:
                return  # perhaps still being written: look again later
            self._seen.pop(path, None)
            self._report_failure(path, name, exc.to_dict(), job_id=None)
            return
        except Exception as exc:  # a fault of ours, not the request's: it still must not stay in in/
            log.exception("watch: %s could not be submitted", path.name)
            with self._lock:
                self._busy.discard(path)
            self._seen.pop(path, None)
            self._report_failure(path, name, internal_error(exc), job_id=None)
            return
        self._seen.pop(path, None)
        log.info("watch: %s queued as job %s", path.name, row.id)

    def _free_out_dir(self, name: str) -> Path:
        taken = {Path(r.out_dir) for r in self.manager.store.list(limit=100000, states=("queued", "running"),
                                                                  source_prefix=SOURCE_PREFIX)}
        candidate, n = self.outbox / name, 1
        while candidate.exists() or candidate in taken:
            n += 1
            candidate = self.outbox / f"{name}-{n}"
        return candidate

    # -- finishing ------------------------------------------------------------------------------
    def _recover(self) -> None:
        """Finish the bookkeeping of watch jobs that ended while no watcher was running."""
        for path in self._candidates():
            digest = None
            for row in reversed(self.manager.store.by_source(SOURCE_PREFIX + str(path))):
                if digest is None:
                    try:
                        digest = hashlib.sha256(path.read_bytes()).hexdigest()
                    except OSError:
                        break
                if row.meta.get("sha256") == digest and not row.meta.get("finalized"):
                    if row.terminal:
                        self._finalize(row)
                    else:
                        with self._lock:
                            self._busy.add(path)
                    break

    def _on_job(self, row: JobRow) -> None:
        if row.source.startswith(SOURCE_PREFIX) and row.state in TERMINAL:
            try:
                self._finalize(row)
            except Exception:
                log.exception("watch: cannot finish %s", row.source)

    def _finalize(self, row: JobRow) -> None:
        path = Path(row.source[len(SOURCE_PREFIX):])
        if path.parent != self.inbox:
            return  # another watch folder's job
        name = row.meta.get("watch_name") or path.stem
        if row.state == "done":
            out_dir = Path(row.out_dir)
            out_dir.mkdir(parents=True, exist_ok=True)
            if path.exists():
                os.replace(path, out_dir / "request.otio")
            self.results[path.name] = "done"
            log.info("watch: %s done → %s", path.name, out_dir)
        else:
            error = row.error or {"code": row.state, "message": f"the job was {row.state}"}
            self._report_failure(path, name, error, job_id=row.id, state=row.state)
        self.manager.store.update(row.id, meta={**row.meta, "finalized": True})
        with self._lock:
            self._busy.discard(path)

    def _report_failure(self, path: Path, name: str, error: dict, *, job_id: str | None,
                        state: str = "failed") -> None:
        self.results[path.name] = state
        report = {"request": path.name, "state": state, "error": error, "job": job_id,
                  "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        self.failed.mkdir(parents=True, exist_ok=True)
        _atomic_write(self.failed / f"{name}.json", json.dumps(report, indent=2) + "\n")
        if path.exists():
            try:
                os.replace(path, self.failed / f"{name}.otio")
            except OSError:
                shutil.copyfile(path, self.failed / f"{name}.otio")
                path.unlink(missing_ok=True)
        log.warning("watch: %s failed: %s", path.name, error.get("message"))
