"""Wrong tokens, throttled per client address with exponential back-off.

A mistyped token or two costs nothing (:data:`FREE_FAILURES`); from then on each wrong token
locks the address out for twice as long as the last (1 s, 2 s, 4 s, ... at most
:data:`MAX_LOCKOUT_S`). While locked out, every request from that address that needs the token
is answered 429 with ``Retry-After`` *before* its token is compared, so a guess made during the
lock-out learns nothing, a right one included. A right token outside a lock-out clears the
address's record. Records are forgotten :data:`FORGET_S` after their last failure, and at most
:data:`MAX_ADDRESSES` are kept (the oldest go first), so a flood of addresses cannot grow memory.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict

FREE_FAILURES = 2
MAX_LOCKOUT_S = 300.0
FORGET_S = 900.0
MAX_ADDRESSES = 10000


class TokenThrottle:
    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: OrderedDict[str, tuple[int, float, float]] = OrderedDict()  # addr: (count, last, until)

    def retry_after(self, address: str) -> int | None:
        """Whole seconds until ``address`` may try a token again, or None when it may now."""
        now = self._clock()
        with self._lock:
            entry = self._failures.get(address)
            if entry is None:
                return None
            count, last, until = entry
            if now - last > FORGET_S:
                del self._failures[address]
                return None
            return math.ceil(until - now) if until > now else None

    def failed(self, address: str) -> None:
        now = self._clock()
        with self._lock:
            count, _, _ = self._failures.pop(address, (0, now, now))
            count += 1
            lockout = min(MAX_LOCKOUT_S, 2.0 ** (count - FREE_FAILURES - 1)) if count > FREE_FAILURES else 0.0
            self._failures[address] = (count, now, now + lockout)
            while len(self._failures) > MAX_ADDRESSES:
                self._failures.popitem(last=False)

    def succeeded(self, address: str) -> None:
        with self._lock:
            self._failures.pop(address, None)
