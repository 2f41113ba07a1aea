"""The connection layer under the app: timeouts, a connection cap, and a log that cannot flood.

uvicorn alone waits forever for a request header that never ends and accepts sockets until the
process runs out of file descriptors; asyncio then logs a traceback for every failed accept
("Too many open files"), hundreds of megabytes a minute. Here:

* a request's header must arrive within ``header_timeout`` seconds of its first byte (of the
  connection opening, for a new one), and its body within ``body_timeout`` seconds of the
  header: a slow or stalled client gets ``408`` and is closed, however it trickles bytes;
* an idle keep-alive connection is closed after ``keep_alive_timeout`` (uvicorn's own timer);
* at most ``max_connections`` connections are open, fewer when the process may open few files
  (:func:`connection_cap`); a new connection beyond the cap closes the longest-idle one (a
  connection waiting for a request, never one being answered), or is answered ``503`` when
  every connection is busy;
* :class:`FloodFilter` lets one log line per cause through per interval and counts the rest;
* malformed HTTP is answered in the API's error shape too.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from uvicorn.protocols.http.h11_impl import H11Protocol

from server.http.errors import error_bytes

log = logging.getLogger("shotforge.server")

#: file descriptors kept back from connections: the job database, media being decoded, logs, watch
_RESERVED_FILES = 64


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout: float
    body_timeout: float
    max_connections: int


def connection_cap(max_connections: int) -> int:
    """``max_connections``, lowered so connections never use up the process's open-file limit."""
    try:
        import resource
    except ImportError:  # Windows: no such limit to respect
        return max_connections
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return max_connections
    return max(4, min(max_connections, soft - _RESERVED_FILES))


def uvicorn_config(app, settings, **overrides):
    """The uvicorn configuration ``serve`` runs ``app`` with: these limits and timeouts, and
    uvicorn's loggers left to the root handler (where the flood filter is)."""
    import uvicorn

    limits = ConnectionLimits(settings.header_timeout, settings.body_timeout,
                              connection_cap(settings.max_connections))
    options = {"log_level": settings.log_level, "log_config": None, "timeout_graceful_shutdown": 3,
               "access_log": settings.log_level == "debug", "http": protocol_class(limits),
               "timeout_keep_alive": settings.keep_alive_timeout, "backlog": settings.backlog, **overrides}
    return uvicorn.Config(app, **options)


def protocol_class(limits: ConnectionLimits) -> type[H11Protocol]:
    """The HTTP protocol uvicorn runs (``uvicorn.Config(http=...)``), bound to these limits."""
    return type("ShotForgeHTTP", (LimitedH11Protocol,), {"limits": limits})


class LimitedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with request timeouts and the connection cap.

    ``phase`` is what the connection waits for: ``idle`` (no request yet, or between two),
    ``header``, ``body``, or ``app`` (the request is whole; the app is answering it).
    """

    limits: ConnectionLimits

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._timer = None
        self.phase = "idle"
        self.idle_since = self.loop.time()
        if not self._make_room():
            log.warning("connections: all %d are busy; refusing new ones with 503", self.limits.max_connections)
            transport.write(error_bytes(503, "Service Unavailable", "too_many_connections",
                                        f"the server has {self.limits.max_connections} connections open, all busy; "
                                        "try again shortly"))
            transport.close()
            return
        self._start("header", self.limits.header_timeout)  # a new connection must send its request now

    def connection_lost(self, exc) -> None:
        self._stop_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.phase == "idle":  # the first byte of a request starts its clock
            self._start("header", self.limits.header_timeout)
        super().data_received(data)
        self._follow()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.phase == "app":
            self._stop_timer()
            self.phase = "idle"
            self.idle_since = self.loop.time()
        self._follow()  # a pipelined request may have started inside

    def send_400_response(self, msg: str) -> None:
        self._stop_timer()
        self.transport.write(error_bytes(400, "Bad Request", "bad_http",
                                         f"{msg.rstrip('.')}: this is not an HTTP/1.1 request the server can read"))
        self.transport.close()

    # -- phases and the one timer ---------------------------------------------------------------
    def _follow(self) -> None:
        """Move the phase on from what h11 has parsed so far."""
        cycle = self.cycle
        if self.phase not in ("header", "body") or cycle is None or cycle.response_complete:
            return
        if cycle.more_body:
            if self.phase == "header":
                self._start("body", self.limits.body_timeout)
        else:
            self._stop_timer()
            self.phase = "app"

    def _start(self, phase: str, seconds: float) -> None:
        self._stop_timer()
        self.phase = phase
        self._timer = self.loop.call_later(seconds, self._expired)

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        if self.transport.is_closing() or self.phase not in ("header", "body"):
            return
        limit = self.limits.header_timeout if self.phase == "header" else self.limits.body_timeout
        log.warning("connections: closed one whose request %s took longer than %g s", self.phase, limit)
        # The app may be waiting for the body: closing tells it the client is gone.
        self.transport.write(error_bytes(408, "Request Timeout", "request_timeout",
                                         f"the request {self.phase} did not arrive within {limit:g} s"))
        self.transport.close()

    # -- the cap --------------------------------------------------------------------------------
    def _make_room(self) -> bool:
        """Keep open connections within the cap by closing the longest-idle others; False when
        every other connection is busy answering a request."""
        open_ = [c for c in self.connections if c is not self and not c.transport.is_closing()]
        over = len(open_) + 1 - self.limits.max_connections
        if over <= 0:
            return True
        idle = sorted((c for c in open_ if getattr(c, "phase", "app") in ("idle", "header")),
                      key=lambda c: c.idle_since)
        for conn in idle[:over]:
            conn._stop_timer()
            conn.transport.close()
        log.warning("connections: at the limit of %d; closed the longest-idle ones", self.limits.max_connections)
        return len(idle) >= over


class FloodFilter(logging.Filter):
    """At most one record per cause (logger, level, first line of the message, exception type and
    errno) every ``interval`` seconds; the next one let through says how many were held back.
    Records below WARNING always pass: they are not what floods. asyncio's socket errors lose
    their traceback (asyncio's own, it says nothing the error does not)."""

    _MAX_CAUSES = 512  # causes remembered; more are forgotten oldest first

    def __init__(self, interval: float = 10.0):
        super().__init__()
        self.interval = interval
        self._causes: dict[tuple, list] = {}  # cause -> [time let through, records held back since]
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        exc = record.exc_info[1] if record.exc_info else None
        cause = (record.name, record.levelno, record.getMessage().split("\n", 1)[0],
                 type(exc).__name__ if exc else None, getattr(exc, "errno", None))
        now = time.monotonic()
        with self._lock:
            seen = self._causes.get(cause)
            if seen is not None and now - seen[0] < self.interval:
                seen[1] += 1
                return False
            held = seen[1] if seen else 0
            self._causes.pop(cause, None)
            self._causes[cause] = [now, 0]
            while len(self._causes) > self._MAX_CAUSES:
                self._causes.pop(next(iter(self._causes)))
        if isinstance(exc, OSError) and record.name == "asyncio":
            # the event loop's own socket errors ("Too many open files" on accept): the cause is
            # the machine's state, and the traceback is asyncio's, so one line says all of it
            record.msg, record.args = f"{record.getMessage()}\n{exc}", ()
            record.exc_info = record.exc_text = None
        if held:
            record.msg = f"{record.getMessage()} [and {held} more like it in the last {self.interval:g} s]"
            record.args = ()
        return True


def install_flood_filter(interval: float) -> FloodFilter:
    """Put one :class:`FloodFilter` on every handler of the root logger (all loggers end there)."""
    flood = FloodFilter(interval)
    for handler in logging.getLogger().handlers:
        handler.addFilter(flood)
    return flood
