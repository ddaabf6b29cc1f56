"""The one policy protocol: ``select(context, eligible, lam) -> Choice`` and ``update``.

The base class owns the pool (names, costs, the cost scale), the cost penalty, eligibility,
the choice, the counters and the random generator; a subclass writes its estimate and how it
learns, in a handful of hooks:

- :meth:`Policy._fit` builds the learned state from the profiles at :meth:`warm_start`;
- :meth:`Policy._estimate` gives each model's estimated (or sampled) correctness for a context,
  :meth:`Policy._mean_estimate` the same with no exploration;
- :meth:`Policy._learn` folds in one piece of feedback;
- :meth:`Policy._add` / :meth:`Policy._remove` follow the pool;
- :meth:`Policy._extra_state` / :meth:`Policy._load_extra_state` save and restore the rest.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Self

import numpy as np

from policies.context import Choice, Context
from policies.profile import ModelProfile
from policies.state import Persistent
from policies.updates import outcome_kind, utility, validate_feedback


class Policy(Persistent, ABC):
    """A routing rule over a pool of models warm-started from UniRoute profiles.

    Scores are ``estimate − λ · cost / cost_scale`` where ``cost_scale`` is the largest mean
    model cost at warm start, so λ is in "correctness per most-expensive-model" units.
    ``learns`` says whether feedback changes the rule's choices.
    """

    learns: ClassVar[bool] = True
    #: Draws for a Monte Carlo estimate of each decision's propensity, logged with it, where
    #: the rule has none in closed form (the Thompson rules take it as a parameter; 0: none).
    propensity_samples: int = 0

    def __init__(self, *, lam: float = 0.1, seed: int | None = None) -> None:
        self.lam = lam
        self.seed = seed

    # -- the pool ------------------------------------------------------------------------------
    def warm_start(
        self,
        profiles: Sequence[ModelProfile],
        *,
        cost_scale: float | None = None,
        **warm: Any,
    ) -> Self:
        """Set the pool and the learned state from validation profiles (UniRoute's Ψ);
        ``warm`` is what the rule's :meth:`_fit` takes beyond them (the blend's weights)."""
        if not profiles:
            raise ValueError("warm_start needs at least one model profile")
        ks = {p.k for p in profiles}
        if len(ks) != 1:
            raise ValueError(f"profiles disagree on the number of clusters: {sorted(ks)}")
        names = [p.name for p in profiles]
        if len(set(names)) != len(names):
            raise ValueError("model names in a pool must be unique")
        self._names = names
        self._k = ks.pop()
        self._cost = np.array([p.cost for p in profiles])
        self._acc = np.array([p.accuracy for p in profiles])
        scale = float(self._cost.max()) if cost_scale is None else float(cost_scale)
        self._cost_scale = scale if scale > 0 else 1.0
        self._rng = np.random.default_rng(self.seed)
        self._t, self._decided = 0, 0
        self._fit(profiles, **warm)
        return self

    @abstractmethod
    def _fit(self, profiles: Sequence[ModelProfile], **warm: Any) -> None:
        """Build the rule's learned state from the profiles."""

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
    def n_clusters(self) -> int:
        return self._ready()._k

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
        if profile.k != self._k:
            raise ValueError(f"profile has {profile.k} clusters, the pool has {self._k}")
        self._add(profile)
        self._names.append(profile.name)
        self._cost = np.append(self._cost, profile.cost)
        self._acc = np.append(self._acc, profile.accuracy)

    def remove_model(self, model: str) -> None:
        j = self.index(model)
        if len(self._names) == 1:
            raise ValueError("cannot remove the last model of the pool")
        self._remove(j)
        del self._names[j]
        self._cost = np.delete(self._cost, j)
        self._acc = np.delete(self._acc, j)

    def set_price(self, model: str, cost: float) -> None:
        if not (np.isfinite(cost) and cost >= 0):
            raise ValueError(f"cost must be a finite number >= 0, got {cost}")
        self._cost[self.index(model)] = cost

    @abstractmethod
    def _add(self, profile: ModelProfile) -> None:
        """Extend the learned state with a model (appended last)."""

    @abstractmethod
    def _remove(self, j: int) -> None:
        """Drop model ``j`` from the learned state."""

    # -- deciding ------------------------------------------------------------------------------
    def select(
        self, context: Context, *, eligible: np.ndarray | None = None, lam: float | None = None
    ) -> Choice:
        """Score every model for ``context`` and choose one among ``eligible`` (a bool mask)."""
        lam = self._check_request(context, eligible, lam)
        scores = self._scores(self._estimate(context), eligible, lam)
        j, propensity = self._choose(scores)
        self._decided += 1
        if propensity is None and self.propensity_samples > 0:
            probs = self.choice_probabilities(
                context, eligible=eligible, lam=lam, samples=self.propensity_samples
            )
            propensity = float(probs[j])
        return Choice(self._names[j], j, scores, propensity, context, lam)

    def _check_request(
        self, context: Context, eligible: np.ndarray | None, lam: float | None
    ) -> float:
        """Validate a request against the pool; return the λ to use."""
        self._ready()
        if context.weights.size != self._k:
            raise ValueError(
                f"context has {context.weights.size} cluster weights, the pool has "
                f"{self._k} clusters"
            )
        self._check_context(context)
        if eligible is not None and (eligible.shape != self._cost.shape or not eligible.any()):
            raise ValueError("eligible must be a bool mask over the pool with at least one True")
        return self.lam if lam is None else float(lam)

    def _check_context(self, context: Context) -> None:  # noqa: B027 - optional hook
        """Raise ``ValueError`` for a context the rule cannot read (beyond its clusters)."""

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
        ``samples`` draws for the Thompson rules. Off-policy estimators need it.
        """
        lam = self._check_request(context, eligible, lam)
        scores = self._scores(self._mean_estimate(context), eligible, lam)
        probs = np.zeros(scores.size)
        probs[int(np.argmax(scores))] = 1.0
        return probs

    def mean_scores(
        self, context: Context, *, eligible: np.ndarray | None = None, lam: float | None = None
    ) -> np.ndarray:
        """Each model's expected utility for ``context``: the score with no exploration noise
        (a Thompson draw replaced by its mean), e.g. to judge a switch's gain."""
        lam = self._check_request(context, eligible, lam)
        return self._scores(self._mean_estimate(context), eligible, lam)

    def _scores(self, estimate: np.ndarray, eligible: np.ndarray | None, lam: float) -> np.ndarray:
        """``estimate − λ·cost/cost_scale`` (over the last axis), −inf for ineligible models."""
        scores = utility(estimate, self._cost, lam, self._cost_scale)
        return scores if eligible is None else np.where(eligible, scores, -np.inf)

    @abstractmethod
    def _estimate(self, context: Context) -> np.ndarray:
        """Each model's estimated (or sampled) correctness for the context."""

    def _mean_estimate(self, context: Context) -> np.ndarray:
        """The expected value of :meth:`_estimate` (itself, for the deterministic rules)."""
        return self._estimate(context)

    def _choose(self, scores: np.ndarray) -> tuple[int, float | None]:
        return int(scores.argmax()), None

    @abstractmethod
    def cluster_betas(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per (cluster, model) Beta summaries of the current estimate and of the warm start
        alone, ``(alpha, beta, alpha0, beta0)``, each (K, M): what monitoring reports."""

    # -- learning ------------------------------------------------------------------------------
    def update(
        self,
        context: Context,
        model: str | int,
        value: float,
        *,
        kind: str = "label",
        weight: float = 1.0,
        shared: float | None = None,
    ) -> None:
        """Learn from feedback on ``model``'s answer: a 0/1 label, a [0, 1] score, or a thumb
        (``value`` 1 for up, 0 for down). ``weight`` in (0, 1] scales how much it teaches;
        ``shared`` in [0, ``weight``] (default ``weight``) how much it teaches the parts a
        policy shares between models, if it has any (see :mod:`agent.source_cap`)."""
        self._ready()
        j = self.index(model)
        validate_feedback(value, kind, weight)
        shared = weight if shared is None else float(shared)
        if not 0.0 <= shared <= weight:
            raise ValueError(f"shared weight must be in [0, weight = {weight}], got {shared}")
        self._check_context(context)
        self._t += 1
        self._learn(context, j, float(value), kind, weight, shared)

    def learn_outcomes(self, context: Context, outcomes: Mapping[str, float]) -> int:
        """Fold every given model's outcome on one prompt (someone labelled them all: a 0/1
        value as a label, anything else in [0, 1] as a score); returns how many models it
        learnt. Models not in the pool (any more) are skipped."""
        learnt = 0
        for model, value in outcomes.items():
            if model in self._ready()._names:
                self.update(context, model, float(value), kind=outcome_kind(value))
                learnt += 1
        return learnt

    @abstractmethod
    def _learn(
        self, context: Context, arm: int, value: float, kind: str, weight: float, shared: float
    ) -> None:
        """Fold one validated piece of feedback on model ``arm`` into the learned state
        (``shared``: its weight on parts shared between models, where the policy has any)."""

    # -- state ---------------------------------------------------------------------------------
    def _ready(self) -> Self:
        if not hasattr(self, "_names"):
            raise RuntimeError(f"{type(self).__name__} has no pool yet: call warm_start(profiles)")
        return self
