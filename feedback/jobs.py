"""The writes of the SQL decision store (:mod:`feedback.sql_store`), as group-commit jobs.

A feedback job is counted once by the database: its insert is ``ON CONFLICT DO NOTHING
RETURNING id`` against the UNIQUE constraints on (decision, kind, source) and on the
idempotency key. A job that gets no id is a duplicate; after the commit it answers with the
row that was there first (:func:`agent.store.settle_repeat`: 409 if that row holds another
value). Inserted rows are learnt after the commit and before the answer, exactly once per id.
The feedback window and the source cap are :mod:`agent.store`'s and
:mod:`agent.source_cap`'s rules, as in the embedded Router's store.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np
from sqlalchemy import Connection, Engine, Table, func, insert, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, SQLModel

from agent.decision import OpenDecision
from agent.source_cap import capped_weight
from agent.store import (
    Claim,
    Claimed,
    DecisionError,
    Learn,
    StoredFeedback,
    UnknownDecisionError,
    check_open,
    settle_repeat,
)
from feedback import crud
from feedback.errors import Conflict
from feedback.writer import Job

_IN_CHUNK = 500


def _table(name: str) -> Table:
    return SQLModel.metadata.tables[name]


class FeedbackRules(Protocol):
    """The store side of a feedback job (see :class:`~feedback.sql_store.SqlDecisionStore`)."""

    @property
    def ttl(self) -> float: ...

    @property
    def source_limit(self) -> int: ...

    @property
    def source_window(self) -> float: ...

    def learn_once(self, feedback_id: int, learn: Callable[[], bool]) -> bool: ...


class DecisionJob(Job):
    """Insert one decision row (``values`` are the columns of ``ra_decision``)."""

    def __init__(self, values: dict[str, Any]) -> None:
        super().__init__()
        self.values = values

    @classmethod
    def run_batch(cls, conn: Connection, jobs: Sequence[DecisionJob]) -> None:
        conn.execute(insert(_table("ra_decision")), [j.values for j in jobs])
        for j in jobs:
            j.written = True

    @classmethod
    def finish_batch(cls, engine: Engine, jobs: Sequence[DecisionJob]) -> None:
        """Nothing to add: a committed decision's answer is built by the caller."""


class DecisionModelJob(Job):
    """Change a stored decision's model: another model answered it (the proxy's fallback)."""

    def __init__(self, decision_id: str, model: str) -> None:
        super().__init__()
        self.decision_id = decision_id
        self.model = model

    @classmethod
    def run_batch(cls, conn: Connection, jobs: Sequence[DecisionModelJob]) -> None:
        t = _table("ra_decision")
        for j in jobs:
            conn.execute(update(t).where(t.c.id == j.decision_id).values(model=j.model))
            j.written = True

    @classmethod
    def finish_batch(cls, engine: Engine, jobs: Sequence[DecisionModelJob]) -> None:
        """Nothing to add."""


class FeedbackJob(Job):
    """Store one claim; ``decision`` is None when this replica's cache does not hold it (then
    the batch reads it from the database: unknown or expired as due)."""

    def __init__(
        self, rules: FeedbackRules, claim: Claim, decision: OpenDecision | None, learn: Learn
    ) -> None:
        super().__init__()
        self.rules = rules
        self.claim = claim
        self.decision = decision
        self.learn = learn
        self.fid: int | None = None
        self.weight = 1.0

    @classmethod
    def run_batch(cls, conn: Connection, jobs: Sequence[FeedbackJob]) -> None:
        """Insert the batch with one multi-row statement per *round*: round r holds the r-th
        job of each source (and round 0 the jobs without one), so the rows of one statement
        never change each other's source-cap weights, whichever of them turn out duplicates.
        A repeat of an earlier job of the batch (same (decision, kind, source) or key) is left
        out: the database answers for its first."""
        rules = jobs[0].rules
        _load_decisions(conn, [j for j in jobs if j.decision is None], rules.ttl)
        rounds: list[list[FeedbackJob]] = []
        repeats: list[FeedbackJob] = []
        seen: dict[str, int] = {}
        triples: set[tuple[str, str, str]] = set()
        keys: set[str] = set()
        for j in jobs:
            j.fid, j.weight = None, 1.0
            if j.error is not None:
                continue
            c = j.claim
            if c.triple in triples or c.idempotency_key in keys:
                repeats.append(j)
                continue
            triples.add(c.triple)
            if c.idempotency_key is not None:
                keys.add(c.idempotency_key)
            r = seen.get(c.source, 0) if c.source else 0
            if c.source:
                seen[c.source] = r + 1
            if r == len(rounds):
                rounds.append([])
            rounds[r].append(j)
        if not rounds:
            return
        since = rounds[0][0].claim.now - rules.source_window
        counts = _recent_counts(conn, set(seen), since)
        for members in rounds:
            for j in members:
                if j.claim.source:
                    n = counts.get(j.claim.source, 0) + 1
                    j.weight = capped_weight(n, rules.source_limit)
            ids = _insert_ignoring_duplicates(conn, members)
            for j in members:
                j.fid = ids.get(j.claim.triple)
                j.written = True
                if j.fid is not None and j.claim.source:
                    counts[j.claim.source] = counts.get(j.claim.source, 0) + 1
        for j in repeats:
            j.written = True

    @classmethod
    def finish_batch(cls, engine: Engine, jobs: Sequence[FeedbackJob]) -> None:
        """Learn the new rows in id order, then answer the duplicates from the stored rows."""
        ok = [j for j in jobs if j.error is None]
        for j in sorted((j for j in ok if j.fid is not None), key=lambda j: j.fid or 0):
            assert j.decision is not None and j.fid is not None
            j.result = j._learn_new(j.fid, j.decision)
        duplicates = [j for j in ok if j.fid is None]
        if duplicates:
            with Session(engine) as session:
                for j in duplicates:
                    j._resolve_duplicate(session)

    def _learn_new(self, fid: int, record: OpenDecision) -> Claimed:
        c, weight = self.claim, self.weight
        applied = self.rules.learn_once(fid, lambda: self.learn(record, c, weight))
        stored = StoredFeedback(
            fid, c.decision_id, c.kind, c.value, c.source, weight, c.idempotency_key
        )
        return Claimed(stored, record.model, duplicate=False, applied=applied)

    def _resolve_duplicate(self, session: Session) -> None:
        c = self.claim
        existing = crud.find_feedback(
            session=session,
            decision_id=c.decision_id,
            kind=c.kind,
            source=c.source,
            idempotency_key=c.idempotency_key,
        )
        if existing is None or existing.id is None:  # only possible after a reset
            self.error = Conflict("feedback conflicted with a row that no longer exists; retry")
            return
        stored = StoredFeedback(
            existing.id,
            existing.decision_id,
            existing.kind,
            existing.value,
            existing.source,
            existing.weight,
            existing.idempotency_key,
        )
        try:
            settle_repeat(stored, c)
        except ValueError as exc:
            self.error = exc
            return
        assert self.decision is not None
        self.result = Claimed(stored, self.decision.model, duplicate=True, applied=False)


