"""The per-app monitoring state: Prometheus metrics plus a buffer of decision rows."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Engine, insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from feedback.monitoring.metrics import Metrics
from feedback.monitoring.tables import DecisionStat


class Monitor:
    """Counts decisions and feedback and writes :class:`DecisionStat` rows in batches.

    :meth:`add` buffers a row and says when a flush is due (``batch`` rows, or ``interval``
    seconds since the last flush); :meth:`flush` writes the buffer with one executemany.
    """

    def __init__(
        self,
        metrics: Metrics,
        *,
        batch: int = 256,
        interval: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.metrics = metrics
        self.batch = batch
        self.interval = interval
        self.clock = clock
        self._rows: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._last = clock()

    @classmethod
    def create(cls, **kwargs: Any) -> Monitor:
        return cls(Metrics.create(), **kwargs)

    def add(self, stat: dict[str, Any]) -> bool:
        """Count and buffer one decision; True when the buffer should be flushed now."""
        self.metrics.count_decision(stat["model"], cost=stat["cost"], regret=stat["regret"])
        with self._lock:
            self._rows.append(stat)
            return len(self._rows) >= self.batch or self.clock() - self._last >= self.interval

    def count_feedback(self, body: Mapping[str, Any]) -> None:
        if not body.get("duplicate"):
            self.metrics.count_feedback(str(body.get("model")), str(body.get("kind")))

    def flush(self, engine: Engine) -> int:
        """Write the buffered rows; returns how many. A duplicate decision id is skipped."""
        with self._lock:
            rows, self._rows = self._rows, []
            self._last = self.clock()
        if not rows:
            return 0
        with Session(engine) as s:
            try:
                s.execute(insert(DecisionStat), rows)
                s.commit()
                return len(rows)
            except IntegrityError:
                s.rollback()
        written = 0
        with Session(engine) as s:  # one bad row must not lose the batch
            for row in rows:
                try:
                    s.execute(insert(DecisionStat).values(**row))
                    s.commit()
                    written += 1
                except IntegrityError:
                    s.rollback()
        return written
