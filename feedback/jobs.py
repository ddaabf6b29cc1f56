"""The writes of the SQL decision store (:mod:`feedback.sql_store`), as group-commit jobs.

A feedback job is counted once by the database: its insert is ``ON CONFLICT DO NOTHING
RETURNING id`` against the UNIQUE constraints on (decision, kind, source) and on the
idempotency key. A job that gets no id is a duplicate; after the commit it answers with the
row that was there first (:func:`agent.store.settle_repeat`: 409 if that row holds another
value). Inserted rows are learnt after the commit and before the answer, exactly once per id.
The feedback window and the influence caps are :mod:`agent.store`'s and
:mod:`agent.source_cap`'s rules, as in the embedded Router's store; the caps' windows are
counted from the stored rows, so they hold across replicas.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, Table, func, insert, tuple_, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, SQLModel

from agent.decision import OpenDecision
from agent.source_cap import Influence, Limits, Seen, influence
from agent.store import (
    Claim,
    Claimed,
    DecisionError,
    Learn,
    StoredFeedback,
    UnknownDecisionError,
    check_open,
    settle_repeat,
    unscoped,
)
from feedback import crud
from feedback.errors import Conflict
from feedback.writer import Job
from policies.context import Context

_IN_CHUNK = 500


def _table(name: str) -> Table:
    return SQLModel.metadata.tables[name]


class FeedbackRules(Protocol):
    """The store side of a feedback job (see :class:`~feedback.sql_store.SqlDecisionStore`)."""

    @property
    def ttl(self) -> float: ...

    @property
    def limits(self) -> Limits: ...

    def committed(self, feedback_id: int, learn: Callable[[], bool]) -> None: ...


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
        self.power = Influence(1.0, 1.0)

    @classmethod
    def run_batch(cls, conn: Connection, jobs: Sequence[FeedbackJob]) -> None:
        """Insert the batch with one multi-row statement. Each new row's influence
        (:mod:`agent.source_cap`) is worked out first, in order, from the windows' rows in the
        database plus the rows before it in the batch, leaving out the claims already stored
        (a repeat of an earlier job of the batch, or of a stored row: same (decision, kind,
        source) or key), which the database then answers for. A row another replica commits
        meanwhile is not counted here: the caps hold per replica exactly, across replicas to
        within their concurrent batches."""
        rules = jobs[0].rules
        _load_decisions(conn, [j for j in jobs if j.decision is None], rules.ttl)
        fresh: list[FeedbackJob] = []
        triples: set[tuple[str, str, str]] = set()
        keys: set[str] = set()
        for j in jobs:
            j.fid, j.power = None, Influence(1.0, 1.0)
            if j.error is not None:
                continue
            c = j.claim
            if c.triple in triples or c.idempotency_key in keys:
                j.written = True  # a repeat of an earlier job: the database answers for it
                continue
            triples.add(c.triple)
            if c.idempotency_key is not None:
                keys.add(c.idempotency_key)
            fresh.append(j)
        stored = _stored(conn, fresh)
        for j in fresh:
            if j.claim.triple in stored or j.claim.idempotency_key in stored:
                j.written = True
        fresh = [j for j in fresh if not j.written]
        if not fresh:
            return
        windows = _Windows.read(conn, fresh, rules.limits)
        for j in fresh:
            j.power = windows.weigh(j)
        ids = _insert_ignoring_duplicates(conn, fresh)
        for j in fresh:
            j.fid = ids.get(j.claim.triple)
            j.written = True

    @classmethod
    def finish_batch(cls, engine: Engine, jobs: Sequence[FeedbackJob]) -> None:
        """Hand the new rows over to be learnt (in id order, off this thread: the store's
        ``committed``), then answer the duplicates from the stored rows."""
        ok = [j for j in jobs if j.error is None]
        for j in sorted((j for j in ok if j.fid is not None), key=lambda j: j.fid or 0):
            assert j.decision is not None and j.fid is not None
            j.result = j._hand_over(j.fid, j.decision)
        duplicates = [j for j in ok if j.fid is None]
        if duplicates:
            with Session(engine) as session:
                for j in duplicates:
                    j._resolve_duplicate(session)

    def _hand_over(self, fid: int, record: OpenDecision) -> Claimed:
        c, power = self.claim, self.power
        self.rules.committed(fid, lambda: self.learn(record, c, power))
        stored = StoredFeedback(
            fid,
            c.decision_id,
            c.kind,
            c.value,
            c.source,
            power.weight,
            c.idempotency_key,
            c.identity,
        )
        # ``applied`` is the store's to say, once the row is learnt off this thread
        return Claimed(stored, record.model, duplicate=False, applied=False)

    def _resolve_duplicate(self, session: Session) -> None:
        c = self.claim
        existing = crud.find_feedback(
            session=session,
            decision_id=c.decision_id,
            kind=c.kind,
            source=c.stored_source,
            idempotency_key=c.idempotency_key,
        )
        if existing is None or existing.id is None:  # only possible after a reset or a prune
            self.error = Conflict("feedback conflicted with a row that no longer exists; retry")
            return
        stored = StoredFeedback(
            existing.id,
            existing.decision_id,
            existing.kind,
            existing.value,
            unscoped(existing.identity, existing.source),
            existing.weight,
            existing.idempotency_key,
            existing.identity,
        )
        try:
            settle_repeat(stored, c)
        except ValueError as exc:
            self.error = exc
            return
        assert self.decision is not None
        self.result = Claimed(stored, self.decision.model, duplicate=True, applied=False)


def _load_decisions(conn: Connection, jobs: list[FeedbackJob], ttl: float) -> None:
    """Fill in the decisions this replica did not make (or no longer caches); refuse the jobs
    that cannot count. Its feedback teaches the decision's stored context (as
    :func:`feedback.replay.lesson` reads it)."""
    if not jobs:
        return
    t = _table("ra_decision")
    ids = sorted({j.claim.decision_id for j in jobs})
    found: dict[str, OpenDecision] = {}
    for i in range(0, len(ids), _IN_CHUNK):
        c = t.c
        stmt = sa_select(
            c.id, c.model, c.context, c.created_at, c.conversation_id, c.teach
        ).where(c.id.in_(ids[i : i + _IN_CHUNK]))  # fmt: skip
        for did, model, context, created, cid, teach in conn.execute(stmt):
            found[str(did)] = OpenDecision(
                str(did),
                str(model),
                Context.from_row(json.loads(context)),
                float(created),
                cid,
                teach=float(teach),
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


def _stored(conn: Connection, jobs: list[FeedbackJob]) -> set[Any]:
    """Which of the jobs' (decision, kind, source) triples and idempotency keys are stored."""
    t = _table("ra_feedback")
    triples = [j.claim.triple for j in jobs]
    keys = [j.claim.idempotency_key for j in jobs if j.claim.idempotency_key is not None]
    found: set[Any] = set()
    for i in range(0, len(triples), _IN_CHUNK):
        stmt = sa_select(t.c.decision_id, t.c.kind, t.c.source).where(
            tuple_(t.c.decision_id, t.c.kind, t.c.source).in_(triples[i : i + _IN_CHUNK])
        )
        found.update((str(d), str(k), str(s)) for d, k, s in conn.execute(stmt))
    for i in range(0, len(keys), _IN_CHUNK):
        chunk = keys[i : i + _IN_CHUNK]
        found.update(
            str(k)
            for (k,) in conn.execute(
                sa_select(t.c.idempotency_key).where(t.c.idempotency_key.in_(chunk))
            )
        )
    return found


