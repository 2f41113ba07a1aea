"""Progress as it leaves a job: a tqdm bar for long CLI work, and the :class:`EventHub` that hands
each new job record to the server's event streams and watchers."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("shotforge.jobs")


class ProgressBar:
    """Fractions 0..1 and a stage name in, a tqdm bar out."""

    def __init__(self, description: str):
        from tqdm import tqdm  # only the CLI draws bars; the server never imports tqdm

        self._bar = tqdm(total=1000, desc=description, unit="‰", leave=True,
                         bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix} [{elapsed}<{remaining}]")

    def update(self, fraction: float, stage: str) -> None:
        target = round(fraction * 1000)
        if target > self._bar.n:
            self._bar.update(target - self._bar.n)
        self._bar.set_postfix_str(stage, refresh=False)

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc) -> None:
        self._bar.close()


class EventHub:
    """Fan-out of job rows to listeners: asyncio queues (SSE streams) and plain callbacks."""

    def __init__(self):
        self._lock = threading.Lock()
        self._subs: dict[str, set[tuple[Any, Any]]] = {}
        self._callbacks: list[Callable[[Any], None]] = []

    def subscribe(self, job_id: str, loop, queue) -> None:
        with self._lock:
            self._subs.setdefault(job_id, set()).add((loop, queue))

    def unsubscribe(self, job_id: str, loop, queue) -> None:
        with self._lock:
            subs = self._subs.get(job_id)
            if subs:
                subs.discard((loop, queue))
                if not subs:
                    del self._subs[job_id]

    def add_callback(self, fn: Callable[[Any], None]) -> None:
        with self._lock:
            self._callbacks.append(fn)

    def remove_callback(self, fn: Callable[[Any], None]) -> None:
        with self._lock:
            if fn in self._callbacks:
                self._callbacks.remove(fn)

    def publish(self, row: Any) -> None:
        """Hand a job record (a :class:`server.jobs.JobRow`; None is ignored) to every listener."""
        if row is None:
            return
        with self._lock:
            subs = list(self._subs.get(row.id, ()))
            callbacks = list(self._callbacks)
        for loop, queue in subs:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, row)
            except RuntimeError:  # loop closed
                pass
        for fn in callbacks:
            try:
                fn(row)
            except Exception:  # a listener must never break the worker
                log.exception("job listener failed")
