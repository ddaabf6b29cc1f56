"""Active labelling: which prompts' full evaluation (every model's outcome) would teach most.

A prompt is worth labelling as much as one observation of every model in its cell would
improve the next decision there: the knowledge gradient ``E[max_m u'_m] − max_m u_m``, where
``u`` is each model's expected utility now and ``u'`` after one more outcome of every model,
under the posterior predictive (computed exactly, :func:`knowledge_gradient`). An outcome
moves every part of the estimate it updates (the cluster and the prompt's level cells, each by
its own evidence and weight, :func:`label_means`). The value is near 0 where one model clearly
wins or the cell is already well known (many pseudo-observations, so one label barely moves
it), and large where several models contend on little evidence. Nominating the highest-valued
of the recent prompts also weights cells by their traffic. On the shared logs that taught no
more than a random sample of the traffic (the values trust a profile that is thin or stale
where labels are needed), so the Router and the simulator nominate a sample unless asked to
pick by value.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from policies.base import Policy
from policies.context import Context
from policies.posterior import BetaPosterior
from policies.updates import utility


def label_value(policy: Policy, ctx: Context, *, lam: float | None = None) -> float:
    """The knowledge gradient of labelling one prompt of ``ctx``'s cell (every model's outcome
    once), in utility per request of that cell.

    Exact and deterministic: it draws nothing, so the policy's random stream is untouched.

    >>> from policies import ModelProfile, make_policy
    >>> def value(acc, n):
    ...     pool = [ModelProfile(m, [a], [n], cost=0.0) for m, a in zip("ab", acc)]
    ...     return label_value(make_policy("greedy").warm_start(pool), Context.hard(0, k=1))
    >>> value([0.9, 0.1], 50) < value([0.5, 0.5], 50) < value([0.5, 0.5], 2)
    True
    """
    lam = policy.lam if lam is None else lam
    now, up, down = label_means(policy.posterior, ctx)
    return knowledge_gradient(now, up, down, policy.costs, lam, policy.cost_scale)


def label_means(post: BetaPosterior, ctx: Context) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each model's estimate in ``ctx``'s cell now, after one more success of its own and after
    one more failure: the cluster and each of the prompt's level cells move by their own
    evidence, and the estimate by their weighted average (a leaf or tags: the cell's Beta).

    >>> from policies.levels import Levels
    >>> post = BetaPosterior(np.full((1, 1), 2.0), np.full((1, 1), 2.0),
    ...                      levels=Levels([(np.full((1, 1), 9.0), np.ones((1, 1)))], [3.0]))
    >>> [round(float(x[0]), 4) for x in label_means(post, Context.hard(0, k=1, cells=(0,)))]
    [0.8, 0.8318, 0.7136]
    """
    a, b = post.cell_params(ctx)
    now = a / (a + b)
    levels = post.levels
    if levels is None or not ctx.cells or post.in_leaf(ctx):
        return now, (a + 1.0) / (a + b + 1.0), a / (a + b + 1.0)
    pa, pb = post.pooled(ctx)
    base, up, down = (levels.mean(pa, pb, ctx.cells, moved) for moved in ((0, 0), (1, 0), (0, 1)))
    return now, np.clip(now + up - base, 0.0, 1.0), np.clip(now + down - base, 0.0, 1.0)


def knowledge_gradient(
    now: np.ndarray,
    up: np.ndarray,
    down: np.ndarray,
    costs: np.ndarray,
    lam: float,
    cost_scale: float,
) -> float:
    """:func:`label_value` of a cell whose models' estimates are ``now``, ``up`` after one more
    success and ``down`` after one more failure (:func:`label_means`), exactly: each model's
    utility after its outcome is two-valued, so the best one's distribution is the product of
    theirs.

    >>> knowledge_gradient(np.array([0.5, 0.5]), np.array([0.6, 0.6]), np.array([0.4, 0.4]),
    ...                    np.zeros(2), 0.0, 1.0)  # E[max] = 0.6 · 3/4 + 0.4 · 1/4 = 0.55
    0.05
    """
    hi, lo = (utility(x, costs, lam, cost_scale) for x in (up, down))
    support = np.sort(np.concatenate([hi, lo]))
    # P(max ≤ v) at each support point: every model's own P(u' ≤ v), multiplied
    cdf = np.prod(
        np.where(lo[None, :] <= support[:, None], 1.0 - now, 0.0)
        + np.where(hi[None, :] <= support[:, None], now, 0.0),
        axis=1,
    )
    expected = float(support @ np.diff(cdf, prepend=0.0))
    return round(max(expected - float(utility(now, costs, lam, cost_scale).max()), 0.0), 12)


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
