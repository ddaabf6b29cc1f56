"""Database operations, each a keyword-only function taking ``session``."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from sqlalchemy import Integer, Text, cast, delete, func, text, update
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from feedback.models import DecisionRow, FeedbackRow, Meta, ModelRow, PolicySnapshot
from policies import Context, ModelProfile

REVISION = "revision"
_IN_CHUNK = 500


# -- meta ----------------------------------------------------------------------------------
def get_meta(*, session: Session, key: str) -> str | None:
    row = session.get(Meta, key)
    return None if row is None else row.value


def put_meta(*, session: Session, key: str, value: str) -> None:
    """Insert or overwrite ``key`` (not committed)."""
    row = session.get(Meta, key)
    if row is None:
        session.add(Meta(key=key, value=value))
    else:
        row.value = value
        session.add(row)


def meta_if_absent(*, session: Session, key: str, value: str) -> str:
    """Store ``value`` unless ``key`` exists; return the stored value (first writer wins)."""
    existing = get_meta(session=session, key=key)
    if existing is not None:
        return existing
    session.add(Meta(key=key, value=value))
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        stored = get_meta(session=session, key=key)
        assert stored is not None
        return stored
    return value


def get_revision(*, session: Session) -> int:
    value = get_meta(session=session, key=REVISION)
    return int(value) if value is not None else 0


def bump_revision(*, session: Session) -> int:
    """Increment the pool revision atomically and commit; returns the new revision."""
    meta_if_absent(session=session, key=REVISION, value="0")
    session.execute(
        update(Meta)
        .where(col(Meta.key) == REVISION)
        .values(value=cast(cast(col(Meta.value), Integer) + 1, Text))
    )
    session.commit()
    return get_revision(session=session)


# -- models --------------------------------------------------------------------------------
def active_models(*, session: Session) -> list[ModelRow]:
    stmt = select(ModelRow).where(col(ModelRow.active)).order_by(col(ModelRow.id))
    return list(session.exec(stmt).all())


def get_model(*, session: Session, name: str) -> ModelRow | None:
    return session.exec(select(ModelRow).where(ModelRow.name == name)).first()


def deactivate_model(*, session: Session, name: str) -> bool:
    """Take ``name`` out of the pool unless it is the last active model; commits. False when
    it is the last (or not active). One statement (under a lock on PostgreSQL, where two
    concurrent statements would not see each other's row), so two admins removing the last
    two models at once cannot empty the pool."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(727275)"))
    others = (
        sa_select(func.count())
        .where(col(ModelRow.active), col(ModelRow.name) != name)
        .scalar_subquery()
    )
    done: Any = session.execute(
        update(ModelRow)
        .where(col(ModelRow.name) == name, col(ModelRow.active), others >= 1)
        .values(active=False)
    )
    session.commit()
    return int(done.rowcount) == 1


def to_profile(row: ModelRow) -> ModelProfile:
    return ModelProfile.from_dict(
        {
            "name": row.name,
            "successes": json.loads(row.successes),
            "trials": json.loads(row.trials),
            "cost": row.cost,
            "levels": json.loads(row.levels or "[]"),
        }
    )


def save_model(*, session: Session, profile: ModelProfile, now: float) -> ModelRow:
    """Insert ``profile`` as an active model, reviving an inactive row of that name."""
    row = get_model(session=session, name=profile.name) or ModelRow(
        name=profile.name, cost=0.0, successes="[]", trials="[]", created_at=now
    )
    row.cost = profile.cost
    row.successes = json.dumps(profile.successes.tolist())
    row.trials = json.dumps(profile.trials.tolist())
    row.levels = json.dumps([[s.tolist(), n.tolist()] for s, n in profile.levels])
    row.active = True
    session.add(row)
    return row


# -- decisions and feedback ----------------------------------------------------------------


def last_model_of_conversation(*, session: Session, conversation_id: str) -> str | None:
    stmt = (
        select(DecisionRow.model)
        .where(DecisionRow.conversation_id == conversation_id)
        .order_by(col(DecisionRow.created_at).desc())
        .limit(1)
    )
    return session.exec(stmt).first()


def find_feedback(
    *,
    session: Session,
    decision_id: str,
    kind: str,
    source: str,
    idempotency_key: str | None,
) -> FeedbackRow | None:
    """The row that makes this feedback a duplicate: same key, or same (decision, kind, source)."""
    if idempotency_key is not None:
        stmt = select(FeedbackRow).where(FeedbackRow.idempotency_key == idempotency_key)
        row = session.exec(stmt).first()
        if row is not None:
            return row
    stmt = select(FeedbackRow).where(
        FeedbackRow.decision_id == decision_id,
        FeedbackRow.kind == kind,
        FeedbackRow.source == source,
    )
    return session.exec(stmt).first()


