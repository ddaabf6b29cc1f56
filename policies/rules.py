"""The decision rules: Thompson sampling, Bayes-UCB, greedy, static UniRoute, best-fixed, random.

Each is one :meth:`Policy._estimate` hook over the shared Beta posterior.

>>> from policies.profile import ModelProfile
>>> cheap = ModelProfile("cheap", np.array([9.0, 2.0]), np.array([10.0, 10.0]), 0.001)
>>> strong = ModelProfile("strong", np.array([9.0, 9.0]), np.array([10.0, 10.0]), 0.01)
>>> policy = Greedy(lam=0.2).warm_start([cheap, strong])
>>> [policy.select(Context.hard(k, k=2)).model for k in (0, 1)]
['cheap', 'strong']
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from scipy.special import betaincinv

from policies.base import Policy
from policies.context import Choice, Context
from policies.updates import tempered

__all__ = ["BayesUCB", "BestFixed", "Greedy", "RandomPolicy", "StaticUniRoute", "Thompson"]


class Thompson(Policy):
    """Thompson sampling: score each model by a draw from its Beta posterior.

    ``explore`` scales each draw's distance from the posterior mean: 1 is plain Thompson
    sampling, below 1 tempers exploration (large pools over-explore), 0 is greedy. With
    ``info_tempering = γ > 0`` the scale is further multiplied by ``information_rate ** γ``:
    a request that will get no feedback (or only a weak thumb) teaches little, so exploring on
    it costs more than it can repay, and sparse feedback pushes the rule toward greedy. With
    ``pool_tempering = ρ > 0`` it is also divided by ``M ** ρ`` for a pool of M models: the
    best of M noisy draws wins by more the more draws there are, so a large pool over-explores.
    """

    def __init__(
        self,
        *,
        explore: float = 1.0,
        info_tempering: float = 0.0,
        pool_tempering: float = 0.0,
        propensity_samples: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.explore = explore
        self.info_tempering = info_tempering
        self.pool_tempering = pool_tempering
        self.propensity_samples = propensity_samples

    @property
    def exploration(self) -> float:
        """The current scale of draws around the posterior mean."""
        return tempered(self.pool_exploration, self.information_rate, self.info_tempering)

    @property
    def pool_exploration(self) -> float:
        """``explore`` tempered by the pool's size alone."""
        if not self.pool_tempering:
            return self.explore
        return self.explore / len(self.models) ** self.pool_tempering

    def select(
        self, context: Context, *, eligible: np.ndarray | None = None, lam: float | None = None
    ) -> Choice:
        """As :meth:`Policy.select`; with ``propensity_samples > 0`` the decision also carries
        a Monte Carlo estimate of the probability it had of choosing its model."""
        decision = super().select(context, eligible=eligible, lam=lam)
        if self.propensity_samples <= 0:
            return decision
        probs = self.choice_probabilities(
            context, eligible=eligible, lam=decision.lam, samples=self.propensity_samples
        )
        return replace(decision, propensity=float(probs[decision.index]))

    def _estimate(self, context: Context) -> np.ndarray:
        a, b = self._post.params(context)
        draw = self._rng.beta(a, b)
        scale = self.exploration
        if scale == 1.0:
            return draw
        mean = a / (a + b)
        return mean + scale * (draw - mean)

    def _mean_estimate(self, context: Context) -> np.ndarray:
        return self._post.mean(context)

    def choice_probabilities(
        self,
        context: Context,
        *,
        eligible: np.ndarray | None = None,
        lam: float | None = None,
        samples: int = 512,
    ) -> np.ndarray:
        lam = self._check_request(context, eligible, lam)
        a, b = self._post.params(context)
        # A generator of its own, so estimating never shifts the decisions' random stream.
        rng = np.random.default_rng([self.seed or 0, self._t, 0x9E37])
        draws = rng.beta(a, b, size=(samples, a.size))
        mean = a / (a + b)
        scores = self._scores(mean + self.exploration * (draws - mean), eligible, lam)
        counts = np.bincount(np.argmax(scores, axis=1), minlength=a.size)
        # Never report exactly 0 for an eligible model: Thompson can always pick it.
        floor = 0.5 / samples
        probs = np.maximum(counts / samples, floor)
        if eligible is not None:
            probs = np.where(eligible, probs, 0.0)
        return probs / probs.sum()


class BayesUCB(Policy):
    """Bayes-UCB (Kaufmann et al. 2012): the posterior's 1 − 1/(t + 1) quantile, where t counts
    the observations already made in the context's clusters."""

    def _estimate(self, context: Context) -> np.ndarray:
        a, b = self._post.params(context)
        t = self._post.evidence(context)
        return betaincinv(a, b, 1.0 - 1.0 / (t + 2.0))


class Greedy(Policy):
    """Posterior mean, no exploration beyond what the prior's uncertainty leaves to feedback."""

    def _estimate(self, context: Context) -> np.ndarray:
        return self._post.mean(context)


class StaticUniRoute(Policy):
    """UniRoute as published: ``argmin err[k(x), m] + λ·cost[m]`` from the profiles, no learning."""

    learns = False

    def _estimate(self, context: Context) -> np.ndarray:
        post = self._post
        if context.cluster >= 0:
            k = context.cluster
            return post.alpha0[k] / (post.alpha0[k] + post.beta0[k])
        return context.weights @ (post.alpha0 / (post.alpha0 + post.beta0))

    def _choose(self, scores: np.ndarray) -> tuple[int, float | None]:
        return int(np.argmax(scores)), 1.0


class BestFixed(Policy):
    """The single model with the best validation utility, whatever the prompt."""

    learns = False

    def _estimate(self, context: Context) -> np.ndarray:
        return self._acc

    def _choose(self, scores: np.ndarray) -> tuple[int, float | None]:
        return int(np.argmax(scores)), 1.0


class RandomPolicy(Policy):
    """Uniform over the eligible models; its propensity is exact."""

    learns = False

    def _estimate(self, context: Context) -> np.ndarray:
        return np.zeros(len(self._names))

    def choice_probabilities(
        self,
        context: Context,
        *,
        eligible: np.ndarray | None = None,
        lam: float | None = None,
        samples: int = 512,
    ) -> np.ndarray:
        self._check_request(context, eligible, lam)
        ok = np.ones(len(self._names), dtype=bool) if eligible is None else eligible
        return ok / ok.sum()

    def _choose(self, scores: np.ndarray) -> tuple[int, float | None]:
        ok = np.flatnonzero(np.isfinite(scores))
        return int(ok[self._rng.integers(ok.size)]), 1.0 / ok.size
