"""The ledger of open decisions: feedback finds its decision here until the TTL runs out."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from agent.decision import OpenDecision


class DecisionError(LookupError):
    """Feedback that cannot be matched to a live decision."""


class UnknownDecisionError(DecisionError):
    """No decision with this id was made (or it was forgotten long ago)."""


class ExpiredDecisionError(DecisionError):
    """The decision exists but its feedback window (TTL) has closed."""


class DecisionLedger:
    """In-memory store of open decisions, oldest first, bounded by ``max_open``.

    Decisions older than ``ttl`` seconds refuse feedback with :class:`ExpiredDecisionError`;
    they are forgotten (then :class:`UnknownDecisionError`) after ``2 * ttl``.

    >>> now = [0.0]
    >>> ledger = DecisionLedger(ttl=10, clock=lambda: now[0])
    >>> ledger.put(OpenDecision("d1", "m", __import__("numpy").ones(1), created_at=0.0))
    >>> ledger.get("d1").model
    'm'
    >>> now[0] = 11.0
    >>> ledger.get("d1")
    Traceback (most recent call last):
    ...
    agent.ledger.ExpiredDecisionError: decision 'd1' is 11s old; feedback closes after 10s
    """

    def __init__(
        self,
        *,
        ttl: float = 86400.0,
        max_open: int = 1_000_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ttl = ttl
        self.max_open = max_open
        self.clock = clock
        self._open: OrderedDict[str, OpenDecision] = OrderedDict()
        self._lock = threading.Lock()

    def _items(self) -> OrderedDict[str, OpenDecision]:
        return self._open

    def __len__(self) -> int:
        return len(self._items())

    def put(self, record: OpenDecision) -> None:
        items = self._items()
        with self._lock:
            items[record.id] = record
            self._evict(items)

    def get(self, decision_id: str) -> OpenDecision:
        """The open decision ``decision_id``; raises if unknown or past its TTL."""
        items = self._items()
        with self._lock:
            record = items.get(decision_id)
        if record is None:
            raise UnknownDecisionError(f"no decision {decision_id!r}")
        age = self.clock() - record.created_at
        if age > self.ttl:
            raise ExpiredDecisionError(
                f"decision {decision_id!r} is {age:.0f}s old; feedback closes after {self.ttl:g}s"
            )
        return record

    def _evict(self, items: OrderedDict[str, OpenDecision]) -> None:
        horizon = self.clock() - 2 * self.ttl
        while items:
            first = next(iter(items.values()))
            if len(items) > self.max_open or first.created_at < horizon:
                items.popitem(last=False)
            else:
                break

    def to_state(self) -> list[dict[str, Any]]:
        items = self._items()
        with self._lock:
            return [r.to_dict() for r in items.values()]

    def load_state(self, state: list[dict[str, Any]]) -> None:
        items = self._items()
        with self._lock:
            items.clear()
            for d in state:
                record = OpenDecision.from_dict(d)
                items[record.id] = record
