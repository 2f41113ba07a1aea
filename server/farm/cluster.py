"""The server's connection to its Ray cluster: connect, the pool of engine hosts, what the cluster
looks like (for ``GET /v1/health`` and ``shotforge doctor``)."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from server.farm.pool import WorkerPool, describe_hosts
from server.farm.proxy import JobEngines

log = logging.getLogger("shotforge.farm")

_PROBE_S = 5.0  # seconds to wait for the head's port before saying nothing answers
_WATCH_S = 5.0  # how often the cluster is looked at for nodes that joined or died


class FarmError(RuntimeError):
    """The Ray cluster cannot be used (not found, refused, Ray not installed)."""


def connect_ray(address: str) -> None:
    """Join the cluster at ``address`` ("auto": the one this machine is part of) as its driver."""
    try:
        import ray
    except ImportError:
        raise FarmError("the Ray farm needs Ray: pip install 'shotforge[ray]'") from None
    if ray.is_initialized():
        return
    if address != "auto":  # Ray would retry a closed port for minutes
        host, _, port = address.rpartition(":")
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=_PROBE_S).close()
        except (OSError, ValueError) as exc:
            raise FarmError(f"cannot join the Ray cluster at {address}: nothing answers there ({exc}). Start its "
                            "head with `ray start --head` (see the README's render farm section)") from None
    if os.environ.get("RAY_AUTH_MODE", "").lower() != "token" and not os.environ.get("RAY_AUTH_TOKEN") and \
            not (Path.home() / ".ray" / "auth_token").is_file():
        log.warning("joining the Ray cluster at %s without token authentication: anyone who can reach its ports "
                    "can run code on every node (set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN on every machine)",
                    address)
    try:
        ray.init(address=address, namespace="shotforge", log_to_driver=False, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise FarmError(f"cannot join the Ray cluster at {address}: {exc}. Start one with `ray start --head` "
                        "on this machine (see the README's render farm section)") from None


class Farm:
    """Jobs' engines on a Ray cluster. :meth:`engines_for` gives one job its engine builder."""

    def __init__(self, address: str, *, classical_cpus: int = 1, max_retries: int = 3, cancel_grace: float = 30.0,
                 engine_settings: dict[str, Any] | None = None, hosts: bool = True):
        """Join the cluster; with ``hosts`` start this server's engine hosts (``shotforge doctor``
        only looks at those of the servers already running)."""
        connect_ray(address)
        self.address = address
        self.max_retries, self.cancel_grace = max_retries, cancel_grace
        self.pool = WorkerPool(classical_cpus, engine_settings)
        self._closed = threading.Event()
        if hosts:
            self.pool.refresh()
            threading.Thread(target=self._watch, name="shotforge-farm-watch", daemon=True).start()

    def _watch(self) -> None:
        """Look at the cluster every few seconds: a node that joins gets hosts (and the server job
        threads) even while every job thread is busy rendering."""
        while not self._closed.wait(_WATCH_S):
            try:
                self.pool.refresh()
            except Exception as exc:  # noqa: BLE001 - the GCS restarting, say: the next look may work
                log.warning("could not look at the Ray cluster: %s", exc)

    @classmethod
    def from_settings(cls, settings: Any) -> "Farm":
        # the engines on the workers read the models folder and device options the server was given
        engine_settings = {k: getattr(settings, k) for k in
                           ("models", "hf_cache", "diffusers_device", "diffusers_offload", "diffusers_fast")}
        engine_settings["models"] = str(engine_settings["models"]) if engine_settings["models"] else None
        return cls(settings.ray_address, classical_cpus=settings.ray_classical_cpus,
                   max_retries=settings.ray_max_retries, cancel_grace=settings.ray_cancel_grace_s,
                   engine_settings=engine_settings)

    def slots(self) -> int:
        """How many jobs the cluster runs at once: its engine hosts."""
        return self.pool.slots()

    def on_capacity(self, callback: Callable[[int], None]) -> None:
        self.pool.on_capacity(callback)

    def engines_for(self, cancel: threading.Event, on_retry: Callable[[], None],
                    on_wait: Callable[[], None]) -> JobEngines:
        return JobEngines(self.pool, cancel, on_retry, on_wait, self.max_retries, self.cancel_grace)

    def nodes(self) -> list[dict[str, Any]]:
        """The cluster's live nodes: address, CPUs, GPUs and how many of this server's engine hosts each has."""
        import ray

        hosts: dict[str, int] = {}
        for host in list(self.pool.hosts):
            hosts[host.node_id] = hosts.get(host.node_id, 0) + 1
        out = []
        for node in ray.nodes():
            if not node.get("Alive"):
                continue
            resources = node.get("Resources", {})
            out.append({"node_id": node["NodeID"], "address": node.get("NodeManagerAddress", ""),
                        "hostname": node.get("NodeManagerHostname", ""), "cpus": resources.get("CPU", 0.0),
                        "gpus": resources.get("GPU", 0.0), "workers": hosts.get(node["NodeID"], 0)})
        return out

    def report(self) -> list[str]:
        """``shotforge doctor``'s lines about the cluster: nodes, then each worker and its warm engines."""
        nodes = self.nodes()
        hosts = describe_hosts()
        lines = [f"ray        cluster at {self.address}: {len(nodes)} node(s), {len(hosts)} ShotForge worker(s)"]
        for node in nodes:
            lines.append(f"  node     {node['node_id'][:12]} {node['hostname'] or node['address']}: "
                         f"{node['cpus']:g} CPU, {node['gpus']:g} GPU")
        from server import shotforge_version

        for host in hosts:
            if not host["answering"]:
                lines.append("  worker   not answering (busy starting, or its node is failing)")
                continue
            warm = ", ".join(host["warm"]) or "none yet"
            version = "" if host["version"] == shotforge_version() else \
                f" — ShotForge {host['version']} there, {shotforge_version()} here: install the same version"
            lines.append(f"  worker   {host['kind']} on {host['node_id'][:12]} (pid {host['pid']}): warm {warm}; "
                         f"{host['calls_done']} call(s) done{version}")
        return lines

    def close(self) -> None:
        self._closed.set()
        self.pool.close()
        import ray

        ray.shutdown()
