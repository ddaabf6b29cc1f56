"""The posterior's update formulas, written once for the policies and the compiled replay.

Each function takes floats or numpy arrays alike (only arithmetic and ``np.maximum`` /
``np.minimum``), so :class:`policies.posterior.BetaPosterior` calls them on rows of clusters and
:mod:`simulator.kernel` compiles these very functions with numba for single cells.

>>> outcome_step(1.0)
(1.0, 0.0)
>>> a, b = thumbs_step(2.0, 3.0, *thumbs_likelihood(True, 1.0, 0.0))  # a perfect thumb: a label
>>> round(float(a), 9), round(float(b), 9)
(3.0, 3.0)
>>> round(float(utility(0.8, 2.0, 0.1, 4.0)), 9)
0.75
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

EPS = 1e-9
FLOOR = 1e-3  # no stacked count drops below this sliver
INFO_PSEUDO = 20.0  # pseudo-decisions (with a label each) behind the information rate
KINDS = ("label", "score", "thumbs")


KINDS = ("label", "score", "thumbs")


def validate_feedback(value: float, kind: str, weight: float = 1.0) -> None:
    """Raise ``ValueError`` with a reason when feedback is out of range."""
    if kind not in KINDS:
        raise ValueError(f"feedback kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if not math.isfinite(value):
        raise ValueError(f"{kind} value must be a finite number, got {value}")
    if kind in ("label", "thumbs") and value not in (0, 1):
        raise ValueError(f"a {kind} must be 0 or 1, got {value}")
    if kind == "score" and not 0.0 <= value <= 1.0:
        raise ValueError(f"a score must lie in [0, 1], got {value}")
    if not 0.0 < weight <= 1.0:
        raise ValueError(f"feedback weight must be in (0, 1], got {weight}")


def outcome_step(value: Any) -> tuple[Any, Any]:
    """Evidence (Δα, Δβ) of a 0/1 label or a graded score in [0, 1]: (value, 1 − value)."""
    return value, 1.0 - value


def thumbs_likelihood(up: bool, a: float, b: float) -> tuple[float, float]:
    """Coefficients (c0, c1) of a thumb's likelihood ``c0 + c1·θ`` in θ = P(correct), for
    P(up | correct) = ``a`` and P(up | wrong) = ``b``."""
    if up:
        return b, a - b
    return 1.0 - b, b - a


def thumbs_step(alpha: Any, beta: Any, c0: Any, c1: Any) -> tuple[Any, Any]:
    """Moment-matched Beta after observing evidence with likelihood ``c0 + c1·θ``.

    The exact posterior is a mixture of Beta(α, β) and Beta(α + 1, β); its first two moments are
    matched by a Beta. With (c0, c1) = (0, 1) this is exactly a success.
    """
    n = alpha + beta
    m1 = alpha / n
    m2 = m1 * (alpha + 1.0) / (n + 1.0)
    m3 = m2 * (alpha + 2.0) / (n + 2.0)
    z = c0 + c1 * m1
    mean = (c0 * m1 + c1 * m2) / z
    second = (c0 * m2 + c1 * m3) / z
    var = np.maximum(second - mean * mean, EPS)
    size = np.maximum(mean * (1.0 - mean) / var - 1.0, EPS)
    return np.maximum(mean * size, EPS), np.maximum((1.0 - mean) * size, EPS)


def thumbs_expectation(p: Any, a: float, b: float) -> Any:
    """P(up) for an answer correct with probability ``p``."""
    return b + (a - b) * p


def stack(a: Any, b: Any, strength: float, s: Any, f: Any) -> tuple[Any, Any]:
    """Evidence (``s``, ``f``) on top of Beta(a, b) whose weight is capped at ``strength``.

    A thumb's moment-matched update can lower α (or β) a little, so evidence may be negative in
    one count; the result never drops below a sliver.
    """
    n = a + b
    shrink = np.minimum(n, strength) / n
    return np.maximum(a * shrink + s, FLOOR), np.maximum(b * shrink + f, FLOOR)


def discount_step(a: Any, b: Any, a0: Any, b0: Any, keep: Any) -> tuple[Any, Any]:
    """Beta(a, b) with only a ``keep`` share of its evidence beyond the prior (a0, b0) left."""
    return a0 + keep * (a - a0), b0 + keep * (b - b0)


def prior_shrink(n0: Any, strength: float) -> Any:
    """The factor that caps a prior of ``n0`` pseudo-observations at ``strength``."""
    return np.minimum(1.0, strength / n0)


def forget_step(post: Any, prior: Any, keep: float, shrink: Any) -> tuple[Any, Any]:
    """(posterior, prior) once the prior is scaled by ``shrink`` and only a ``keep`` share of
    the learned evidence (posterior − prior) stays."""
    learned = post - prior
    prior = prior * shrink
    return prior + keep * learned, prior


def utility(estimate: Any, cost: Any, lam: float, cost_scale: float) -> Any:
    """``estimate − λ·cost/cost_scale``: a model's score for one request."""
    return estimate - (lam / cost_scale) * cost


def information_rate(decided: float, evidence: float) -> float:
    """Evidence gained per decision, in labels, with 20 labelled pseudo-decisions to start."""
    return (evidence + INFO_PSEUDO) / (decided + INFO_PSEUDO)


def tempered(scale: float, rate: float, gamma: float) -> float:
    """An exploration scale tempered by the information rate: ``scale · min(1, rate)**γ``."""
    if gamma == 0.0:
        return scale
    if gamma == 1.0:  # the same value, without a pow
        return scale * min(1.0, rate)
    return scale * min(1.0, rate) ** gamma


def pace(
    lam: float, cost: float, target: float, scale: float, rate: float, low: float, high: float
) -> float:
    """One multiplicative dual step of the budget pacer: ``λ·exp(rate·(cost − target)/scale)``
    clipped to [low, high]. The exponent is clipped first (at ±700): a cost far above the
    scale (a model priced after warm start at thousands of times the rest) would overflow it.

    >>> pace(0.1, 1e6, 0.001, 0.005, 0.1, 1e-4, 10.0), pace(0.1, 0.0, 1e6, 0.005, 0.1, 1e-4, 10.0)
    (10.0, 0.0001)
    """
    step = min(max(rate * (cost - target) / scale, -700.0), 700.0)
    return min(max(lam * math.exp(step), low), high)