class _Windows:
    """The influence caps' windows for one batch: the stored rows' counts, then each new row
    of the batch as it is weighed (see :mod:`agent.source_cap`)."""

    def __init__(
        self,
        limits: Limits,
        sources: dict[str, int],
        cells: dict[tuple[str, int, str], float],
        shared: dict[str, float],
    ) -> None:
        self.limits = limits
        self.sources = sources
        self.cells = cells
        self.shared = shared

    @classmethod
    def read(cls, conn: Connection, jobs: list[FeedbackJob], limits: Limits) -> _Windows:
        t = _table("ra_feedback")
        now = jobs[0].claim.now
        sources: dict[str, int] = {}
        wanted = sorted({j.claim.stored_source for j in jobs if j.claim.stored_source})
        for i in range(0, len(wanted), _IN_CHUNK):
            stmt = (
                sa_select(t.c.source, func.count())
                .where(
                    t.c.source.in_(wanted[i : i + _IN_CHUNK]),
                    t.c.created_at > now - limits.source_window,
                )
                .group_by(t.c.source)
            )
            sources.update({str(s): int(n) for s, n in conn.execute(stmt)})
        cells: dict[tuple[str, int, str], float] = {}
        shared: dict[str, float] = {}
        identities = sorted({j.claim.identity for j in jobs if j.claim.identity})
        if limits.identity_budget > 0:
            on_shared = func.coalesce(t.c.shared, t.c.weight)
            for i in range(0, len(identities), _IN_CHUNK):
                stmt = (
                    sa_select(
                        t.c.identity, t.c.cell, t.c.model, func.sum(t.c.weight), func.sum(on_shared)
                    )
                    .where(
                        t.c.identity.in_(identities[i : i + _IN_CHUNK]),
                        t.c.created_at > now - limits.identity_window,
                    )
                    .group_by(t.c.identity, t.c.cell, t.c.model)
                )
                for who, cell, model, weight, on in conn.execute(stmt):
                    cells[(str(who), int(cell), str(model))] = float(weight or 0.0)
                    shared[str(who)] = shared.get(str(who), 0.0) + float(on or 0.0)
        return cls(limits, sources, cells, shared)

    def weigh(self, job: FeedbackJob) -> Influence:
        """Job's influence, counted into the windows for the jobs after it."""
        c, d = job.claim, job.decision
        assert d is not None
        source = c.stored_source
        cell_key = (c.identity, d.cluster, d.model)
        seen = Seen(
            self.sources.get(source, 0) if source else 0,
            self.cells.get(cell_key, 0.0),
            self.shared.get(c.identity, 0.0),
        )
        power = influence(c.identity, d.teach, seen, self.limits)
        if source:
            self.sources[source] = seen.source_count + 1
        self.cells[cell_key] = seen.identity_weight + power.weight
        self.shared[c.identity] = seen.shared_weight + power.shared
        return power


_COLUMNS = (
    "decision_id",
    "kind",
    "value",
    "weight",
    "shared",
    "source",
    "idempotency_key",
    "created_at",
    "identity",
    "cell",
    "model",
)


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
        c, d, p = j.claim, j.decision, j.power
        assert d is not None
        params += [c.decision_id, c.kind, c.value, p.weight, p.shared, c.stored_source,
                   c.idempotency_key, c.now, c.identity, d.cluster, d.model]  # fmt: skip
    result = conn.exec_driver_sql(sql, tuple(params))
    return {(str(d), str(k), str(s)): int(i) for i, d, k, s in result}