def max_feedback_id(*, session: Session) -> int:
    value: Any = session.execute(sa_select(func.max(col(FeedbackRow.id)))).scalar()
    return int(value or 0)


def count_feedback(*, session: Session, after: int = 0) -> int:
    stmt = select(func.count()).where(col(FeedbackRow.id) > after)
    return int(session.exec(stmt).one())


class FeedbackItem(NamedTuple):
    """A committed feedback row joined to its decision: what replaying it needs. ``shared``
    is its weight on the parts of the policy shared between models (:mod:`agent.source_cap`;
    a row stored before there was such a cap has its ``weight`` there)."""

    id: int
    kind: str
    value: float
    model: str
    weight: float
    shared: float
    context: Context  # where the decision's prompt sat (``ra_decision.context``)


def feedback_after(
    *, session: Session, hwm: int, gaps: Iterable[int] = (), floor: int = 0
) -> list[FeedbackItem]:
    """Committed feedback with id > ``hwm`` or in ``gaps`` (and > ``floor``), in id order,
    joined to its decision."""
    base = (
        sa_select(
            col(FeedbackRow.id),
            col(FeedbackRow.kind),
            col(FeedbackRow.value),
            col(DecisionRow.model),
            col(FeedbackRow.weight),
            col(FeedbackRow.shared),
            col(DecisionRow.context),
        )
        .join(DecisionRow, col(DecisionRow.id) == col(FeedbackRow.decision_id))
        .where(col(FeedbackRow.id) > floor)
    )
    rows: list[Any] = list(session.execute(base.where(col(FeedbackRow.id) > hwm)).all())
    wanted = sorted(g for g in gaps if g > floor)
    for i in range(0, len(wanted), _IN_CHUNK):
        chunk = wanted[i : i + _IN_CHUNK]
        rows.extend(session.execute(base.where(col(FeedbackRow.id).in_(chunk))).all())
    items = [
        FeedbackItem(
            int(r[0]),
            str(r[1]),
            float(r[2]),
            str(r[3]),
            float(r[4]),
            float(r[4] if r[5] is None else r[5]),
            Context.from_row(json.loads(r[6])),
        )
        for r in rows
    ]
    return sorted(items, key=lambda r: r.id)


# -- snapshots -----------------------------------------------------------------------------
#: A stored snapshot without its state: (id, revision, hwm, gaps as JSON, basis as JSON).
SnapshotHead = tuple[int, int, int, str, str]


def snapshot_heads(*, session: Session) -> list[SnapshotHead]:
    """Every stored snapshot's head, newest first (its state is read only once chosen)."""
    stmt = sa_select(
        col(PolicySnapshot.id),
        col(PolicySnapshot.revision),
        col(PolicySnapshot.hwm),
        col(PolicySnapshot.gaps),
        col(PolicySnapshot.basis),
    ).order_by(col(PolicySnapshot.id).desc())
    return [
        (int(i), int(r), int(h), str(g), str(b or "")) for i, r, h, g, b in session.execute(stmt)
    ]


def snapshot_state(*, session: Session, snapshot_id: int) -> str | None:
    row = session.get(PolicySnapshot, snapshot_id)
    return None if row is None else row.state


def profile_digests(*, session: Session) -> dict[str, str]:
    """A digest of each active model's profile: a snapshot notes its pool's, so a rebuild
    can tell a model re-added with another profile from the one the snapshot learnt on."""
    return {r.name: profile_digest(r) for r in active_models(session=session)}


def profile_digest(row: ModelRow) -> str:
    text = json.dumps([row.successes, row.trials, row.levels or "[]"])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def save_snapshot(
    *,
    session: Session,
    revision: int,
    hwm: int,
    gaps: Sequence[int],
    state: str,
    basis: str,
    now: float,
    keep: int = 3,
) -> None:
    """Store a snapshot and keep only the newest ``keep``; commits."""
    session.add(
        PolicySnapshot(
            revision=revision,
            hwm=hwm,
            gaps=json.dumps(list(gaps)),
            state=state,
            basis=basis,
            created_at=now,
        )
    )
    session.commit()
    ids = session.exec(select(PolicySnapshot.id).order_by(col(PolicySnapshot.id).desc())).all()
    old = [i for i in ids[keep:] if i is not None]
    if old:
        session.execute(delete(PolicySnapshot).where(col(PolicySnapshot.id).in_(old)))
        session.commit()
