"""The engine host: what runs inside a Ray actor on a worker machine, one per GPU or CPU slot.

It keeps the engines it has built (a diffusers pipeline stays loaded between jobs) and runs one
engine call at a time for the server. A call is a streaming generator: the engine runs in a
thread of the actor and its frames come back in chunks, with its progress, through Ray's object
store. Inputs that can be long (an outpaint's frames, an inpaint's frames and mattes) are not
sent up front: the host asks the server for them a chunk at a time (a ``need`` item in the
stream) and the server answers with :meth:`EngineHost.feed`, so no disk is shared and a long
shot is never held whole. The host imports nothing of Ray at module level: the server imports
this module only when it runs a farm.
"""

from __future__ import annotations

import hashlib
import os
import queue
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

#: frames a chunk of pulled input holds (the server sends one chunk per ``need``)
PULL_CHUNK = 16
#: at most this many frames go into one item of the stream
SEND_CHUNK = 8
#: a partial chunk is sent after this many seconds (progress and frames keep flowing)
SEND_EVERY_S = 0.1
_POLL_S = 0.05  # how often waits look at the cancel flag
_EARLY_CANCELS = 256  # cancels remembered for calls not started yet (a threaded actor may take them first)


def frame_digest(frame: np.ndarray) -> bytes:
    """What a made frame is, byte for byte (its type and shape too): the server compares a re-run's
    frames with those it wrote by these, made here on the workers rather than in the server."""
    frame = np.ascontiguousarray(frame)
    digest = hashlib.blake2b(f"{frame.dtype.str}{frame.shape}".encode(), digest_size=16)
    digest.update(frame.data)
    return digest.digest()


class _Call:
    """One engine call in progress on this host."""

    def __init__(self, call_id: str, lengths: dict[str, int]):
        self.id = call_id
        self.cancel = threading.Event()
        self.outbox: queue.Queue = queue.Queue(maxsize=4 * SEND_CHUNK)  # the engine waits when the server lags
        self.progress: tuple[float, str] = (0.0, "rendering")
        self.lengths = lengths
        self._cache: dict[tuple[str, int], np.ndarray] = {}  # (stream, frame) -> frame
        self._asked: set[tuple[str, int]] = set()  # (stream, chunk start) asked for
        self._arrived = threading.Condition()

    def put_out(self, item: tuple) -> None:
        """Hand an item to the stream, waiting while the server lags; once canceled, a full outbox
        is not waited on (nobody may read it any more)."""
        while True:
            try:
                self.outbox.put(item, timeout=_POLL_S)
                return
            except queue.Full:
                if self.cancel.is_set():
                    return

    # -- pulled input -------------------------------------------------------------------------
    def feed(self, stream: str, start: int, frames: list[np.ndarray]) -> None:
        with self._arrived:
            for n, frame in enumerate(frames):
                self._cache[(stream, start + n)] = frame
            self._arrived.notify_all()

    def frame(self, stream: str, index: int) -> np.ndarray:
        from server.engines.base import Canceled

        length = self.lengths[stream]
        if not 0 <= index < length:
            raise IndexError(f"{stream} frame {index} is outside the {length} frames sent")
        chunk = index - index % PULL_CHUNK
        for start in (chunk, chunk + PULL_CHUNK):  # this chunk, and the next one ahead of need
            if start < length and (stream, start) not in self._asked:
                self._asked.add((stream, start))
                self.put_out(("need", stream, start))
        with self._arrived:
            while (stream, index) not in self._cache:
                if self.cancel.is_set():
                    raise Canceled()
                self._arrived.wait(_POLL_S)
            frame = self._cache[(stream, index)]
            self._forget_before(stream, chunk - PULL_CHUNK)
        return frame

    def _forget_before(self, stream: str, start: int) -> None:
        """Drop chunks well behind the engine (asked again should it go back to them)."""
        for key in [k for k in self._cache if k[0] == stream and k[1] < start]:
            del self._cache[key]
        self._asked = {k for k in self._asked if k[0] != stream or k[1] >= start}


