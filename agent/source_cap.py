"""Per-source weight cap: one client cannot swing a cluster by spamming feedback."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


def capped_weight(count: int, limit: int) -> float:
    """The weight of a source's ``count``-th piece of feedback in a window (1-based).

    The first ``limit`` pieces count fully; after that piece ``n`` counts ``limit / n``, so a
    source's total influence per window grows only logarithmically with its volume.

    >>> [round(capped_weight(n, 2), 3) for n in (1, 2, 3, 4)]
    [1.0, 1.0, 0.667, 0.5]
    """
    if limit < 1:
        raise ValueError(f"source limit must be >= 1, got {limit}")
    return 1.0 if count <= limit else limit / count


class SourceCap:
    """Counts feedback per source in a sliding ``window`` (seconds) and returns its weight.

    >>> now = [0.0]
    >>> cap = SourceCap(limit=1, window=60, clock=lambda: now[0])
    >>> cap.weight("u"), cap.weight("u"), cap.weight(None), cap.weight(None)
    (1.0, 0.5, 1.0, 1.0)
    >>> now[0] = 61.0
    >>> cap.weight("u")
    1.0
    """

    def __init__(
        self, limit: int = 50, window: float = 3600.0, clock: Callable[[], float] = time.time
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def weight(self, source: str | None) -> float:
        """Record one piece of feedback from ``source`` and return its weight (anonymous: 1)."""
        if source is None:
            return 1.0
        seen = self._seen
        now = self.clock()
        with self._lock:
            q = seen.setdefault(source, deque())
            while q and q[0] <= now - self.window:
                q.popleft()
            q.append(now)
            return capped_weight(len(q), self.limit)
