"""The writes of ``POST /route`` and ``POST /feedback``, as group-commit jobs.

A feedback job is counted once by the database: its insert is ``ON CONFLICT DO NOTHING
RETURNING id`` against the UNIQUE constraints on (decision, kind, source) and on the
idempotency key. A job that gets no id is a duplicate; after the commit it answers with the
row that was there first, or 409 if that row holds another value. Inserted rows are folded
into the posterior after the commit and before the answer, exactly once per id (the
service's applied-id bookkeeping).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from sqlalchemy import Connection, Engine, Table, func, insert, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, SQLModel

from agent.source_cap import capped_weight
from feedback import crud
from feedback.errors import Conflict, Gone, Invalid, NotFound
from feedback.models import FeedbackRow
from feedback.schemas import FeedbackResponse
from feedback.writer import Job

_IN_CHUNK = 500


def _table(name: str) -> Table:
    return SQLModel.metadata.tables[name]


@dataclass(frozen=True, slots=True)
class DecisionInfo:
    """What feedback needs of its decision: the cell to update and the feedback window."""

    model: str
    weights: np.ndarray
    leaf: int
    item: int
    created_at: float
    tags: tuple[str, ...] = ()


class FeedbackOwner(Protocol):
    """The service side of a feedback job (see :class:`~feedback.service.RoutingService`)."""

    @property
    def decision_ttl(self) -> float: ...

    @property
    def source_limit(self) -> int: ...

    @property
    def source_window(self) -> float: ...

    def fold_new(
        self, fid: int, kind: str, value: float, decision: DecisionInfo, weight: float
    ) -> None: ...


def gone(decision_id: str, age: float, ttl: float) -> Gone:
    return Gone(f"decision {decision_id!r} is {age:.0f}s old; feedback closes after {ttl:g}s")


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
    """Store one piece of feedback; ``decision`` is None when this replica's ledger does not
    hold it (then the batch reads it from the database: 404 or 410 as due)."""

    def __init__(
        self,
        owner: FeedbackOwner,
        *,
        decision_id: str,
        decision: DecisionInfo | None,
        kind: str,
        value: float,
        source: str,
        idempotency_key: str | None,
        now: float,
    ) -> None:
        super().__init__()
        self.owner = owner
        self.decision_id = decision_id
        self.decision = decision
        self.kind = kind
        self.value = value
        self.source = source
        self.idempotency_key = idempotency_key
        self.now = now
        self.fid: int | None = None
        self.weight = 1.0

    @classmethod
    def run_batch(cls, conn: Connection, jobs: Sequence[FeedbackJob]) -> None:
        """Insert the batch with one multi-row statement per *round*: round r holds the r-th
        job of each source (and round 0 the jobs without one), so the rows of one statement
        never change each other's source-cap weights, whichever of them turn out duplicates.
        A repeat of an earlier job of the batch (same (decision, kind, source) or key) is left
        out: the database answers for its first."""
        owner = jobs[0].owner
        _load_decisions(conn, [j for j in jobs if j.decision is None], owner.decision_ttl)
        rounds: list[list[FeedbackJob]] = []
        repeats: list[FeedbackJob] = []
        seen: dict[str, int] = {}
        triples: set[tuple[str, str, str]] = set()
        keys: set[str] = set()
        for j in jobs:
            j.fid, j.weight = None, 1.0
            if j.error is not None:
                continue
            if j.triple in triples or j.idempotency_key in keys:
                repeats.append(j)
                continue
            triples.add(j.triple)
            if j.idempotency_key is not None:
                keys.add(j.idempotency_key)
            r = seen.get(j.source, 0) if j.source else 0
            if j.source:
                seen[j.source] = r + 1
            if r == len(rounds):
                rounds.append([])
            rounds[r].append(j)
        if not rounds:
            return
        since = rounds[0][0].now - owner.source_window
        counts = _recent_counts(conn, set(seen), since)
        for members in rounds:
            for j in members:
                if j.source:
                    j.weight = capped_weight(counts.get(j.source, 0) + 1, owner.source_limit)
            ids = _insert_ignoring_duplicates(conn, members)
            for j in members:
                j.fid = ids.get(j.triple)
                j.written = True
                if j.fid is not None and j.source:
                    counts[j.source] = counts.get(j.source, 0) + 1
        for j in repeats:
            j.written = True

    @property
    def triple(self) -> tuple[str, str, str]:
        """What the database counts once: (decision, kind, source)."""
        return (self.decision_id, self.kind, self.source)

    @classmethod
    def finish_batch(cls, engine: Engine, jobs: Sequence[FeedbackJob]) -> None:
        ok = [j for j in jobs if j.error is None]
        for j in sorted((j for j in ok if j.fid is not None), key=lambda j: j.fid or 0):
            assert j.decision is not None and j.fid is not None
            j.owner.fold_new(j.fid, j.kind, j.value, j.decision, j.weight)
            j.result = FeedbackResponse(
                feedback_id=j.fid,
                decision_id=j.decision_id,
                model=j.decision.model,
                kind=j.kind,
                value=j.value,
                weight=j.weight,
                duplicate=False,
            )
        duplicates = [j for j in ok if j.fid is None]
        if duplicates:
            with Session(engine) as session:
                for j in duplicates:
                    j._resolve_duplicate(session)

    def _resolve_duplicate(self, session: Session) -> None:
        existing = crud.find_feedback(
            session=session,
            decision_id=self.decision_id,
            kind=self.kind,
            source=self.source,
            idempotency_key=self.idempotency_key,
        )
        if existing is None or existing.id is None:  # only possible after a reset
            self.error = Conflict("feedback conflicted with a row that no longer exists; retry")
        elif (
            self.idempotency_key is not None
            and existing.idempotency_key == self.idempotency_key
            and (existing.decision_id, existing.kind, existing.source)
            != (self.decision_id, self.kind, self.source)
        ):
            self.error = Invalid(
                "Idempotency-Key was already used for a different feedback request"
            )
        elif existing.value != self.value:
            self.error = _changed(existing, self.value)
        else:
            assert self.decision is not None
            self.result = FeedbackResponse(
                feedback_id=existing.id,
                decision_id=existing.decision_id,
                model=self.decision.model,
                kind=existing.kind,
                value=existing.value,
                weight=existing.weight,
                duplicate=True,
            )


def _changed(existing: FeedbackRow, value: float) -> Conflict:
    """409: this (decision, kind, source) already holds another value, which counts."""
    who = f"source {existing.source!r}" if existing.source else "an anonymous source"
    return Conflict(
        f"{existing.kind} feedback on decision {existing.decision_id!r} from {who} is already "
        f"stored with value {existing.value:g}; a changed value ({value:g}) is refused, the "
        "stored one counts",
        stored={
            "feedback_id": existing.id,
            "decision_id": existing.decision_id,
            "kind": existing.kind,
            "value": existing.value,
            "source": existing.source or None,
            "weight": existing.weight,
        },
    )


def _load_decisions(conn: Connection, jobs: list[FeedbackJob], ttl: float) -> None:
    """Fill in the decisions this replica did not make; 404 or 410 the jobs that cannot count."""
    if not jobs:
        return
    t = _table("ra_decision")
    ids = sorted({j.decision_id for j in jobs})
    found: dict[str, DecisionInfo] = {}
    for i in range(0, len(ids), _IN_CHUNK):
        c = t.c
        stmt = sa_select(c.id, c.model, c.weights, c.leaf, c.item, c.created_at, c.tags).where(
            c.id.in_(ids[i : i + _IN_CHUNK])
        )
        for did, model, weights, leaf, item, created, tags in conn.execute(stmt):
            w = np.asarray(json.loads(weights), dtype=np.float64)
            found[str(did)] = DecisionInfo(
                str(model), w, int(leaf), int(item), float(created), tuple(json.loads(tags))
            )
    for j in jobs:
        info = found.get(j.decision_id)
        if info is None:
            j.error = NotFound(f"no decision {j.decision_id!r}")
        elif j.now - info.created_at > ttl:
            j.error = gone(j.decision_id, j.now - info.created_at, ttl)
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
        params += [j.decision_id, j.kind, j.value, j.weight, j.source, j.idempotency_key, j.now]
    result = conn.exec_driver_sql(sql, tuple(params))
    return {(str(d), str(k), str(s)): int(i) for i, d, k, s in result}