def _load_decisions(conn: Connection, jobs: list[FeedbackJob], ttl: float) -> None:
    """Fill in the decisions this replica did not make; refuse the jobs that cannot count."""
    if not jobs:
        return
    t = _table("ra_decision")
    ids = sorted({j.claim.decision_id for j in jobs})
    found: dict[str, OpenDecision] = {}
    for i in range(0, len(ids), _IN_CHUNK):
        c = t.c
        stmt = sa_select(
            c.id, c.model, c.weights, c.leaf, c.prompt_key, c.created_at, c.tags,
            c.conversation_id, c.cells,
        ).where(c.id.in_(ids[i : i + _IN_CHUNK]))  # fmt: skip
        for did, model, weights, leaf, key, created, tags, cid, cells in conn.execute(stmt):
            w = np.asarray(json.loads(weights), dtype=np.float64)
            found[str(did)] = OpenDecision(
                str(did),
                str(model),
                w,
                float(created),
                cid,
                leaf=int(leaf),
                prompt_key=int(key),
                tags=tuple(json.loads(tags)),
                cells=tuple(int(x) for x in json.loads(cells or "[]")),
            )
    for j in jobs:
        did = j.claim.decision_id
        info = found.get(did)
        try:
            if info is None:
                raise UnknownDecisionError(f"no decision {did!r}")
            check_open(did, info.created_at, j.claim.now, ttl)
        except DecisionError as exc:
            j.error = exc
        else:
            j.decision = info


def _recent_counts(conn: Connection, sources: set[str], since: float) -> dict[str, int]:
    """Feedback rows per source committed after ``since`` (the source cap's window)."""
    t = _table("ra_feedback")
    wanted = sorted(sources)
    counts: dict[str, int] = {}
    for i in range(0, len(wanted), _IN_CHUNK):
        stmt = (
            sa_select(t.c.source, func.count())
            .where(t.c.source.in_(wanted[i : i + _IN_CHUNK]), t.c.created_at > since)
            .group_by(t.c.source)
        )
        counts.update({str(s): int(n) for s, n in conn.execute(stmt)})
    return counts


_COLUMNS = ("decision_id", "kind", "value", "weight", "source", "idempotency_key", "created_at")


def _insert_ignoring_duplicates(
    conn: Connection, jobs: list[FeedbackJob]
) -> dict[tuple[str, str, str], int]:
    """One ``INSERT ... VALUES (...), (...) ON CONFLICT DO NOTHING RETURNING`` for all of
    ``jobs`` (one round trip); the new ids by (decision, kind, source). A job missing from the
    answer conflicted with a stored row on a UNIQUE constraint."""
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    row = "(" + ", ".join([mark] * len(_COLUMNS)) + ")"
    sql = (
        f"INSERT INTO ra_feedback ({', '.join(_COLUMNS)}) VALUES "
        + ", ".join([row] * len(jobs))
        + " ON CONFLICT DO NOTHING RETURNING id, decision_id, kind, source"
    )
    params: list[Any] = []
    for j in jobs:
        c = j.claim
        params += [c.decision_id, c.kind, c.value, j.weight, c.source, c.idempotency_key, c.now]
    result = conn.exec_driver_sql(sql, tuple(params))
    return {(str(d), str(k), str(s)): int(i) for i, d, k, s in result}
