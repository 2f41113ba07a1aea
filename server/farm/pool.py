"""The worker pool: one engine-host actor per GPU, and per ``ray_classical_cpus`` CPUs, on every
live node of the cluster; a job borrows one for a call and gives it back.

The pool looks at the cluster again whenever a job waits for a worker and every few seconds
(:meth:`WorkerPool.refresh`): hosts on nodes that died are dropped, capacity that has no host
(a node that joined, a host that was lost or replaced) gets one. Hosts are pinned to their node
(a hard node affinity), so a host never wanders and the count per node stays exact.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("shotforge.farm")

_REFRESH_S = 3.0  # how often a job waiting for a host looks at the cluster again
#: seconds a node that lost a host gets no new host and lends none, unless it is the only one left:
#: Ray's node table says a node died about a second after it did
_SUSPECT_S = 10.0
#: a host's concurrency: its one engine call, and the server's feed, cancel and info calls beside it
_HOST_CONCURRENCY = 8


#: the name of every engine host starts so (named actors in the "shotforge" namespace)
HOST_PREFIX = "shotforge-host-"


class NoWorker(Exception):
    """The cluster has no worker that can run this engine at all (not merely none free)."""


@dataclass
class Host:
    actor: Any
    kind: str  # "gpu" or "cpu"
    node_id: str
    busy: bool = False


def kind_for(engine: str) -> str:
    """The kind of host an engine runs on."""
    return "gpu" if engine == "diffusers" else "cpu"


class WorkerPool:
    def __init__(self, classical_cpus: int = 1, settings: dict[str, Any] | None = None):
        self.classical_cpus = classical_cpus
        self.settings = settings or {}
        self.hosts: list[Host] = []
        self._cond = threading.Condition()
        self._refreshed = 0.0
        self._listeners: list[Callable[[int], None]] = []
        self._suspect: dict[str, float] = {}  # node id -> when it lost a host
        self._server = uuid.uuid4().hex[:8]  # names this server's hosts apart from another's on the cluster
        self._made = 0
        self._actor_class = None
        self._closed = False

    # -- capacity -----------------------------------------------------------------------------
    def on_capacity(self, callback: Callable[[int], None]) -> None:
        """Call ``callback(number of hosts)`` whenever hosts are added."""
        self._listeners.append(callback)

    def slots(self) -> int:
        with self._cond:
            return len(self.hosts)

    def refresh(self) -> None:
        """Drop hosts of dead nodes, add hosts where a live node has capacity without one."""
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        if self._closed:  # Ray may be shut down already
            return
        nodes = {n["NodeID"]: n for n in ray.nodes() if n.get("Alive")}
        added = False
        with self._cond:
            if self._closed:  # a host replaced while the server stops gets no successor
                return
            self._refreshed = time.monotonic()
            self.hosts = [h for h in self.hosts if h.node_id in nodes]
            for node_id, node in nodes.items():
                if self._is_suspect(node_id):
                    continue
                total = node.get("Resources", {})
                want = {"gpu": int(total.get("GPU", 0)), "cpu": int(total.get("CPU", 0) // self.classical_cpus)}
                for kind, count in want.items():
                    have = sum(1 for h in self.hosts if h.node_id == node_id and h.kind == kind)
                    for _ in range(count - have):
                        resources = {"num_gpus": 1, "num_cpus": 0} if kind == "gpu" else \
                            {"num_cpus": self.classical_cpus}
                        self._made += 1
                        actor = self._host_class().options(
                            **resources, max_concurrency=_HOST_CONCURRENCY, max_restarts=0,
                            name=f"{HOST_PREFIX}{self._server}-{self._made}",  # for `shotforge doctor`
                            scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False),
                        ).remote(kind, self.settings)
                        self.hosts.append(Host(actor, kind, node_id))
                        added = True
            self._cond.notify_all()
            count = len(self.hosts)
        if added:
            log.info("Ray cluster: %d worker(s) on %d node(s)", count, len(nodes))
            for callback in self._listeners:
                callback(count)

    def _host_class(self):
        if self._actor_class is None:
            import ray

            from server.farm.host import EngineHost

            self._actor_class = ray.remote(EngineHost)
        return self._actor_class

    # -- borrowing ----------------------------------------------------------------------------
    def _is_suspect(self, node_id: str) -> bool:
        return time.monotonic() - self._suspect.get(node_id, -_SUSPECT_S) < _SUSPECT_S

    def acquire(self, engine: str, cancel: threading.Event, on_wait: Callable[[], None]) -> Host:
        """A free host for ``engine`` (waiting for one, ``on_wait`` called once when it must); raise
        :class:`NoWorker` when the cluster has none of its kind, ``Canceled`` when the job is
        canceled while waiting. Hosts on a node that just lost one wait until no other node can take the job."""
        from server.engines.base import Canceled

        kind = kind_for(engine)
        waited = False
        while True:
            if cancel.is_set():
                raise Canceled()
            if time.monotonic() - self._refreshed > _REFRESH_S:
                self.refresh()
            with self._cond:
                fits = [h for h in self.hosts
                        if h.kind == kind or (kind == "cpu" and not any(x.kind == "cpu" for x in self.hosts))]
                # a node no longer suspect since the last look gets its hosts at the next look: look first
                cleared = max(self._suspect.values(), default=-_SUSPECT_S) + _SUSPECT_S
                stale = not fits and self._refreshed < cleared
                if not fits and not stale and not any(map(self._is_suspect, self._suspect)):
                    raise NoWorker(f"the Ray cluster has no {'GPU' if kind == 'gpu' else 'CPU'} worker for the "
                                   f"{engine} engine")
                trusted = [h for h in fits if not self._is_suspect(h.node_id)]
                free = [h for h in (trusted or fits) if not h.busy]
                if free:
                    host = min(free, key=lambda h: h.kind != kind)  # a classical job takes a CPU host first
                    host.busy = True
                    return host
            if stale and not any(map(self._is_suspect, self._suspect)):
                self.refresh()
                continue
            if not waited:
                waited = True
                on_wait()
            with self._cond:
                self._cond.wait(0.2)

    def release(self, host: Host) -> None:
        with self._cond:
            host.busy = False
            self._cond.notify_all()

    def lost(self, host: Host) -> None:
        """A host whose actor died: forget it (the next refresh puts a new one where capacity is)."""
        with self._cond:
            if host in self.hosts:
                self.hosts.remove(host)
            self._suspect[host.node_id] = time.monotonic()
            self._cond.notify_all()

    def replace(self, host: Host) -> None:
        """End a host whose engine call does not stop (its actor is killed, its engine threads and
        the GPU memory they hold go with its process) and put a new host on its node at once; its
        node is not suspect (nothing failed there)."""
        import ray

        try:
            ray.kill(host.actor, no_restart=True)
        except Exception:  # noqa: BLE001 - already gone
            pass
        with self._cond:
            if host in self.hosts:
                self.hosts.remove(host)
        self.refresh()

    def close(self) -> None:
        import ray

        with self._cond:
            self._closed = True
            hosts, self.hosts = self.hosts, []
        for host in hosts:
            try:
                ray.kill(host.actor)
            except Exception:  # noqa: BLE001 - already gone
                pass


def describe_hosts(timeout: float = 5.0) -> list[dict[str, Any]]:
    """Every engine host on the cluster (any server's): its info (node, kind, warm engines, calls
    done), or ``answering: False`` when it does not answer within ``timeout``."""
    import ray
    from ray.util import list_named_actors

    names = sorted(n for n in list_named_actors() if n.startswith(HOST_PREFIX))
    refs = []
    for name in names:
        try:
            refs.append(ray.get_actor(name).info.remote())
        except ValueError:  # gone since it was listed
            continue
    ready, _ = ray.wait(refs, num_returns=len(refs), timeout=timeout) if refs else ([], [])
    out = []
    for ref in refs:
        try:
            out.append({"answering": True, **ray.get(ref)} if ref in ready else {"answering": False})
        except ray.exceptions.RayError:
            out.append({"answering": False})
    return out
