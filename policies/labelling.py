"""Active labelling: which prompts' full evaluation (every model's outcome) would teach most.

A prompt is worth labelling as much as one observation of every model in its cell would
improve the next decision there: the knowledge gradient under the cell's Beta posteriors,
``E[max_m u'_m] − max_m u_m``, where ``u`` is each model's expected utility now and ``u'`` after
one more outcome of every model, drawn from the posterior predictive. It is near 0 where one
model clearly wins or the cell is already well known (many pseudo-observations, so one label
barely moves it), and large where several models contend on little evidence. Nominating the
highest-valued of the recent prompts also weights cells by their traffic.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from policies.base import Policy
from policies.context import Context
from policies.updates import utility

#: Posterior draws per value; the same fixed draws for every prompt (common random numbers).
DRAWS = 128


def label_value(policy: Policy, ctx: Context, *, lam: float | None = None) -> float:
    """The knowledge gradient of labelling one prompt of ``ctx``'s cell (every model's outcome
    once), in utility per request of that cell.

    Deterministic: it draws from a fixed generator, never from the policy's own.

    >>> from policies import ModelProfile, make_policy
    >>> def value(acc, n):
    ...     pool = [ModelProfile(m, [a], [n], cost=0.0) for m, a in zip("ab", acc)]
    ...     return label_value(make_policy("greedy").warm_start(pool), Context.hard(0, k=1))
    >>> value([0.9, 0.1], 50) < value([0.5, 0.5], 50) < value([0.5, 0.5], 2)
    True
    """
    a, b = policy.posterior.cell_params(ctx)
    lam = policy.lam if lam is None else lam
    return knowledge_gradient(a, b, policy.costs, lam, policy.cost_scale)


def knowledge_gradient(
    a: np.ndarray, b: np.ndarray, costs: np.ndarray, lam: float, cost_scale: float
) -> float:
    """:func:`label_value` of a cell whose models' posteriors are Beta(``a``, ``b``)."""
    rng = np.random.default_rng(0)
    theta = rng.beta(a, b, size=(DRAWS, a.size))
    y = rng.random((DRAWS, a.size)) < theta
    after = utility((a + y) / (a + b + 1.0), costs, lam, cost_scale)
    now = utility(a / (a + b), costs, lam, cost_scale)
    return float(max(after.max(axis=1).mean() - now.max(), 0.0))


def learn_labels(policy: Policy, ctx: Context, outcomes: Mapping[str, float]) -> int:
    """Fold every given model's outcome on one prompt into ``policy`` (a 0/1 value as a label,
    anything else in [0, 1] as a score); returns how many models it learnt. Models not in the
    pool (any more) are skipped."""
    learnt = 0
    for model, value in outcomes.items():
        if model not in policy.models:
            continue
        v = float(value)
        policy.update(ctx, model, v, kind="label" if v in (0.0, 1.0) else "score")
        learnt += 1
    return learnt
