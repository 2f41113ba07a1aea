"""The farm's pieces that need no cluster: the engine host's body (:class:`server.farm.host.EngineHost`)
in this process, with calls whose messages reach it out of order (a threaded actor runs them as they
come) and engines asked for while they load, the proxy's check of a re-run's frames against those already delivered, and the pool's borrowing
after a lost worker."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from otio_tools.errors import ShotForgeError
from server.farm import pool as pool_module
from server.farm.host import EngineHost, frame_digest
from server.farm.pool import Host, WorkerPool
from server.farm.proxy import _Delivered


def _frames(n: int, value: int) -> list[np.ndarray]:
    return [np.full((32, 48, 3), value, np.uint8) for _ in range(n)]


def _job() -> dict:
    return {"rate": 24, "prompt": "", "negative_prompt": "", "seed": 7, "options": {}}


def test_a_cancel_that_overtakes_its_call_stops_the_call_as_it_begins():
    host = EngineHost("cpu")
    assert host.cancel("call-1") is False  # the run has not reached the host yet
    started = time.monotonic()
    items = list(host.run("call-1", "classical", {}, "fill_gap",
                          {"before": _frames(2, 10), "after": _frames(2, 200), "frames": 2000}, _job()))
    assert items[-1] == {"error": {"kind": "canceled"}}, items[-1]
    assert sum(len(i.get("frames", [])) for i in items) < 2000
    assert time.monotonic() - started < 5.0
    assert host.calls == {} and host._early_cancels == {}


def test_a_call_not_canceled_runs_whole():
    host = EngineHost("cpu")
    host.cancel("another call")  # remembered for that call only
    items = list(host.run("call-2", "classical", {}, "fill_gap",
                          {"before": _frames(2, 10), "after": _frames(2, 200), "frames": 12}, _job()))
    assert items[-1] == {"end": True}
    assert sum(len(i.get("frames", [])) for i in items) == 12


def test_a_rerun_whose_skipped_frames_differ_from_those_delivered_is_refused_naming_frame_and_nodes():
    delivered = _Delivered("fill_gap")
    frames = _frames(3, 50)
    frames[2][5, 7, 1] = 51
    for frame in frames:
        delivered.add(frame_digest(frame), "node-a" * 4)
    for n, frame in enumerate(_frames(2, 50)):  # the re-run makes the first two alike
        delivered.check(n, frame_digest(frame), "node-b" * 4)
    with pytest.raises(ShotForgeError) as caught:
        delivered.check(2, frame_digest(_frames(1, 50)[0]), "node-b" * 4)  # one pixel off
    assert caught.value.code == "worker_mismatch"
    assert "frame 2" in caught.value.message and "node node-bnode-b made" in caught.value.message
    assert "node node-anode-a made" in caught.value.message
    with pytest.raises(ShotForgeError):  # the same bytes in another shape are another frame
        delivered.check(0, frame_digest(frames[0].reshape(48, 32, 3)), "node-b")


def test_the_host_sends_each_frame_with_its_digest():
    host = EngineHost("cpu")
    items = [i for i in host.run("call-3", "classical", {}, "fill_gap",
                                 {"before": _frames(2, 10), "after": _frames(2, 200), "frames": 5}, _job())
             if "frames" in i]
    assert [frame_digest(f) for i in items for f in i["frames"]] == [d for i in items for d in i["digests"]]
    assert sum(len(i["digests"]) for i in items) == 5


def test_two_calls_asking_for_an_engine_while_it_loads_build_it_once(monkeypatch):
    # a job canceled while its model loads leaves the load running on the host; the next job's call
    # must wait for that model, not load a second copy beside it
    import server.engines as engines

    built, real = [], engines.load_engine

    def slow_load(name, **options):
        built.append(name)
        time.sleep(0.3)  # a model being read
        return real(name, **options)

    monkeypatch.setattr(engines, "load_engine", slow_load)
    host = EngineHost("cpu")
    answers: list[dict] = []
    callers = [threading.Thread(target=lambda: answers.append(host.describe("classical", {}))) for _ in range(2)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(10)
    assert built == ["classical"] and len(answers) == 2 and answers[0] == answers[1]


class _OneNodePool(WorkerPool):
    """The pool's borrowing, the cluster's node table stood in for: one live node of one CPU,
    whose host is put back by the first look at the cluster once the node is no longer suspect."""

    def refresh(self) -> None:
        with self._cond:
            self._refreshed = time.monotonic()
            if not self.hosts and not self._is_suspect("node-1"):
                self.hosts.append(Host(object(), "cpu", "node-1"))
            self._cond.notify_all()


def test_a_job_waiting_out_a_suspect_node_gets_the_host_put_back_there_not_no_worker(monkeypatch):
    monkeypatch.setattr(pool_module, "_SUSPECT_S", 0.3)
    monkeypatch.setattr(pool_module, "_REFRESH_S", 60.0)  # no timed look: only the one the wait needs
    pool = _OneNodePool()
    pool.refresh()
    lost = pool.acquire("classical", threading.Event(), lambda: None)
    pool.lost(lost)  # its worker died: the node gets no host for _SUSPECT_S
    waited = []
    host = pool.acquire("classical", threading.Event(), lambda: waited.append(True))
    assert host is not lost and host.node_id == "node-1" and host.busy and waited == [True]
