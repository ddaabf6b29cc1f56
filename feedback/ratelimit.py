"""A token bucket per client identity (:mod:`feedback.identity`: the client key that matched,
else the address, never the raw ``Authorization`` header): ``rate`` requests a second on
average, bursts of ``burst``; beyond that a 429 with ``Retry-After``.

>>> t = [0.0]
>>> limit = RateLimiter(rate=1.0, burst=2, clock=lambda: t[0])
>>> [limit.wait("k") for _ in range(3)]
[0.0, 0.0, 1.0]
>>> t[0] = 1.0; limit.wait("k")
0.0
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

#: Clients remembered at once; the least recently seen are forgotten first (a full bucket).
MAX_CLIENTS = 100_000


class RateLimiter:
    """Token buckets by client; :meth:`wait` takes a token or says how long until one."""

    def __init__(
        self, *, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if not rate > 0 or burst < 1:
            raise ValueError(f"need rate > 0 and burst >= 1, got {rate} and {burst}")
        self.rate, self.burst, self.clock = float(rate), int(burst), clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def wait(self, client: str) -> float:
        """0 if ``client`` may go now (a token is taken), else the seconds until it may."""
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.pop(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[client] = (tokens - 1.0, now)
                wait = 0.0
            else:
                self._buckets[client] = (tokens, now)
                wait = (1.0 - tokens) / self.rate
            while len(self._buckets) > MAX_CLIENTS:
                self._buckets.popitem(last=False)
        return wait
