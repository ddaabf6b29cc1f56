"""The service's :class:`~agent.store.DecisionStore`: decisions and feedback rows in the
database (SQLite or PostgreSQL), written by the group-commit thread.

The decisions this replica made are also cached in memory, so feedback on them needs no read;
feedback on another replica's decision reads it from the database. The rules (feedback window,
counting once, changed values, the influence caps) are :mod:`agent.store`'s, as in memory.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from agent.decision import OpenDecision
from agent.memory_store import MemoryDecisionStore
from agent.source_cap import Limits
from agent.store import Claim, Claimed, DecisionError, Learn
from feedback.jobs import DecisionJob, DecisionModelJob, FeedbackJob
from feedback.writer import GroupCommitter


class SqlDecisionStore:
    """``settings()`` gives the live ``decision_ttl`` and influence ``limits``. After a
    feedback row commits, the writer hands it to ``committed(feedback_id, learn)``; the
    request that sent it then calls ``learn_through(feedback_id)``, which learns the
    replica's committed rows up to it in id order, off the writer's thread, and says whether
    the posterior has it."""

    def __init__(
        self,
        writer: GroupCommitter,
        *,
        settings: Callable[[], Any],
        committed: Callable[[int, Callable[[], bool]], None],
        learn_through: Callable[[int], bool],
        clock: Callable[[], float],
    ) -> None:
        self.writer = writer
        self._settings = settings
        self._committed = committed
        self._learn_through = learn_through
        self._cache = MemoryDecisionStore(ttl=settings().decision_ttl, clock=clock)
        self._pending: dict[str, concurrent.futures.Future[Any]] = {}
        self._lock = threading.Lock()

    # the rules a FeedbackJob reads (live: tests and admins may swap the settings)
    @property
    def ttl(self) -> float:
        return float(self._settings().decision_ttl)

    @property
    def limits(self) -> Limits:
        return self._settings().limits

    def committed(self, feedback_id: int, learn: Callable[[], bool]) -> None:
        self._committed(feedback_id, learn)

    # -- decisions -----------------------------------------------------------------------------
    def put(self, record: OpenDecision) -> None:
        """Cache ``record`` and start writing it; :meth:`durable` waits for the commit."""
        self._cache.ttl = self.ttl
        self._cache.put(record)
        fut = self.writer.enqueue(DecisionJob(decision_row(record)))
        with self._lock:
            self._pending[record.id] = fut
        fut.add_done_callback(lambda f: self._settled(record.id, f))

    def _settled(self, decision_id: str, fut: concurrent.futures.Future[Any]) -> None:
        if fut.exception() is None:  # a failed write stays for durable() to raise
            with self._lock:
                self._pending.pop(decision_id, None)

    async def durable(self, decision_id: str) -> None:
        """Wait until the decision is committed (raises the write's error)."""
        with self._lock:
            fut = self._pending.get(decision_id)
        if fut is None:
            return
        try:
            await asyncio.wrap_future(fut)
        finally:
            with self._lock:
                self._pending.pop(decision_id, None)

    def get(self, decision_id: str) -> OpenDecision:
        """A decision this replica made and still caches (raises if unknown here or expired)."""
        self._cache.ttl = self.ttl
        return self._cache.get(decision_id)

    async def reassign(self, decision_id: str, model: str) -> None:
        await self.durable(decision_id)
        try:
            self._cache.get(decision_id).model = model
        except DecisionError:
            pass  # not cached: the database row is what counts
        await self.writer.submit(DecisionModelJob(decision_id, model))

    # -- feedback ------------------------------------------------------------------------------
    def _job(self, claim: Claim, learn: Learn) -> FeedbackJob:
        try:
            record: OpenDecision | None = self.get(claim.decision_id)
        except DecisionError:
            record = None  # made elsewhere or forgotten here: the batch reads the database
        return FeedbackJob(self, claim, record, learn)

    def claim(self, claim: Claim, learn: Learn) -> Claimed:
        result: Claimed = self.writer.submit_blocking(self._job(claim, learn))
        if result.duplicate:
            return result
        return replace(result, applied=self._learn_through(result.stored.feedback_id))

    async def aclaim(self, claim: Claim, learn: Learn) -> Claimed:
        result: Claimed = await self.writer.submit(self._job(claim, learn))
        if result.duplicate:
            return result
        applied = await asyncio.to_thread(self._learn_through, result.stored.feedback_id)
        return replace(result, applied=applied)


def decision_row(d: OpenDecision) -> dict[str, Any]:
    """The ``ra_decision`` columns of a decision."""
    return {
        "id": d.id,
        "model": d.model,
        "context": json.dumps(d.context.to_row()),
        "lam": d.lam,
        "created_at": d.created_at,
        "conversation_id": d.conversation_id,
        "teach": d.teach,
    }
