"""Thumbs up/down as noisy evidence of correctness.

A user's thumb is not a label. ``ThumbsNoise(a, b)`` says P(up | correct) = a and
P(up | wrong) = b; with a = 1, b = 0 a thumb is exactly a label. The posterior update for a thumb
is an assumed-density (moment-matching) step on the Beta posterior, see :mod:`policies.posterior`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from policies.updates import thumbs_likelihood


@dataclass(frozen=True, slots=True)
class ThumbsNoise:
    """P(up | correct) = ``a`` and P(up | wrong) = ``b``, with 0 <= b < a <= 1.

    >>> ThumbsNoise(0.8, 0.3).likelihood(up=True)
    (0.3, 0.5)
    """

    a: float = 0.8
    b: float = 0.3

    def __post_init__(self) -> None:
        if not (0.0 <= self.b < self.a <= 1.0):
            raise ValueError(
                f"thumbs noise needs 0 <= b < a <= 1 (P(up|correct) above P(up|wrong)), "
                f"got a={self.a}, b={self.b}"
            )

    def likelihood(self, *, up: bool) -> tuple[float, float]:
        """Coefficients (c0, c1) of the thumb's likelihood c0 + c1·θ in θ = P(correct)."""
        return thumbs_likelihood(up, self.a, self.b)


def estimate_thumbs_noise(labels: Sequence[float], thumbs: Sequence[bool]) -> ThumbsNoise:
    """Estimate (a, b) from requests that carry both a 0/1 label and a thumb.

    Uses Laplace-smoothed frequencies, so a handful of pairs gives a sane answer.

    >>> est = estimate_thumbs_noise([1, 1, 1, 1, 0, 0, 0, 0], [1, 1, 1, 0, 0, 0, 0, 1])
    >>> round(est.a, 3), round(est.b, 3)
    (0.667, 0.333)
    """
    y = np.asarray(labels, dtype=np.float64)
    t = np.asarray(thumbs, dtype=bool)
    if y.shape != t.shape or y.ndim != 1:
        raise ValueError("labels and thumbs must be 1-D and of equal length")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("labels must be 0 or 1")
    pos, neg = y == 1, y == 0
    a = (np.sum(t & pos) + 1.0) / (pos.sum() + 2.0)
    b = (np.sum(t & neg) + 1.0) / (neg.sum() + 2.0)
    if a <= b:
        raise ValueError(
            f"thumbs carry no signal in these pairs: P(up|correct)={a:.3f} <= P(up|wrong)={b:.3f}"
        )
    return ThumbsNoise(float(a), float(b))
