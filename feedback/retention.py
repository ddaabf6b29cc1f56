"""Retention: decisions and feedback older than ``retention`` are deleted, in bounded batches,
without losing what they taught.

The posterior is rebuilt from a stored snapshot plus the feedback rows after it
(:mod:`feedback.replay`), so a feedback row may go only once every snapshot a rebuild could
start from holds it. A prune therefore first folds in everything committed and stores a
snapshot, then deletes the feedback rows older than the cutoff that every usable snapshot has
folded in (and those from before the last reset, which count no longer), never the newest row
(SQLite would give its id to the next one), then the decisions older than the cutoff that have
no feedback left, with their monitoring rows. Each batch of at most ``prune_batch`` rows is one
short transaction. The service prunes every ``prune_interval`` seconds; ``routing-agent prune``
does it once (:mod:`feedback.prune_cli`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import delete, exists
from sqlmodel import Session, col, select

from feedback import crud, labels
from feedback.models import DecisionRow, FeedbackRow
from feedback.monitoring.tables import DecisionStat
from feedback.replay import folded_through, usable
from feedback.service import RESET_FLOOR, RoutingService
from feedback.settings import check_retention

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pruned:
    """What one prune deleted, and the cutoff (rows created before it were due)."""

    feedback: int
    decisions: int
    cutoff: float


def prune(service: RoutingService, *, older_than: float) -> Pruned:
    """Delete the decisions and feedback older than ``older_than`` seconds (see the module's
    docstring); refuses (``ValueError``) a span shorter than a window the service reads."""
    check_retention(service.settings, older_than, "the retention")
    cutoff = service.clock() - older_than
    for _ in range(3):  # a replica behind the database's revision rebuilds, then stores
        service.sync()
        if service.snapshot():
            break
    batch = service.settings.prune_batch
    with service.session() as s:
        through = folded_bound(s)
        feedback = prune_feedback(s, before=cutoff, through=through, batch=batch)
        decisions = prune_decisions(s, before=cutoff, batch=batch)
    if feedback or decisions:
        logger.info("pruned %d feedback rows and %d decisions", feedback, decisions)
    return Pruned(feedback, decisions, cutoff)


def folded_bound(session: Session) -> int:
    """The largest feedback id at or below which every row is held by every snapshot a rebuild
    could start from now (or came before the last reset)."""
    floor = int(crud.get_meta(session=session, key=RESET_FLOOR) or 0)
    kw = {
        "revision": crud.get_revision(session=session),
        "floor": floor,
        "label_floor": labels.label_floor(session=session),
    }
    folded = [folded_through(h) for h in crud.snapshot_heads(session=session) if usable(h, **kw)]
    return max(floor, min(folded, default=floor))


def prune_feedback(session: Session, *, before: float, through: int, batch: int) -> int:
    """Delete feedback created before ``before`` with an id at most ``through`` (never the
    newest row), ``batch`` rows a transaction; returns how many."""
    top = crud.max_feedback_id(session=session)
    total = 0
    while True:
        ids = session.exec(
            select(FeedbackRow.id)
            .where(
                col(FeedbackRow.created_at) < before,
                col(FeedbackRow.id) <= through,
                col(FeedbackRow.id) < top,
            )
            .order_by(col(FeedbackRow.id))
            .limit(batch)
        ).all()
        if not ids:
            return total
        session.execute(delete(FeedbackRow).where(col(FeedbackRow.id).in_(ids)))
        session.commit()
        total += len(ids)


def prune_decisions(session: Session, *, before: float, batch: int) -> int:
    """Delete decisions created before ``before`` with no feedback left, and their monitoring
    rows, ``batch`` decisions a transaction; returns how many."""
    rated = exists().where(col(FeedbackRow.decision_id) == col(DecisionRow.id))
    total = 0
    while True:
        ids = session.exec(
            select(DecisionRow.id).where(col(DecisionRow.created_at) < before, ~rated).limit(batch)
        ).all()
        if not ids:
            return total
        session.execute(delete(DecisionStat).where(col(DecisionStat.decision_id).in_(ids)))
        session.execute(delete(DecisionRow).where(col(DecisionRow.id).in_(ids)))
        session.commit()
        total += len(ids)
