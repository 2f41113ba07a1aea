"""The server's side of an engine call on the farm: an :class:`Engine` whose frames are made by an
engine host on a worker (:mod:`server.farm.host`).

``server.render.run_job`` is given :class:`JobEngines` as its ``engines`` builder, so it reads,
encodes and writes exactly as it does in-process; only the frames are made elsewhere. The input
frames travel through Ray's object store (as call arguments, or pulled a chunk at a time when
they can be long), the made frames come back in chunks with the engine's progress.

A worker lost mid-call (its process or its node died): the same call runs again on another host,
with the same seed, and the frames already handed to the writer are skipped (engines are
deterministic for a seed), so the media gets each frame exactly once; each such re-run is
counted (``on_retry``). The re-run must be the same engine (its model is checked on the new host)
and must make the frames it skips byte for byte as delivered (a digest of each is kept): a node
with another model version, or an engine that is not deterministic there, fails the job with
``worker_mismatch`` rather than mixing two renders in one media file. Cancel: the job's cancel flag is looked at every 0.1 s while frames are
awaited, and the host is told at once, which stops its engine at its next frame. A call stopped
early (canceled, failed, its writer gone) ends the job at once, but its host is lent again only
once the call has ended there; an engine that has not returned ``cancel_grace`` seconds after the cancel
(a long step that does not look at the flag) has its host killed and replaced (:func:`_settle`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from otio_tools.errors import ShotForgeError
from server.engines.base import (Availability, Canceled, Engine, EngineJob, EngineUnavailable, InpaintShot,
                                 OutpaintLayout)
from server.farm.host import PULL_CHUNK
from server.farm.pool import Host, NoWorker, WorkerPool

log = logging.getLogger("shotforge.farm")

_WAIT_S = 0.1  # how often a wait for the next frames looks at the cancel flag
_BACKPRESSURE = 4  # stream items a host may have made that the server has not read yet
#: seconds a stopped call's engine has to return on its host before the host is killed and replaced
#: (a GPU host then loads its model again: longer than a model step, far shorter than a job)


class WorkerError(RuntimeError):
    """The engine failed on a worker (not a lost worker: running it again would fail the same way)."""


def _lost_errors() -> tuple[type[BaseException], ...]:
    import ray.exceptions as rex

    return (rex.RayActorError, rex.ObjectLostError, rex.NodeDiedError, rex.WorkerCrashedError,
            rex.ActorUnschedulableError)


class _Source:
    """Frames the host pulls: a random-access sequence, or a re-iterable read forward."""

    def __init__(self, frames: Sequence[np.ndarray] | Iterable[np.ndarray]):
        self.frames = frames
        self.random = hasattr(frames, "__getitem__")
        self.length = len(frames)  # type: ignore[arg-type]
        self.restart()

    def restart(self) -> None:
        if not self.random:
            self._it, self._at = iter(self.frames), 0
            if self._it is self.frames:
                raise TypeError("frames for a farm call must be re-readable (a sequence or a re-iterable)")

    def chunk(self, start: int) -> list[np.ndarray]:
        stop = min(start + PULL_CHUNK, self.length)
        if self.random:
            return [self.frames[i] for i in range(start, stop)]  # type: ignore[index]
        if start < self._at:  # the engine went back: read again from the start
            self.restart()
        out = []
        for _ in range(self._at, stop):
            frame = next(self._it)
            if self._at >= start:
                out.append(frame)
            self._at += 1
        return out


class _Delivered:
    """The frames of one call already handed to the writer, as their digests (made by the host,
    :func:`server.farm.host.frame_digest`): a re-run's frames that are skipped must be those, or the
    media would join two different renders."""

    def __init__(self, operation: str):
        self.operation = operation
        self.digests: list[bytes] = []
        self.node = ""  # the node that made the last frame delivered

    def __len__(self) -> int:
        return len(self.digests)

    def add(self, digest: bytes, node: str) -> None:
        self.digests.append(digest)
        self.node = node

    def check(self, index: int, digest: bytes, node: str) -> None:
        """Raise ``worker_mismatch`` unless ``digest`` is that of the frame delivered at ``index``."""
        if digest != self.digests[index]:
            raise ShotForgeError("worker_mismatch", f"the re-run of this {self.operation} on node {node[:12]} made "
                                 f"frame {index} unlike the one node {self.node[:12]} made before its worker was "
                                 "lost (another engine or model version there?): install the same ShotForge and "
                                 "models on every worker")


class _Described:
    """What render.run_job and the take recipe read of an engine's model before it makes frames:
    its native steps and guidance, and its folder where this server sees it at the worker's path
    (the take recipe names the model and fingerprints that folder; a server that plans diffusers
    jobs reads the same models folder)."""

    def __init__(self, native: dict | None, path: str | None):
        self.native = type("Native", (), native)() if native else None
        self.path = Path(path) if path and os.path.isdir(path) else None


class _Ran:
    def __init__(self, recipe: dict):
        self._recipe = recipe

    def recipe(self) -> dict:
        return dict(self._recipe)


class RemoteEngine(Engine):
    """One engine, run on a host that a job borrows from the pool until its call is over."""

    def __init__(self, builder: "JobEngines", name: str, options: dict[str, Any]):
        self.builder, self.name, self.options = builder, name, options
        self.host: Host | None = None
        self.lost = 0  # hosts this engine lost, before or during its calls
        while True:  # a host lost before the job made anything is another host, not a retry (but bounded)
            host = self._borrow()
            try:
                facts = self._answer(host.actor.describe.remote(name, options))
                break
            except _lost_errors() as exc:
                self._lost(host, exc, "start")
        if "unavailable" in facts:
            self._give_back()
            raise EngineUnavailable(name, facts["unavailable"])
        self.model = facts["model"]
        self.generate_is_placeholder = facts["placeholder"]
        self._availability = Availability(facts["usable"], facts["reason"])
        self.info = _Described(facts.get("native"), facts.get("path"))
        self._has_job_settings = facts["job_settings"]

    def __getattr__(self, attr: str):
        # the take recipe asks hasattr(engine, "job_settings"): true only where the worker's engine has it
        if attr == "job_settings" and self.__dict__.get("_has_job_settings"):
            return self._job_settings
        raise AttributeError(attr)

    def _job_settings(self, extra: dict) -> _Ran:
        while True:
            host = self._borrow()
            try:
                return _Ran(self._answer(host.actor.job_settings.remote(self.name, self.options, extra)))
            except _lost_errors() as exc:
                self._lost(host, exc, "start")

    def _answer(self, ref):
        """A host's answer to a short call; the job's cancel is looked at while it comes (a
        diffusers engine being loaded there can take minutes)."""
        import ray

        while not ray.wait([ref], timeout=_WAIT_S)[0]:
            if self.builder.cancel.is_set():
                raise Canceled()
        return ray.get(ref)

    def availability(self) -> Availability:
        return self._availability

    # -- the host -----------------------------------------------------------------------------
    def _borrow(self) -> Host:
        if self.host is None:
            try:
                self.host = self.builder.pool.acquire(self.name, self.builder.cancel, self.builder.on_wait)
            except NoWorker as exc:
                raise EngineUnavailable(self.name, str(exc)) from None
            self.builder.held.append(self)
        return self.host

    def _give_back(self) -> None:
        if self.host is not None:
            self.builder.pool.release(self.host)
            self.host = None

    def _lost(self, host: Host, exc: BaseException, doing: str) -> None:
        """The host's worker died: forget it; past ``max_retries`` such losses the job fails."""
        self.builder.pool.lost(host)
        self.host = None
        self.lost += 1
        if self.lost > self.builder.max_retries:
            raise ShotForgeError("worker_lost", f"the Ray worker running this {doing} of the {self.name} engine was "
                                 f"lost {self.lost} times (last: {type(exc).__name__} on node {host.node_id[:12]}); "
                                 "the cluster may be failing") from None
        log.warning("worker on node %s lost during a %s of the %s engine (%s); running it again on another worker",
                    host.node_id[:12], doing, self.name, type(exc).__name__)

    def _same_engine(self, host: Host) -> None:
        """A call run again on another host must find the engine the job started with there."""
        facts = self._answer(host.actor.describe.remote(self.name, self.options))
        if facts.get("model") != self.model:
            there = facts.get("model") or facts.get("unavailable") or "no model"
            raise ShotForgeError("worker_mismatch", f"the {self.name} engine on node {host.node_id[:12]} runs "
                                 f"{there}, not {self.model} as the worker that was lost: install the same "
                                 "ShotForge and models on every worker")

    # -- the operations -----------------------------------------------------------------------
    def fill_gap(self, before, after, frames, job):
        return self._call(job, "fill_gap", {"before": list(before), "after": list(after), "frames": frames})

    def extend(self, context, frames, side, job):
        return self._call(job, "extend", {"context": list(context), "frames": frames, "side": side})

    def outpaint(self, frames: Iterable[np.ndarray], layout: OutpaintLayout, job: EngineJob):
        return self._call(job, "outpaint", {"layout": (layout.canvas, layout.inner, layout.offset)},
                          {"frames": _Source(frames)})

    def generate(self, frames, size, job, reference=None, dtype=np.uint8):
        return self._call(job, "generate", {"frames": frames, "size": tuple(size), "reference": reference,
                                            "dtype": np.dtype(dtype).str})

    def inpaint(self, shot: InpaintShot, job: EngineJob):
        return self._call(job, "inpaint", {"placed": (shot.placed.start, shot.placed.stop, shot.placed.step)},
                          {"frames": _Source(shot.frames), "masks": _Source(shot.masks)})

    def _call(self, job: EngineJob, operation: str, args: dict[str, Any],
              sources: dict[str, _Source] | None = None) -> Iterator[np.ndarray]:
        sources = sources or {}
        job_fields = {"rate": job.rate, "prompt": job.prompt, "negative_prompt": job.negative_prompt,
                      "seed": job.seed, "options": job.options}
        delivered = _Delivered(operation)
        rerun = False
        while True:
            host = self._borrow()
            call_id = uuid.uuid4().hex
            for source in sources.values():
                source.restart()
            made = 0
            finished = False
            gen = None
            try:
                if rerun:
                    self._same_engine(host)
                gen = host.actor.run.options(num_returns="streaming",
                                             _generator_backpressure_num_objects=_BACKPRESSURE).remote(
                    call_id, self.name, self.options, operation,
                    {**args, "pulled": {k: s.length for k, s in sources.items()}}, job_fields)
                for frames, digests, (fraction, stage) in self._items(gen, host, call_id, job, sources):
                    for frame, digest in zip(frames, digests):
                        if made < len(delivered):  # a re-run skips what the writer already has
                            delivered.check(made, digest, host.node_id)
                        else:
                            delivered.add(digest, host.node_id)
                            yield frame
                        made += 1
                    job.progress(fraction, stage)
                finished = True
                self._give_back()
                return
            except _lost_errors() as exc:
                finished = True
                self._lost(host, exc, operation)
                rerun = True
                self.builder.on_retry()
            finally:
                if not finished:  # canceled, failed, or the writer stopped reading: stop the engine there
                    host.actor.cancel.remote(call_id)
                    if gen is not None:
                        self._let_go(host, gen)

    def _let_go(self, host: Host, gen) -> None:
        """This engine lets go of a host whose call was stopped; the pool gets it back once the
        call has ended there (:func:`_settle`, in the background: the job is over now)."""
        self.host = None
        threading.Thread(target=_settle, args=(self.builder.pool, host, gen, self.name, self.builder.cancel_grace),
                         name="shotforge-farm-settle", daemon=True).start()

    def _items(self, gen, host: Host, call_id: str, job: EngineJob,
               sources: dict[str, _Source]) -> Iterator[tuple[list[np.ndarray], list[bytes], tuple[float, str]]]:
        import ray

        while True:
            job.check_cancel()
            ready, _ = ray.wait([gen], timeout=_WAIT_S)
            if not ready:
                continue
            try:
                item = ray.get(next(gen))
            except StopIteration:
                raise WorkerError(f"the worker on node {host.node_id[:12]} ended the stream early") from None
            if "need" in item:
                stream, start = item["need"]
                host.actor.feed.remote(call_id, stream, start, sources[stream].chunk(start))
            elif "end" in item:
                return
            elif "error" in item:
                raise _error(item["error"], self.name, host)
            else:
                yield item["frames"], item["digests"], item["progress"]


