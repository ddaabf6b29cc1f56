"""The monitoring table: what a decision looked like to the posterior when it was made.

``ra_decision`` (the service's table) keeps what feedback needs; this table adds, per decision,
its hard cluster, the chosen model's cost, the probability the policy had of choosing it, and the
estimated regret at decision time. It lives in its own module so the service's tables stay as
they are; importing it registers the table on ``SQLModel.metadata``.
"""

from __future__ import annotations

from sqlmodel import Field, SQLModel


class DecisionStat(SQLModel, table=True):
    """One routing decision as monitoring sees it (written by :mod:`feedback.monitoring.recorder`).

    ``propensity`` is None when the decision was not randomised (a sticky conversation) or the
    policy gives no choice probabilities; ``regret`` is the best posterior-mean utility in the
    decision's cluster minus the chosen model's, under the posterior of that moment.
    """

    __tablename__ = "ra_decision_stat"

    id: int | None = Field(default=None, primary_key=True)
    decision_id: str = Field(unique=True, max_length=32)
    created_at: float
    model: str = Field(max_length=200)
    cluster: int
    lam: float
    cost: float
    propensity: float | None = None
    regret: float | None = None
