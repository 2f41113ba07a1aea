"""The engine host's body (:class:`server.farm.host.EngineHost`) in this process, no cluster: what
it does with calls whose messages reach it out of order (a threaded actor runs them as they come)."""

from __future__ import annotations

import time

import numpy as np

from server.farm.host import EngineHost


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
