"""river's bandits as external baselines: one river bandit per cluster, hard assignment.

river's ``Policy.update(arm, reward)`` learns from a scalar reward, so the adapter hands it the
utility ``correct − λ·cost/cost_scale`` mapped into [0, 1]. river's ``proba.Beta`` counts any
truthy reward as a full success, so for Thompson sampling the reward is first drawn as a
Bernoulli with that probability. Posterior features (leaves, the thumbs noise model) don't apply.
"""

from __future__ import annotations

import base64
import pickle
from collections.abc import Sequence
from typing import Any, Self

import numpy as np

from policies.base import Policy
from policies.context import Choice, Context
from policies.profile import ModelProfile


class RiverBandit(Policy):
    """``algorithm``: ``"egreedy"`` (river ``EpsilonGreedy``) or ``"ts"`` (``ThompsonSampling``)."""

    learns = False

    def __init__(self, *, algorithm: str = "egreedy", epsilon: float = 0.1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.algorithm = algorithm
        self.epsilon = epsilon

    def warm_start(
        self, profiles: Sequence[ModelProfile], *, cost_scale: float | None = None
    ) -> Self:
        if self.algorithm not in ("egreedy", "ts"):
            raise ValueError(f"algorithm must be 'egreedy' or 'ts', got {self.algorithm!r}")
        super().warm_start(profiles, cost_scale=cost_scale)
        seeds = self._rng.integers(2**31, size=self._post.shape[0])
        self._bandits = [self._make(int(s)) for s in seeds]
        self._last_lam = self.lam
        return self

    def _make(self, seed: int) -> Any:
        from river import bandit, proba

        if self.algorithm == "ts":
            return bandit.ThompsonSampling(reward_obj=proba.Beta(), seed=seed)
        return bandit.EpsilonGreedy(epsilon=self.epsilon, seed=seed)

    def _bandit(self, context: Context) -> Any:
        k = context.cluster if context.cluster >= 0 else int(np.argmax(context.weights))
        return self._bandits[k]

    def select(
        self, context: Context, *, eligible: np.ndarray | None = None, lam: float | None = None
    ) -> Choice:
        self._last_lam = self._check_request(context, eligible, lam)
        scores = self._estimate(context)
        if eligible is not None:
            scores = np.where(eligible, scores, -np.inf)
        arms = [m for m, s in zip(self._names, scores, strict=True) if np.isfinite(s)]
        j = self._names.index(self._bandit(context).pull(arms))
        return Choice(self._names[j], j, scores, None, context, self._last_lam)

    def choice_probabilities(
        self,
        context: Context,
        *,
        eligible: np.ndarray | None = None,
        lam: float | None = None,
        samples: int = 512,
    ) -> np.ndarray:
        raise NotImplementedError("river's bandits do not expose their choice probabilities")

    def _estimate(self, context: Context) -> np.ndarray:
        """river's current reward estimate per model (utility in [0, 1] units)."""
        rewards = self._bandit(context)._rewards
        if self.algorithm == "ts":
            return np.array([rewards[m].mode for m in self._names], dtype=np.float64)
        return np.array([rewards[m].get() for m in self._names], dtype=np.float64)

    def _after_update(self, context: Context, arm: int, value: float, kind: str) -> None:
        lam = self._last_lam
        utility = value - lam * min(self._cost[arm] / self._cost_scale, 1.0)
        reward = (utility + lam) / (1.0 + lam)
        if self.algorithm == "ts":
            reward = float(self._rng.random() < reward)
        self._bandit(context).update(self._names[arm], reward)

    def _extra_state(self) -> dict[str, Any]:
        blob = pickle.dumps((self._bandits, self._last_lam))
        return {"river": base64.b64encode(blob).decode("ascii")}

    def _load_extra_state(self, extra: dict[str, Any]) -> None:
        self._bandits, self._last_lam = pickle.loads(base64.b64decode(extra["river"]))