class PulledFrames:
    """A random-access sequence of frames that live on the server, asked for as they are read."""

    def __init__(self, call: _Call, stream: str):
        self.call, self.stream = call, stream

    def __len__(self) -> int:
        return self.call.lengths[self.stream]

    def __getitem__(self, index: int) -> np.ndarray:
        if index < 0:
            index += len(self)
        return self.call.frame(self.stream, index)

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self[i] for i in range(len(self)))


class EngineHost:
    """The actor's body (made a Ray actor by :mod:`server.farm.pool`)."""

    def __init__(self, kind: str, settings: dict[str, Any] | None = None):
        self.kind = kind  # "gpu" or "cpu"
        self.engines: dict[tuple, Any] = {}
        self.calls: dict[str, _Call] = {}
        self.done = 0
        self._early_cancels: dict[str, None] = {}  # call ids canceled before their run began, oldest first
        self._lock = threading.Lock()
        # one engine built at a time: a job canceled while its model loads leaves the load running,
        # and the next job's call waits for it and finds the model warm instead of loading a second copy
        self._building = threading.Lock()
        self._facts: dict[tuple, dict[str, Any]] = {}
        if settings:  # the server's settings the engines read (models folder, device, offload)
            from server.settings import activate, load_settings

            activate(load_settings(**settings))

    def info(self) -> dict[str, Any]:
        """Where this host runs and what it holds warm."""
        import ray

        from server import shotforge_version

        return {"version": shotforge_version(), "node_id": ray.get_runtime_context().get_node_id(), "host": socket.gethostname(),
                "pid": os.getpid(), "raylet_pid": os.getppid(), "kind": self.kind,
                "warm": sorted({f"{e.name}:{e.model}" if e.model else e.name for e in self.engines.values()}),
                "running": sorted(self.calls), "calls_done": self.done}

    def _engine(self, name: str, options: dict[str, Any]):
        from server.engines import load_engine

        key = _key(name, options)
        with self._building:
            if key not in self.engines:
                self.engines[key] = load_engine(name, **options)
            return self.engines[key]

    def describe(self, name: str, options: dict[str, Any]) -> dict[str, Any]:
        """Build (or find warm) an engine and say what a job records of it before it runs:
        ``{"unavailable": reason}`` when it cannot run on this worker."""
        from server.engines.base import EngineUnavailable

        key = _key(name, options)
        if key not in self._facts:
            try:
                engine = self._engine(name, options)
            except EngineUnavailable as exc:
                return {"unavailable": exc.reason}
            availability = engine.availability()
            info = getattr(engine, "info", None)
            native = getattr(info, "native", None)
            self._facts[key] = {
                "model": engine.model, "placeholder": engine.generate_is_placeholder,
                "usable": availability.usable, "reason": availability.reason,
                "native": None if native is None else {"steps": native.steps, "guidance": native.guidance},
                "job_settings": hasattr(engine, "job_settings"),
                "path": None if getattr(info, "path", None) is None else str(info.path)}
        return self._facts[key]

    def job_settings(self, name: str, options: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
        """What the model really runs with for a request's options (the take recipe's steps, guidance, LoRA)."""
        return self._engine(name, options).job_settings(extra).recipe()

    def feed(self, call_id: str, stream: str, start: int, frames: list[np.ndarray]) -> None:
        call = self.calls.get(call_id)
        if call is not None:
            call.feed(stream, start, frames)

    def cancel(self, call_id: str) -> bool:
        """Stop a call; one whose run has not begun yet (the cancel overtook it) stops as it begins."""
        with self._lock:
            call = self.calls.get(call_id)
            if call is None:
                self._early_cancels[call_id] = None
                while len(self._early_cancels) > _EARLY_CANCELS:
                    del self._early_cancels[next(iter(self._early_cancels))]
                return False
        call.cancel.set()
        return True

    def run(self, call_id: str, engine: str, options: dict[str, Any], operation: str, args: dict[str, Any],
            job: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Run one engine operation; yields ``{"frames": [...], "digests": [...], "progress": (f, stage)}``
        items (:func:`frame_digest` of each frame), a
        ``{"need": (stream, start)}`` item when the engine reads pulled input the server has not
        sent yet, and last ``{"end": True}`` or ``{"error": {...}}``."""
        call = _Call(call_id, args.pop("pulled", {}))
        with self._lock:
            self.calls[call_id] = call
            if call_id in self._early_cancels:
                del self._early_cancels[call_id]
                call.cancel.set()
        worker = threading.Thread(target=self._produce, args=(call, engine, options, operation, args, job),
                                  name=f"shotforge-call-{call_id}", daemon=True)
        try:
            worker.start()
            yield from self._stream(call)
        finally:
            call.cancel.set()  # the server stopped reading (it canceled, or it is gone): stop the engine
            worker.join(5.0)
            self.calls.pop(call_id, None)
            self.done += 1

    def _produce(self, call: _Call, engine_name: str, options: dict[str, Any], operation: str,
                 args: dict[str, Any], job_fields: dict[str, Any]) -> None:
        from otio_tools.errors import ShotForgeError
        from server.engines.base import Canceled, EngineJob, EngineUnavailable

        def progress(fraction: float, stage: str) -> None:
            call.progress = (fraction, stage)

        try:
            engine = self._engine(engine_name, options)
            job = EngineJob(**job_fields, on_progress=progress, cancel_event=call.cancel)
            for frame in _operate(engine, operation, args, job, call):
                call.put_out(("frame", frame, frame_digest(frame)))
                job.check_cancel()
            call.put_out(("end",))
        except Canceled:
            call.put_out(("error", {"kind": "canceled"}))
        except EngineUnavailable as exc:
            call.put_out(("error", {"kind": "engine_unavailable", "engine": exc.engine, "reason": exc.reason}))
        except ShotForgeError as exc:
            call.put_out(("error", {"kind": "shotforge", "code": exc.code, "message": exc.message}))
        except Exception as exc:  # noqa: BLE001 - the server names it in the job's error
            call.put_out(("error", {"kind": "failed", "type": type(exc).__name__, "message": str(exc)}))

    def _stream(self, call: _Call) -> Iterator[dict[str, Any]]:
        frames: list[np.ndarray] = []
        digests: list[bytes] = []
        sent_progress = None
        last = time.monotonic()
        while True:
            try:
                item = call.outbox.get(timeout=_POLL_S)
            except queue.Empty:
                item = None
            now = time.monotonic()
            if item is not None and item[0] == "frame":
                frames.append(item[1])
                digests.append(item[2])
                if len(frames) < SEND_CHUNK and now - last < SEND_EVERY_S:
                    continue
            if item is None and call.progress == sent_progress and not frames:
                continue
            if frames or call.progress != sent_progress:
                sent_progress = call.progress
                yield {"frames": frames, "digests": digests, "progress": sent_progress}
                frames, digests, last = [], [], now
            if item is None or item[0] == "frame":
                continue
            if item[0] == "need":
                yield {"need": (item[1], item[2])}
            elif item[0] == "end":
                yield {"end": True}
                return
            else:
                yield {"error": item[1]}
                return


def _key(name: str, options: dict[str, Any]) -> tuple:
    return name, tuple(sorted((k, repr(v)) for k, v in options.items()))


def _operate(engine, operation: str, args: dict[str, Any], job, call: _Call) -> Iterator[np.ndarray]:
    """The engine operation a call names, its pulled inputs read from the server as needed."""
    from server.engines.base import InpaintShot, OutpaintLayout

    if operation == "fill_gap":
        return engine.fill_gap(args["before"], args["after"], args["frames"], job)
    if operation == "extend":
        return engine.extend(args["context"], args["frames"], args["side"], job)
    if operation == "outpaint":
        return engine.outpaint(PulledFrames(call, "frames"), OutpaintLayout(*args["layout"]), job)
    if operation == "generate":
        return engine.generate(args["frames"], tuple(args["size"]), job, reference=args["reference"],
                               dtype=np.dtype(args["dtype"]).type)
    if operation == "inpaint":
        shot = InpaintShot(PulledFrames(call, "frames"), PulledFrames(call, "masks"), range(*args["placed"]))
        return engine.inpaint(shot, job)
    raise ValueError(f"no engine operation called {operation!r}")
