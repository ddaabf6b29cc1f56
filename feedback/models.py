"""Every SQLModel table of the service. Names carry an ``ra_`` prefix.

The posterior is rebuilt from ``ra_model`` (the profiles) plus the committed rows of
``ra_feedback`` in id order, starting from a ``ra_snapshot`` when one is usable; once old rows
are pruned (:mod:`feedback.retention`), the snapshots are the record of what they taught.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

#: Longest stored source: a claimed one (200 characters) scoped under its identity.
SOURCE_CHARS = 300


class Meta(SQLModel, table=True):
    """Shared key/value state: the token secret, the cluster map, λ, the pool revision."""

    __tablename__ = "ra_meta"

    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(sa_column=Column(Text, nullable=False))


class ModelRow(SQLModel, table=True):
    """A model of the pool and its UniRoute profile Ψ (per-cluster successes and trials)."""

    __tablename__ = "ra_model"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=200)
    cost: float
    successes: str = Field(sa_column=Column(Text, nullable=False))
    trials: str = Field(sa_column=Column(Text, nullable=False))
    #: Ψ at each resolution level, a JSON list of [successes, trials] (:mod:`policies.levels`).
    levels: str = Field(default="[]", sa_column=Column(Text, nullable=False, server_default="[]"))
    active: bool = True
    created_at: float


class DecisionRow(SQLModel, table=True):
    """One routing decision: what feedback on it must update. ``context`` is where its prompt
    sat, as the JSON of :meth:`policies.context.Context.to_row`; feedback replays into it. (An
    older database's separate context columns are folded into it: :mod:`feedback.db`.)"""

    __tablename__ = "ra_decision"
    __table_args__ = (Index("ix_ra_decision_conversation", "conversation_id", "created_at"),)

    id: str = Field(primary_key=True, max_length=32)
    model: str = Field(max_length=200)
    context: str = Field(sa_column=Column(Text, nullable=False))
    lam: float
    created_at: float
    conversation_id: str | None = Field(default=None, max_length=200)
    #: What its feedback's weight is scaled by: below 1 when ``allowed`` narrowed the choice
    #: (:mod:`agent.propensity`).
    teach: float = Field(default=1.0, sa_column_kwargs={"server_default": "1"})


class FeedbackRow(SQLModel, table=True):
    """One acknowledged piece of feedback. The unique constraints make it count once.
    ``source`` is scoped under ``identity`` (:func:`agent.store.scoped`); ``cell`` (the
    decision's top cluster), ``model`` and ``shared`` are what the identity's caps count
    (:mod:`agent.source_cap`). ``watched`` is unused (it marked the rows that fed the drift
    guard, which is gone); it stays so that older databases and new ones have one schema."""

    __tablename__ = "ra_feedback"
    __table_args__ = (
        UniqueConstraint("decision_id", "kind", "source", name="uq_ra_feedback_once"),
        Index("ix_ra_feedback_source", "source", "created_at"),
        Index("ix_ra_feedback_identity", "identity", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    decision_id: str = Field(foreign_key="ra_decision.id", max_length=32)
    kind: str = Field(max_length=16)
    value: float
    weight: float
    source: str = Field(default="", max_length=SOURCE_CHARS)
    idempotency_key: str | None = Field(default=None, unique=True, max_length=200)
    created_at: float
    identity: str = Field(default="", max_length=64, sa_column_kwargs={"server_default": ""})
    cell: int = Field(default=-1, sa_column_kwargs={"server_default": "-1"})
    model: str = Field(default="", max_length=200, sa_column_kwargs={"server_default": ""})
    #: Its weight on the parts of the policy shared between models (at most ``weight``; NULL
    #: in a row stored before that cap: ``weight``).
    shared: float | None = None
    watched: bool = Field(default=True, sa_column_kwargs={"server_default": "1"})


class LabelRow(SQLModel, table=True):
    """Every model's outcome on one prompt, labelled by someone (active labelling), and where
    the prompt sat (``context``, as in ``ra_decision``). A label changes the posterior as a
    pool change does: it bumps the revision."""

    __tablename__ = "ra_label"

    id: int | None = Field(default=None, primary_key=True)
    context: str = Field(sa_column=Column(Text, nullable=False))
    outcomes: str = Field(sa_column=Column(Text, nullable=False))  # {model: value}, JSON
    created_at: float


class PolicySnapshot(SQLModel, table=True):
    """A replica's policy state; replay resumes after ``hwm`` plus the ids in ``gaps``.
    ``basis`` (JSON: the reset floors it was built on and the labels it holds) lets a rebuild
    at a later revision start from it (:mod:`feedback.replay`); ``""`` for a snapshot written
    before, usable at its own revision only."""

    __tablename__ = "ra_snapshot"

    id: int | None = Field(default=None, primary_key=True)
    revision: int
    hwm: int
    gaps: str = Field(sa_column=Column(Text, nullable=False))
    state: str = Field(sa_column=Column(Text, nullable=False))
    basis: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    created_at: float
