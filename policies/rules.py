"""The baselines: UniRoute's per-cluster Beta posteriors under Thompson sampling, Bayes-UCB,
greedy and static UniRoute, and the single best model and random choice.

Each is one :meth:`~policies.base.Policy._estimate` hook over :class:`BetaRule`'s shared
per-cluster posterior, warm-started from the profiles (:func:`policies.profile.prior_counts`).

>>> from policies.profile import ModelProfile
>>> cheap = ModelProfile("cheap", np.array([9.0, 2.0]), np.array([10.0, 10.0]), 0.001)
>>> strong = ModelProfile("strong", np.array([9.0, 9.0]), np.array([10.0, 10.0]), 0.01)
>>> policy = Greedy(lam=0.2).warm_start([cheap, strong])
>>> [policy.select(Context.hard(k, k=2)).model for k in (0, 1)]
['cheap', 'strong']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.special import betaincinv

from policies.base import Policy
from policies.context import Context
from policies.posterior import BetaPosterior
from policies.profile import ModelProfile, prior_counts
from policies.thumbs import ThumbsNoise
from policies.updates import THUMBS

__all__ = [
    "BayesUCB",
    "BestFixed",
    "BetaRule",
    "Greedy",
    "RandomPolicy",
    "StaticUniRoute",
    "Thompson",
]


class BetaRule(Policy):
    """A rule over per-cluster Beta posteriors: priors from the profiles, ``prior_scale``
    times their trials plus ``shrink`` pseudo-trials toward each model's global rate; thumbs
    read through the noise model P(up | correct), P(up | wrong) = ``thumbs``."""

    def __init__(
        self,
        *,
        prior_scale: float = 1.0,
        shrink: float = 4.0,
        thumbs: tuple[float, float] = THUMBS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.prior_scale = prior_scale
        self.shrink = shrink
        self.thumbs = thumbs

    @property
    def posterior(self) -> BetaPosterior:
        return self._ready()._post

    def _prior(self, profile: ModelProfile) -> tuple[np.ndarray, np.ndarray]:
        return prior_counts(profile, scale=self.prior_scale, shrink=self.shrink)

    def _fit(self, profiles: Sequence[ModelProfile], **warm: Any) -> None:
        priors = [self._prior(p) for p in profiles]
        self._post = BetaPosterior(
            np.column_stack([a for a, _ in priors]),
            np.column_stack([b for _, b in priors]),
            noise=ThumbsNoise(*self.thumbs),
        )

    def _add(self, profile: ModelProfile) -> None:
        self._post.add_arm(*self._prior(profile))

    def _remove(self, j: int) -> None:
        self._post.remove_arm(j)

    def cluster_betas(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        post = self._ready()._post
        return post.alpha.copy(), post.beta.copy(), post.alpha0.copy(), post.beta0.copy()

    def _learn(
        self, context: Context, arm: int, value: float, kind: str, weight: float, shared: float
    ) -> None:
        if self.learns:
            self._post.observe(context, arm, value, kind=kind, weight=weight)

    def _extra_state(self) -> dict[str, Any]:
        return {"posterior": self._post.to_state()}

    def _load_extra_state(self, extra: dict[str, Any]) -> None:
        self._post = BetaPosterior.from_state(extra["posterior"])


class Thompson(BetaRule):
    """Thompson sampling: score each model by a draw from its cluster's Beta posterior.

    ``propensity_samples > 0`` also logs, with each decision, a Monte Carlo estimate of the
    probability it had of choosing its model (for off-policy estimates)."""

    def __init__(self, *, propensity_samples: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.propensity_samples = propensity_samples

    def _estimate(self, context: Context) -> np.ndarray:
        a, b = self._post.params(context)
        return np.asarray(self._rng.beta(a, b))

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
        scores = self._scores(rng.beta(a, b, size=(samples, a.size)), eligible, lam)
        return _frequencies(scores, eligible)


class BayesUCB(BetaRule):
    """Bayes-UCB (Kaufmann et al. 2012): the posterior's 1 − 1/(t + 1) quantile, where t counts
    the observations already made in the context's clusters."""

    def _estimate(self, context: Context) -> np.ndarray:
        a, b = self._post.params(context)
        t = self._post.evidence(context)
        return np.asarray(betaincinv(a, b, 1.0 - 1.0 / (t + 2.0)))


class Greedy(BetaRule):
    """Posterior mean, no exploration beyond what the prior's uncertainty leaves to feedback."""

    def _estimate(self, context: Context) -> np.ndarray:
        return self._post.mean(context)


class StaticUniRoute(BetaRule):
    """UniRoute as published: ``argmin err[k(x), m] + λ·cost[m]`` from the profiles, no learning."""

    learns = False

    def _estimate(self, context: Context) -> np.ndarray:
        post = self._post
        return np.asarray(context.weights @ (post.alpha0 / (post.alpha0 + post.beta0)))

    def _choose(self, scores: np.ndarray) -> tuple[int, float | None]:
        return int(np.argmax(scores)), 1.0


class BestFixed(BetaRule):
    """The single model with the best validation utility, whatever the prompt."""

    learns = False

    def _estimate(self, context: Context) -> np.ndarray:
        return self._acc

    def _choose(self, scores: np.ndarray) -> tuple[int, float | None]:
        return int(np.argmax(scores)), 1.0


class RandomPolicy(BetaRule):
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
        return np.asarray(ok / ok.sum())

    def _choose(self, scores: np.ndarray) -> tuple[int, float | None]:
        ok = np.flatnonzero(np.isfinite(scores))
        return int(ok[self._rng.integers(ok.size)]), 1.0 / ok.size


def _frequencies(scores: np.ndarray, eligible: np.ndarray | None) -> np.ndarray:
    """How often each column wins a row of sampled ``scores``; never exactly 0 for an
    eligible model (a Thompson rule can always pick it)."""
    samples = scores.shape[0]
    counts = np.bincount(np.argmax(scores, axis=1), minlength=scores.shape[1])
    probs = np.maximum(counts / samples, 0.5 / samples)
    if eligible is not None:
        probs = np.where(eligible, probs, 0.0)
    return np.asarray(probs / probs.sum())