def _settle(pool: WorkerPool, host: Host, gen, engine: str, grace: float) -> None:
    """Read a stopped call's stream to its end (its engine thread on the host has then returned) and
    give the host back; one whose engine is still at work ``grace`` seconds after the cancel is
    killed and a new host put on its node, so the next job gets a clean worker and a GPU holds
    nothing the server has stopped asking for."""
    import ray

    deadline = time.monotonic() + grace
    try:
        while time.monotonic() < deadline:
            if ray.wait([gen], timeout=_WAIT_S)[0]:
                try:
                    ray.get(next(gen))  # frames made before the engine saw its cancel: nobody wants them
                except StopIteration:
                    pool.release(host)
                    return
    except _lost_errors():
        pool.lost(host)
        return
    except Exception:  # noqa: BLE001 - Ray shut down under it (the server stops): the host goes, as below
        pass
    else:
        log.warning("the %s engine on node %s had not stopped %g s after its call was canceled; its worker "
                    "was ended and a new one started there", engine, host.node_id[:12], grace)
    pool.replace(host)


def _error(error: dict[str, Any], engine: str, host: Host) -> BaseException:
    kind = error["kind"]
    if kind == "canceled":
        return Canceled()
    if kind == "engine_unavailable":
        return EngineUnavailable(error["engine"], error["reason"])
    if kind == "shotforge":
        return ShotForgeError(error["code"], error["message"])
    return WorkerError(f"{error['type']} in the {engine} engine on node {host.node_id[:12]}: {error['message']}")


class JobEngines:
    """``engines=`` for one job's ``run_job``: builds :class:`RemoteEngine` s; :meth:`close` gives
    back any host the job still holds (a job that made no frames never called its engine).
    ``on_wait``: called when the job must wait for a free worker; ``on_retry``: when a lost
    worker's call runs again."""

    def __init__(self, pool: WorkerPool, cancel: threading.Event, on_retry: Callable[[], None],
                 on_wait: Callable[[], None], max_retries: int, cancel_grace: float = 30.0):
        self.pool, self.cancel, self.max_retries, self.cancel_grace = pool, cancel, max_retries, cancel_grace
        self.on_retry, self.on_wait = on_retry, on_wait
        self.held: list[RemoteEngine] = []

    def __call__(self, name: str, **options: Any) -> RemoteEngine:
        return RemoteEngine(self, name, dict(options))

    def close(self) -> None:
        for engine in self.held:
            engine._give_back()
        self.held.clear()
