"""Pure-numpy estimators for live monitoring: off-policy values with intervals, utility gaps,
Beta intervals and drift alarms.

Nothing here knows about the database. Every estimate says how it was made:

- **IPS** (inverse propensity scoring): the mean of ``π(a_t | x_t) / p_t · r_t`` over logged
  decisions, where ``p_t`` is the probability the logging policy had of choosing ``a_t``.
  Unbiased when propensities are right and every target choice had ``p_t > 0``; high variance.
- **SNIPS**: IPS divided by the mean weight; a little biased, much steadier. Its interval is the
  delta-method (sandwich) one.
- **DR** (doubly robust): a reward model ``q̂`` for the direct estimate plus an IPS correction of
  its error on the logged choice. Unbiased if either the propensities or ``q̂`` are right.

IPS and DR intervals are normal (CLT) intervals over per-decision terms. Under an adaptive
logging policy the terms are martingale differences rather than independent, so the intervals
are asymptotic; the simulator tests check their coverage empirically.

>>> r = np.array([1.0, 0.0, 1.0, 1.0]); p = np.array([0.5, 0.5, 0.5, 0.5])
>>> target = np.array([1.0, 0.0, 1.0, 0.0])  # π(logged choice | x) under the target policy
>>> ips(r, p, target).value, round(snips(r, p, target).value, 3)
(1.0, 1.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.special import betaincinv, ndtri

from policies import utility


@dataclass(frozen=True)
class Estimate:
    """A point estimate with a two-sided interval at ``level``, over ``n`` decisions."""

    value: float
    low: float
    high: float
    n: int
    method: str
    level: float = 0.95

    def covers(self, truth: float) -> bool:
        return self.low <= truth <= self.high

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _z(level: float) -> float:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    return float(ndtri(0.5 + level / 2.0))


def mean_ci(terms: np.ndarray, *, method: str = "mean", level: float = 0.95) -> Estimate:
    """The mean of ``terms`` with a normal interval (NaN everywhere when there are none).

    >>> e = mean_ci(np.array([0.0, 1.0] * 50))
    >>> e.value, round(e.high - e.low, 3)
    (0.5, 0.197)
    """
    x = np.asarray(terms, dtype=np.float64)
    n = int(x.size)
    if n == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0, method, level)
    mean = float(x.mean())
    half = _z(level) * float(x.std(ddof=1)) / float(np.sqrt(n)) if n > 1 else float("inf")
    return Estimate(mean, mean - half, mean + half, n, method, level)


def _weights(propensities: np.ndarray, target: np.ndarray) -> np.ndarray:
    p = np.asarray(propensities, dtype=np.float64)
    if np.any(p <= 0) or np.any(p > 1):
        raise ValueError("propensities must lie in (0, 1]")
    return np.asarray(target, dtype=np.float64) / p


def ips(
    rewards: np.ndarray, propensities: np.ndarray, target: np.ndarray, *, level: float = 0.95
) -> Estimate:
    """IPS value of a target policy; ``target[t]`` is π(logged choice t | x_t)."""
    terms = _weights(propensities, target) * np.asarray(rewards, dtype=np.float64)
    return mean_ci(terms, method="ips", level=level)


def snips(
    rewards: np.ndarray, propensities: np.ndarray, target: np.ndarray, *, level: float = 0.95
) -> Estimate:
    """Self-normalised IPS with a sandwich (delta-method) interval."""
    w = _weights(propensities, target)
    r = np.asarray(rewards, dtype=np.float64)
    n = int(r.size)
    if n == 0 or w.sum() <= 0:
        return Estimate(float("nan"), float("nan"), float("nan"), n, "snips", level)
    value = float((w * r).sum() / w.sum())
    se = float(np.sqrt(np.mean((w * (r - value)) ** 2) / n) / w.mean())
    half = _z(level) * se
    return Estimate(value, value - half, value + half, n, "snips", level)


def dr_terms(
    rewards: np.ndarray,
    propensities: np.ndarray,
    actions: np.ndarray,
    target_probs: np.ndarray,
    q_hat: np.ndarray,
) -> np.ndarray:
    """Per-decision doubly-robust terms: Σ_m π(m|x_t) q̂(x_t, m) + π(a_t|x_t)/p_t · (r_t − q̂_t).

    ``target_probs`` and ``q_hat`` are (n, M); ``actions`` (n,) indexes the logged choice.
    """
    rows = np.arange(len(actions))
    a = np.asarray(actions)
    direct = (target_probs * q_hat).sum(axis=1)
    w = _weights(propensities, target_probs[rows, a])
    return direct + w * (np.asarray(rewards, dtype=np.float64) - q_hat[rows, a])


def dr(
    rewards: np.ndarray,
    propensities: np.ndarray,
    actions: np.ndarray,
    target_probs: np.ndarray,
    q_hat: np.ndarray,
    *,
    level: float = 0.95,
) -> Estimate:
    """Doubly-robust value of a target policy with a normal interval over its terms."""
    terms = dr_terms(rewards, propensities, actions, target_probs, q_hat)
    return mean_ci(terms, method="dr", level=level)


def utility_gap(
    means: np.ndarray,
    costs: np.ndarray,
    cost_scale: float,
    clusters: np.ndarray,
    chosen: np.ndarray,
    lams: np.ndarray,
) -> np.ndarray:
    """Per decision: the best posterior-mean utility in its cluster minus the chosen model's.

    Utility is ``mean[k, m] − λ_t · cost[m] / cost_scale`` (:func:`policies.utility`); ``means``
    is (K, M). Decisions are grouped by distinct λ so a million rows cost a few vectorised
    passes.

    >>> means = np.array([[0.9, 0.5]]); costs = np.array([1.0, 0.0])
    >>> utility_gap(means, costs, 1.0, np.array([0, 0]), np.array([1, 0]), np.array([0.0, 1.0]))
    array([0.4, 0.6])
    """
    out = np.empty(len(chosen), dtype=np.float64)
    lam_values, inverse = np.unique(np.asarray(lams, dtype=np.float64), return_inverse=True)
    for i, lam in enumerate(lam_values):
        rows = np.flatnonzero(inverse == i)
        u = utility(means, np.asarray(costs)[None, :], lam, cost_scale)
        gap = u.max(axis=1, keepdims=True) - u
        out[rows] = gap[clusters[rows], chosen[rows]]
    return out


def beta_interval(
    alpha: np.ndarray, beta: np.ndarray, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and equal-tailed credible interval of Beta(α, β), elementwise.

    >>> m, lo, hi = beta_interval(np.array([2.0]), np.array([2.0]))
    >>> float(m[0]), round(float(lo[0]), 3), round(float(hi[0]), 3)
    (0.5, 0.094, 0.906)
    """
    tail = (1.0 - level) / 2.0
    return alpha / (alpha + beta), betaincinv(alpha, beta, tail), betaincinv(alpha, beta, 1 - tail)


def rolling_mean(x: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over ``window`` values (shorter at the start).

    >>> rolling_mean(np.array([1.0, 3.0, 5.0]), 2).tolist()
    [1.0, 2.0, 4.0]
    """
    c = np.concatenate([[0.0], np.cumsum(x, dtype=np.float64)])
    idx = np.arange(1, x.size + 1)
    lo = np.maximum(idx - window, 0)
    return (c[idx] - c[lo]) / (idx - lo)


def drift_alarms(
    arms: np.ndarray, values: np.ndarray, names: Sequence[str], *, delta: float = 0.002
) -> list[tuple[int, str]]:
    """river's ADWIN on each model's outcome stream (values in time order); (position,
    model) for every detection, ``position`` indexing ``values``."""
    from river.drift import ADWIN

    alarms: list[tuple[int, str]] = []
    arms = np.asarray(arms)
    for j, name in enumerate(names):
        rows = np.flatnonzero(arms == j)
        det = ADWIN(delta=delta)
        for pos, v in zip(rows.tolist(), values[rows].tolist(), strict=True):
            det.update(v)
            if det.drift_detected:
                alarms.append((pos, name))
    alarms.sort()
    return alarms
