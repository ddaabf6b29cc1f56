"""Monitoring columns built by hand, for the report's unit tests."""

from __future__ import annotations

import numpy as np

from feedback.monitoring.analysis import Inputs
from feedback.monitoring.data import Columns

NAMES = ["small", "big"]


def inputs(
    arm: list[int],
    cost: list[float],
    *,
    created_at: list[float] | None = None,
    regret: list[float] | None = None,
) -> Inputs:
    """Monitored decisions on the two-model pool ``NAMES`` in one cluster, no feedback."""
    n = len(arm)
    nan = np.full(n, np.nan)
    cols = Columns(
        created_at=np.arange(n, dtype=np.float64) if created_at is None else np.array(created_at),
        arm=np.array(arm),
        cluster=np.zeros(n, dtype=np.int64),
        lam=np.zeros(n),
        cost=np.array(cost),
        propensity=nan,
        regret=nan if regret is None else np.array(regret, dtype=np.float64),
        fb_row=np.zeros(0, dtype=np.int64),
        fb_kind=np.zeros(0, dtype=np.int64),
        fb_value=np.zeros(0),
        fb_time=np.zeros(0),
    )
    ones = np.ones((1, 2))
    return Inputs(
        cols=cols,
        names=NAMES,
        alpha=ones,
        beta=ones,
        alpha0=ones,
        beta0=ones,
        costs=np.array([0.001, 0.01]),
        cost_scale=0.01,
        thumbs=(0.8, 0.3),
        valid=np.array(arm) >= 0,
    )
