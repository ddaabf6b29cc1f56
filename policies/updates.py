"""The update formulas the policies share, each written once: feedback validation, a label's
and a thumb's evidence, utility and the budget pacer's step. Each takes floats or numpy
arrays alike.

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
KINDS = ("label", "score", "thumbs")

#: The thumbs noise the learners assume unless told: (P(up | correct), P(up | wrong)).
THUMBS = (0.8, 0.3)


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


def outcome_kind(value: float) -> str:
    """The kind of a labelled outcome: a 0/1 value is a label, anything else a score.

    >>> outcome_kind(1), outcome_kind(0.25)
    ('label', 'score')
    """
    return "label" if float(value) in (0.0, 1.0) else "score"


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


def utility(estimate: Any, cost: Any, lam: float, cost_scale: float) -> Any:
    """``estimate − λ·cost/cost_scale``: a model's score for one request."""
    return estimate - (lam / cost_scale) * cost


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
