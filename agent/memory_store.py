"""The in-memory :class:`~agent.store.DecisionStore` of the embedded Router: open decisions,
oldest first, and the feedback counted on them."""

from __future__ import annotations

import itertools
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from agent.decision import OpenDecision
from agent.source_cap import InfluenceCap, Limits
from agent.store import (
    Claim,
    Claimed,
    Learn,
    StoredFeedback,
    UnknownDecisionError,
    check_open,
    settle_repeat,
)


class MemoryDecisionStore:
    """Open decisions, bounded by ``max_open``; feedback is refused after ``ttl`` seconds and
    a decision forgotten (with its feedback) after ``2 * ttl``. ``limits`` cap what a source
    and an identity may weigh (:mod:`agent.source_cap`).

    >>> import numpy as np
    >>> now = [0.0]
    >>> store = MemoryDecisionStore(ttl=10, clock=lambda: now[0])
    >>> from policies import Context
    >>> store.put(OpenDecision("d1", "m", Context(np.ones(1)), created_at=0.0))
    >>> learn = lambda record, claim, weight: True
    >>> first = store.claim(Claim("d1", "label", 1.0, "", None, 0.0), learn)
    >>> again = store.claim(Claim("d1", "label", 1.0, "", None, 1.0), learn)
    >>> first.duplicate, again.duplicate, again.stored.feedback_id == first.stored.feedback_id
    (False, True, True)
    >>> now[0] = 11.0
    >>> store.get("d1")
    Traceback (most recent call last):
    ...
    agent.store.ExpiredDecisionError: decision 'd1' is 11s old; feedback closes after 10s
    """

    def __init__(
        self,
        *,
        ttl: float = 86400.0,
        max_open: int = 1_000_000,
        limits: Limits | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ttl = ttl
        self.max_open = max_open
        self.limits = limits
        self.clock = clock
        self._open: OrderedDict[str, OpenDecision] = OrderedDict()
        self._feedback: dict[str, dict[tuple[str, str], StoredFeedback]] = {}
        self._keys: dict[str, StoredFeedback] = {}
        self._cap = InfluenceCap(limits or Limits(), clock)
        self._ids = itertools.count(1)
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return len(self._open)

    # -- decisions -----------------------------------------------------------------------------
    def put(self, record: OpenDecision) -> None:
        with self._lock:
            self._open[record.id] = record
            self._evict()

    async def durable(self, decision_id: str) -> None:
        """Nothing to wait for: memory is all this store has."""

    def get(self, decision_id: str) -> OpenDecision:
        """The open decision ``decision_id``; raises if unknown or past its TTL."""
        with self._lock:
            record = self._open.get(decision_id)
        if record is None:
            raise UnknownDecisionError(f"no decision {decision_id!r}")
        check_open(decision_id, record.created_at, self.clock(), self.ttl)
        return record

    async def reassign(self, decision_id: str, model: str) -> None:
        self.get(decision_id).model = model

    def _evict(self) -> None:
        horizon = self.clock() - 2 * self.ttl
        items = self._open
        while items:
            first = next(iter(items.values()))
            if len(items) <= self.max_open and first.created_at >= horizon:
                break
            items.popitem(last=False)
            for row in self._feedback.pop(first.id, {}).values():
                if row.idempotency_key is not None:
                    self._keys.pop(row.idempotency_key, None)

    # -- feedback ------------------------------------------------------------------------------
    def claim(self, claim: Claim, learn: Learn) -> Claimed:
        """Count ``claim`` once (see :mod:`agent.store`); a new one is learnt before returning."""
        record = self.get(claim.decision_id)
        with self._lock:
            rows = self._feedback.setdefault(claim.decision_id, {})
            earlier = rows.get((claim.kind, claim.stored_source))
            if earlier is None and claim.idempotency_key is not None:
                earlier = self._keys.get(claim.idempotency_key)
            if earlier is not None:
                stored = settle_repeat(earlier, claim)
                return Claimed(stored, record.model, duplicate=True, applied=False)
            power = self._cap.weigh(
                claim.identity, claim.stored_source, record.cluster, record.model, record.teach
            )
            stored = StoredFeedback(
                next(self._ids),
                claim.decision_id,
                claim.kind,
                claim.value,
                claim.source,
                power.weight,
                claim.idempotency_key,
                claim.identity,
            )
            rows[(claim.kind, claim.stored_source)] = stored
            if claim.idempotency_key is not None:
                self._keys[claim.idempotency_key] = stored
        applied = learn(record, claim, power)  # outside the lock: learning takes the router's
        return Claimed(stored, record.model, duplicate=False, applied=applied)

    async def aclaim(self, claim: Claim, learn: Learn) -> Claimed:
        return self.claim(claim, learn)

    # -- state ---------------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        with self._lock:
            return {
                "decisions": [r.to_dict() for r in self._open.values()],
                "feedback": [
                    {
                        **row.to_dict(),
                        "source": row.source,
                        "key": row.idempotency_key,
                        "identity": row.identity,
                    }
                    for rows in self._feedback.values()
                    for row in rows.values()
                ],
            }

    def load_state(self, state: dict[str, Any] | list[dict[str, Any]]) -> None:
        """Restore :meth:`to_state`'s output. A router saved before stores kept feedback values
        (a plain list of decisions, each with the (kind, source) pairs it had seen) loads
        with those pairs as duplicates-to-be of any value."""
        if isinstance(state, list):
            state = {"decisions": state, "feedback": _legacy_feedback(state)}
        with self._lock:
            self._open.clear()
            self._feedback.clear()
            self._keys.clear()
            for d in state["decisions"]:
                record = OpenDecision.from_dict(d)
                self._open[record.id] = record
            top = 0
            for f in state["feedback"]:
                identity = str(f.get("identity", ""))
                row = StoredFeedback(
                    int(f["feedback_id"]),
                    str(f["decision_id"]),
                    str(f["kind"]),
                    None if f["value"] is None else float(f["value"]),
                    str(f["source"] or ""),
                    float(f["weight"]),
                    f.get("key"),
                    identity,
                )
                self._feedback.setdefault(row.decision_id, {})[row.triple[1:]] = row
                if row.idempotency_key is not None:
                    self._keys[row.idempotency_key] = row
                top = max(top, row.feedback_id)
            self._ids = itertools.count(top + 1)


def _legacy_feedback(decisions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for d in decisions:
        for kind, source in d.get("seen", []):
            rows.append(
                {
                    "feedback_id": len(rows) + 1,
                    "decision_id": d["id"],
                    "kind": kind,
                    "value": None,
                    "source": source,
                    "weight": 0.0,
                }
            )
    return rows
