"""A real Ray cluster on 127.0.0.1 for the farm tests and bench/farm.py: a head that takes no work
and worker nodes started with ``ray start --address``, each its own raylet, as on other machines.

Token authentication is on (``RAY_AUTH_MODE=token`` with a fresh token), as the README tells a
studio to run it. Health checks are fast so a killed node is declared dead within about a second.
Everything runs under one temp folder; :meth:`LocalCluster.stop` kills exactly the processes
whose command line names that folder (never ``ray stop``, which would stop every Ray on the machine).

:class:`StallingHost` is an engine host whose engines take a long step that a cancel does not stop (the farm tests
make it a pool's actor class; Ray's workers import it from here, the driver's folder being on
their path).
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from server.farm.host import EngineHost

RAY = Path(sys.executable).with_name("ray")
#: the environment every process of the cluster, and its drivers, run with
FAST_DEATH = {"RAY_health_check_period_ms": "300", "RAY_health_check_timeout_ms": "300",
              "RAY_health_check_failure_threshold": "2", "RAY_health_check_initial_delay_ms": "0",
              "RAY_USAGE_STATS_ENABLED": "0", "RAY_DEDUP_LOGS": "0"}
_OBJECT_STORE = str(80 * 1000 * 1000)


def _free_port() -> int:
    # the OS's ephemeral ports lie above Ray's worker port range (10002-19999)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalCluster:
    def __init__(self, workers: int = 2, cpus_per_worker: int = 1, gpus_of_last: int = 0):
        """``gpus_of_last``: GPUs the last worker node says it has (Ray takes the count it is given:
        a diffusers host is placed there, its tiny test models run on the CPU)."""
        self.workers, self.cpus, self.gpus_of_last = workers, cpus_per_worker, gpus_of_last
        # short: Ray's unix socket paths must stay under the OS's 107 characters
        self.dir = Path(tempfile.mkdtemp(prefix="sfray", dir="/tmp"))
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.token = secrets.token_hex(24)
        self.env = {**os.environ, **FAST_DEATH, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": self.token}
        self.env.pop("RAY_ADDRESS", None)

    def _ray(self, *args: str) -> None:
        done = subprocess.run([str(RAY), *args], env=self.env, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"ray {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")

    def start(self) -> "LocalCluster":
        try:
            self._ray("start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(self.port),
                      "--num-cpus", "0", "--num-gpus", "0", "--include-dashboard", "false",
                      "--object-store-memory", _OBJECT_STORE, "--temp-dir", str(self.dir), "--disable-usage-stats")
            for n in range(self.workers):  # one at a time: nodes on one address race for their socket names
                self.add_worker(self.gpus_of_last if n == self.workers - 1 else 0)
        except BaseException:
            self.stop()
            raise
        return self

    def add_worker(self, gpus: int = 0) -> None:
        self._ray("start", "--address", self.address, "--node-ip-address", "127.0.0.1", "--num-cpus",
                  str(self.cpus), "--num-gpus", str(gpus), "--object-store-memory", _OBJECT_STORE)

    def driver_env(self) -> dict[str, str]:
        """What a process joining the cluster (the server) needs in its environment."""
        return {k: self.env[k] for k in (*FAST_DEATH, "RAY_AUTH_MODE", "RAY_AUTH_TOKEN")}

    def pids(self) -> list[int]:
        """The processes of this cluster: every one whose command line names its folder, and their
        children (Ray's workers retitle themselves ``ray::...``)."""
        mark = str(self.dir).encode()
        found, parent = set(), {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                if mark in (entry / "cmdline").read_bytes():
                    found.add(int(entry.name))
                parent[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
        grew = True
        while grew:
            more = {pid for pid, ppid in parent.items() if ppid in found and pid not in found}
            found |= more
            grew = bool(more)
        return sorted(found)

    def stop(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in self.pids():
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + 3
            while self.pids() and time.monotonic() < deadline:
                time.sleep(0.1)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "LocalCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


#: the frame of a :class:`StallingHost`'s gap fill made after its long step
LONG_STEP_AT = 50
#: how long that step lasts, and how long once the job is canceled during it
STEP_S, STALL_S = 10.0, 60.0


class _Stalling:
    """A real engine, but a gap fill longer than :data:`LONG_STEP_AT` frames takes a long model step
    there: :data:`STEP_S`, or :data:`STALL_S` once canceled during it, a step that does not look at
    the cancel flag again. Its frames are the real engine's."""

    def __init__(self, engine, stepping: threading.Event):
        self.engine, self.stepping = engine, stepping

    def __getattr__(self, attr: str):
        return getattr(self.engine, attr)

    def fill_gap(self, before, after, frames, job):
        deaf = dataclasses.replace(job, cancel_event=threading.Event())
        for n, frame in enumerate(self.engine.fill_gap(before, after, frames, deaf)):
            if n == LONG_STEP_AT:
                self.stepping.set()
                if job.cancel_event.wait(STEP_S):
                    time.sleep(STALL_S)
                self.stepping.clear()
            yield frame


class StallingHost(EngineHost):
    """An engine host whose gap fills take a long step that a cancel does not stop (:class:`_Stalling`)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.stepping = threading.Event()

    def in_long_step(self) -> bool:
        return self.stepping.is_set()

    def _engine(self, name, options):
        return _Stalling(super()._engine(name, options), self.stepping)
