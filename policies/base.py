"""The one policy protocol: ``select(context, eligible, lam) -> Choice`` and ``update``.

Subclasses write one hook, :meth:`Policy._estimate` (each model's estimated correctness for the
context); the base class owns the pool, cost penalty, eligibility, choice and state.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar, Self

import numpy as np

from policies.context import Choice, Context
from policies.drift import DriftGuard
from policies.levels import level_priors, levels_from_profiles
from policies.posterior import BetaPosterior, validate_feedback
from policies.profile import ModelProfile, prior_counts
from policies.state import Persistent
from policies.thumbs import ThumbsNoise
from policies.updates import information_rate, utility


class Policy(Persistent, ABC):
    """A routing rule over a pool of models warm-started from UniRoute profiles.

    Scores are ``estimate − λ · cost / cost_scale`` where ``cost_scale`` is the largest mean model
    cost at warm start, so λ is in "correctness per most-expensive-model" units.

    The posterior learns per cluster; ``n_leaves > 0`` adds a finer level of leaf cells
    (``leaf_strength`` caps how much a leaf borrows from its cluster) and ``item_strength > 0``
    a prompt memory of up to ``max_items`` exact prompts (see :mod:`policies.memory`);
    ``tag_strength > 0`` learns per-tag corrections from the app's tags (:mod:`policies.tags`).

    ``stale_strength > 0`` caps a cluster's prior on feedback from one of its leaves (traffic
    cells, :meth:`~policies.posterior.BetaPosterior.mark_stale`). With ``multires`` a learning
    rule learns on its profiles' extra levels too (:mod:`policies.levels`; ``default`` does).
    """

    learns: ClassVar[bool] = True

    def __init__(
        self,
        *,
        lam: float = 0.1,
        prior_scale: float = 1.0,
        shrink: float = 4.0,
        n_leaves: int = 0,
        leaf_strength: float = 20.0,
        item_strength: float = 0.0,
        max_items: int = 100_000,
        tag_strength: float = 10.0,
        stale_strength: float = 0.0,
        multires: bool = False,
        discount: float = 1.0,
        drift: float | None = None,
        thumbs: tuple[float, float] = (0.8, 0.3),
        seed: int | None = None,
    ) -> None:
        self.lam = lam
        self.prior_scale = prior_scale
        self.shrink = shrink
        self.n_leaves = n_leaves
        self.leaf_strength = leaf_strength
        self.item_strength = item_strength
        self.max_items = max_items
        self.tag_strength = tag_strength
        self.stale_strength = stale_strength
        self.multires = multires
        self.discount = discount
        self.drift = drift
        self.thumbs = thumbs
        self.seed = seed

    # -- the pool ------------------------------------------------------------------------------
    def warm_start(
        self,
        profiles: Sequence[ModelProfile],
        *,
        cost_scale: float | None = None,
        level_weights: Sequence[float] | None = None,
    ) -> Self:
        """Set the pool and the priors from validation profiles (UniRoute's Ψ);
        ``level_weights`` weighs the profiles' resolution levels (:mod:`policies.levels`)."""
        if not profiles:
            raise ValueError("warm_start needs at least one model profile")
        ks = {p.k for p in profiles}
        if len(ks) != 1:
            raise ValueError(f"profiles disagree on the number of clusters: {sorted(ks)}")
        names = [p.name for p in profiles]
        if len(set(names)) != len(names):
            raise ValueError("model names in a pool must be unique")
        priors = [self._prior(p) for p in profiles]
        lv = None
        if self.learns and self.multires:
            strength = {"scale": self.prior_scale, "shrink": self.shrink}
            lv = levels_from_profiles(profiles, **strength, weights=level_weights)
        self._names = names
        self._cost = np.array([p.cost for p in profiles])
        self._acc = np.array([p.accuracy for p in profiles])
        scale = float(self._cost.max()) if cost_scale is None else float(cost_scale)
        self._cost_scale = scale if scale > 0 else 1.0
        self._post = BetaPosterior(
            np.column_stack([a for a, _ in priors]),
            np.column_stack([b for _, b in priors]),
            n_leaves=self.n_leaves,
            leaf_strength=self.leaf_strength,
            discount=self.discount,
            noise=ThumbsNoise(*self.thumbs),
            item_strength=self.item_strength if self.learns else 0.0,
            max_items=self.max_items,
            tag_strength=self.tag_strength if self.learns else 0.0,
            stale_strength=self.stale_strength if self.learns else 0.0,
            levels=lv,
        )
        self._rng = np.random.default_rng(self.seed)
        self._t, self._decided, self._evidence = 0, 0, 0.0
        self._guard = DriftGuard(delta=self.drift) if self.drift else None
        return self

    def _prior(self, profile: ModelProfile) -> tuple[np.ndarray, np.ndarray]:
        return prior_counts(profile, scale=self.prior_scale, shrink=self.shrink)

    @property
    def models(self) -> list[str]:
        return list(self._ready()._names)

    @property
    def costs(self) -> np.ndarray:
        return self._ready()._cost.copy()

    @property
    def cost_scale(self) -> float:
        return self._ready()._cost_scale

    @property
    def posterior(self) -> BetaPosterior:
        return self._ready()._post

    def index(self, model: str | int) -> int:
        """The pool position of a model given by name or position."""
        names = self._ready()._names
        if isinstance(model, str):
            if model not in names:
                raise KeyError(f"unknown model {model!r}")
            return names.index(model)
        if not 0 <= model < len(names):
            raise KeyError(f"model index {model} is outside the pool of {len(names)}")
        return int(model)

    def add_model(self, profile: ModelProfile) -> None:
        """Onboard a model from its profile alone; no retraining of anything else."""
        self._ready()
        if profile.name in self._names:
            raise ValueError(f"model {profile.name!r} is already in the pool")
        if profile.k != self._post.shape[0]:
            raise ValueError(
                f"profile has {profile.k} clusters, the pool has {self._post.shape[0]}"
            )
        a0, b0 = self._prior(profile)
        lv = self._post.levels
        pri = (
            None
            if lv is None
            else level_priors(profile, lv.sizes, scale=self.prior_scale, shrink=self.shrink)
        )
        self._post.add_arm(a0, b0, pri)
        self._names.append(profile.name)
        self._cost = np.append(self._cost, profile.cost)
        self._acc = np.append(self._acc, profile.accuracy)

    def remove_model(self, model: str) -> None:
        j = self.index(model)
        if len(self._names) == 1:
            raise ValueError("cannot remove the last model of the pool")
        self._post.remove_arm(j)
        if self._guard is not None:
            self._guard.drop_model(self._names[j])
        del self._names[j]
        self._cost = np.delete(self._cost, j)
        self._acc = np.delete(self._acc, j)

    def set_price(self, model: str, cost: float) -> None:
        if not (np.isfinite(cost) and cost >= 0):
            raise ValueError(f"cost must be a finite number >= 0, got {cost}")
        self._cost[self.index(model)] = cost

    # -- deciding ------------------------------------------------------------------------------
    def select(
        self, context: Context, *, eligible: np.ndarray | None = None, lam: float | None = None
    ) -> Choice:
        """Score every model for ``context`` and choose one among ``eligible`` (a bool mask)."""
        lam = self._check_request(context, eligible, lam)
        scores = self._scores(self._estimate(context), eligible, lam)
        j, propensity = self._choose(scores)
        self._decided += 1
        return Choice(self._names[j], j, scores, propensity, context, lam)

    @property
    def information_rate(self) -> float:
        """Evidence gained per decision so far, in labels (1 = a label on every request).

        Starts at 1 (20 pseudo-decisions), falls with sparse or weak (thumbs) feedback.
        """
        return information_rate(self._decided, self._evidence)

    def _check_request(
        self, context: Context, eligible: np.ndarray | None, lam: float | None
    ) -> float:
        """Validate a request against the pool; return the λ to use."""
        self._ready()
        if context.weights.size != self._post.shape[0]:
            raise ValueError(
                f"context has {context.weights.size} cluster weights, the pool has "
                f"{self._post.shape[0]} clusters"
            )
        if self._post.levels is not None:
            self._post.levels.check(context.cells)
        if eligible is not None and (eligible.shape != self._cost.shape or not eligible.any()):
            raise ValueError("eligible must be a bool mask over the pool with at least one True")
        return self.lam if lam is None else float(lam)

    def choice_probabilities(
        self,
        context: Context,
        *,
        eligible: np.ndarray | None = None,
        lam: float | None = None,
        samples: int = 512,
    ) -> np.ndarray:
        """P(each model is chosen) for ``context`` under the current state, without choosing.

        Exact for the deterministic rules (one-hot) and for random; Monte Carlo over
        ``samples`` posterior draws for Thompson sampling. Off-policy estimators need it.
        """
        lam = self._check_request(context, eligible, lam)
        scores = self._scores(self._estimate(context), eligible, lam)
        probs = np.zeros(scores.size)
        probs[int(np.argmax(scores))] = 1.0
        return probs

    def mean_scores(
        self, context: Context, *, eligible: np.ndarray | None = None, lam: float | None = None
    ) -> np.ndarray:
        """Each model's expected utility for ``context``: the score with no exploration noise
        (a Thompson draw replaced by its posterior mean), e.g. to judge a switch's gain."""
        lam = self._check_request(context, eligible, lam)
        return self._scores(self._mean_estimate(context), eligible, lam)

    def _mean_estimate(self, context: Context) -> np.ndarray:
        """The expected value of :meth:`_estimate` (itself, for the deterministic rules)."""
        return self._estimate(context)

    def _scores(self, estimate: np.ndarray, eligible: np.ndarray | None, lam: float) -> np.ndarray:
        """``estimate − λ·cost/cost_scale`` (over the last axis), −inf for ineligible models."""
        scores = utility(estimate, self._cost, lam, self._cost_scale)
        return scores if eligible is None else np.where(eligible, scores, -np.inf)

    @abstractmethod
    def _estimate(self, context: Context) -> np.ndarray:
        """Each model's estimated (or sampled) correctness for the context."""

    def _choose(self, scores: np.ndarray) -> tuple[int, float | None]:
        return int(scores.argmax()), None

    # -- learning ------------------------------------------------------------------------------
    def update(
        self,
        context: Context,
        model: str | int,
        value: float,
        *,
        kind: str = "label",
        weight: float = 1.0,
        watch: bool = True,
    ) -> None:
        """Learn from feedback on ``model``'s answer: a 0/1 label, a [0, 1] score, or a thumb
        (``value`` 1 for up, 0 for down). ``weight`` in (0, 1] caps one source's influence;
        ``watch`` False keeps the feedback from the drift guard (a client past its share)."""
        self._ready()
        j = self.index(model)
        validate_feedback(value, kind, weight)
        self._t += 1
        if self._guard is not None and watch:
            self._guard.watch(self._post, self._t, context, j, self._names[j], float(value), kind)
        if self.learns:
            self._evidence += self._post.observe(context, j, float(value), kind=kind, weight=weight)
        self._after_update(context, j, float(value), kind)

    def _after_update(self, context: Context, arm: int, value: float, kind: str) -> None:  # noqa: B027
        """Hook for extra learning after a posterior update (the river baselines use it)."""

    @property
    def drift_guard(self) -> DriftGuard | None:
        return self._ready()._guard

    @property
    def drift_alarms(self) -> list[tuple[int, str, int]]:
        """(step, model, cluster) for every drift the guard detected."""
        guard = self._ready()._guard
        return list(guard.alarms) if guard is not None else []
