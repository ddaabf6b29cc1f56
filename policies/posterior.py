"""Per-cluster, per-model Beta posteriors over correctness: the baselines' learned state."""

from __future__ import annotations

from typing import Any

import numpy as np

from policies.context import Context
from policies.thumbs import ThumbsNoise
from policies.updates import KINDS, outcome_step, thumbs_step, validate_feedback

__all__ = ["KINDS", "BetaPosterior", "validate_feedback"]


class BetaPosterior:
    """Beta(α[k, m], β[k, m]) for K clusters × M models, from priors (α0, β0).

    A label or a graded score adds (value, 1 − value); a thumb is an assumed-density step
    through the thumbs noise model. A soft context updates every cluster in proportion to its
    weight.

    >>> post = BetaPosterior(np.ones((2, 3)), np.ones((2, 3)))
    >>> ctx = Context.hard(0, k=2)
    >>> post.observe(ctx, 1, 1.0, kind="label")
    >>> post.alpha.tolist()
    [[1.0, 2.0, 1.0], [1.0, 1.0, 1.0]]
    >>> post.mean(ctx).round(3).tolist()
    [0.5, 0.667, 0.5]
    """

    def __init__(
        self, alpha0: np.ndarray, beta0: np.ndarray, *, noise: ThumbsNoise | None = None
    ) -> None:
        if alpha0.shape != beta0.shape or alpha0.ndim != 2:
            raise ValueError("prior arrays must both be (K, M)")
        if np.any(alpha0 <= 0) or np.any(beta0 <= 0):
            raise ValueError("Beta prior parameters must be > 0")
        self.alpha0 = np.array(alpha0, dtype=np.float64)
        self.beta0 = np.array(beta0, dtype=np.float64)
        self.alpha = self.alpha0.copy()
        self.beta = self.beta0.copy()
        self.noise = noise or ThumbsNoise()

    @property
    def shape(self) -> tuple[int, int]:
        k, m = self.alpha.shape
        return int(k), int(m)

    def params(self, ctx: Context) -> tuple[np.ndarray, np.ndarray]:
        """Pooled (α, β) over the context's clusters (exact for a hard context)."""
        if ctx.cluster >= 0:
            return self.alpha[ctx.cluster], self.beta[ctx.cluster]
        return ctx.weights @ self.alpha, ctx.weights @ self.beta

    def mean(self, ctx: Context) -> np.ndarray:
        a, b = self.params(ctx)
        return np.asarray(a / (a + b))

    def evidence(self, ctx: Context) -> float:
        """Observations gathered so far (beyond the prior) in the context's clusters."""
        extra = (self.alpha + self.beta - self.alpha0 - self.beta0).sum(axis=1)
        return float(ctx.weights @ extra)

    def observe(
        self, ctx: Context, arm: int, value: float, *, kind: str = "label", weight: float = 1.0
    ) -> None:
        """Fold one piece of feedback on ``arm`` into the posterior (value already validated)."""
        ks = np.flatnonzero(ctx.weights > 1e-6)
        w = ctx.weights[ks] * weight
        a, b = self.alpha[ks, arm], self.beta[ks, arm]
        if kind == "thumbs":
            a2, b2 = thumbs_step(a, b, *self.noise.likelihood(up=value >= 0.5))
            da, db = a2 - a, b2 - b
        else:
            da, db = outcome_step(value)
        self.alpha[ks, arm] = a + w * da
        self.beta[ks, arm] = b + w * db

    # -- the pool changes ----------------------------------------------------------------------
    def add_arm(self, alpha0: np.ndarray, beta0: np.ndarray) -> None:
        for name, col in (("alpha0", alpha0), ("beta0", beta0), ("alpha", alpha0), ("beta", beta0)):
            setattr(self, name, np.column_stack([getattr(self, name), col]))

    def remove_arm(self, arm: int) -> None:
        for name in ("alpha0", "beta0", "alpha", "beta"):
            setattr(self, name, np.delete(getattr(self, name), arm, axis=1))

    # -- state ---------------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        """Every array and the noise model (floats round-trip exactly through JSON)."""
        return {
            "alpha0": self.alpha0.tolist(),
            "beta0": self.beta0.tolist(),
            "alpha": self.alpha.tolist(),
            "beta": self.beta.tolist(),
            "noise": [self.noise.a, self.noise.b],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> BetaPosterior:
        post = cls(
            np.asarray(state["alpha0"], dtype=np.float64),
            np.asarray(state["beta0"], dtype=np.float64),
            noise=ThumbsNoise(*state["noise"]),
        )
        post.alpha = np.asarray(state["alpha"], dtype=np.float64)
        post.beta = np.asarray(state["beta"], dtype=np.float64)
        return post
