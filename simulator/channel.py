"""The feedback channel: which requests get feedback, of what kind, how noisy, and how late."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from policies import KINDS, THUMBS, ThumbsNoise


@dataclass(frozen=True)
class FeedbackChannel:
    """How users answer back.

    - ``rate``: share of requests that get any feedback.
    - ``kind``: ``label`` (0/1; a graded outcome becomes a Bernoulli draw), ``score`` (the graded
      outcome itself) or ``thumbs`` (up with probability ``a`` if correct, ``b`` if wrong).
    - ``delay``: feedback arrives this many requests later; with ``random_delay`` the lag is
      uniform on 0..2·delay instead.

    >>> ch = FeedbackChannel(rate=0.5, kind="thumbs", thumbs=(0.9, 0.1), delay=2)
    >>> due, draws = ch.plan(4, np.random.default_rng(0))
    >>> due.tolist()
    [-1, 3, 4, 5]
    >>> [ch.realise(1.0, u) for u in draws[1:]]
    [0.0, 1.0, 1.0]
    """

    rate: float = 1.0
    kind: str = "label"
    thumbs: tuple[float, float] = THUMBS
    delay: int = 0
    random_delay: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"feedback rate must be in [0, 1], got {self.rate}")
        if self.kind not in KINDS:
            raise ValueError(f"feedback kind must be label, score or thumbs, got {self.kind!r}")
        if self.delay < 0:
            raise ValueError(f"feedback delay must be >= 0, got {self.delay}")
        ThumbsNoise(*self.thumbs)

    def plan(self, steps: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Per step: when its feedback lands (-1: never) and the uniform draw that realises it.

        Feedback for step t with lag d is folded in after decision t + d, before t + d + 1.
        """
        given = rng.random(steps) < self.rate
        draws = rng.random(steps)
        lag = np.full(steps, self.delay, dtype=np.int64)
        if self.random_delay and self.delay > 0:
            lag = rng.integers(0, 2 * self.delay + 1, size=steps)
        return np.where(given, np.arange(steps) + lag, -1), draws

    def realise(self, outcome: float, draw: float) -> float:
        """The feedback value a user gives for an answer with this (possibly graded) outcome."""
        if self.kind == "score":
            return outcome
        if self.kind == "label":
            return float(draw < outcome)
        a, b = self.thumbs
        return float(draw < a * outcome + b * (1.0 - outcome))
