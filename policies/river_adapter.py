"""river's bandits as external baselines: one river bandit per cluster (hard assignment), or
one for every prompt (``bandit``: the plain bandit over models, with no context).

river's ``Policy.update(arm, reward)`` learns from a scalar reward, so the adapter hands it the
utility ``correct − λ·cost/cost_scale`` mapped into [0, 1]. river's ``proba.Beta`` counts any
truthy reward as a full success, so for Thompson sampling the reward is first drawn as a
Bernoulli with that probability. The thumbs noise model does not apply: a thumb counts as a label.

The state holds no pickle: each cluster's bandit is rebuilt from its seed by replaying the
pulls and updates it saw, which resumes it exactly. That log grows with every request, so these
baselines suit replays and experiments, not a long-running service.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from policies.context import Choice, Context
from policies.profile import ModelProfile
from policies.rules import BetaRule, _frequencies


class RiverBandit(BetaRule):
    """``algorithm``: ``"egreedy"`` (river ``EpsilonGreedy``) or ``"ts"`` (``ThompsonSampling``);
    ``per_cluster=False``: one bandit for every prompt, which sees no context."""

    def __init__(
        self,
        *,
        algorithm: str = "egreedy",
        epsilon: float = 0.1,
        per_cluster: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.algorithm = algorithm
        self.epsilon = epsilon
        self.per_cluster = per_cluster

    def _fit(self, profiles: Sequence[ModelProfile], **warm: Any) -> None:
        if self.algorithm not in ("egreedy", "ts"):
            raise ValueError(f"algorithm must be 'egreedy' or 'ts', got {self.algorithm!r}")
        super()._fit(profiles, **warm)
        n = self._k if self.per_cluster else 1
        self._seeds = [int(s) for s in self._rng.integers(2**31, size=n)]
        self._bandits = [self._make(s) for s in self._seeds]
        self._events: list[list[list[Any]]] = [[] for _ in self._seeds]
        self._last_lam = self.lam

    def _make(self, seed: int) -> Any:
        from river import bandit, proba

        if self.algorithm == "ts":
            return bandit.ThompsonSampling(reward_obj=proba.Beta(), seed=seed)
        return bandit.EpsilonGreedy(epsilon=self.epsilon, seed=seed)

    def _cell(self, context: Context) -> int:
        if not self.per_cluster:
            return 0
        return context.cluster if context.cluster >= 0 else int(np.argmax(context.weights))

    def _bandit(self, context: Context) -> Any:
        return self._bandits[self._cell(context)]

    def select(
        self, context: Context, *, eligible: np.ndarray | None = None, lam: float | None = None
    ) -> Choice:
        self._last_lam = self._check_request(context, eligible, lam)
        scores = self._estimate(context)
        if eligible is not None:
            scores = np.where(eligible, scores, -np.inf)
        arms = [m for m, s in zip(self._names, scores, strict=True) if np.isfinite(s)]
        self._events[self._cell(context)].append(["pull", arms])
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
        """P(each model is pulled) by this context's bandit as it stands: for Thompson
        sampling, how often each eligible model's Beta draw is the largest of ``samples`` draws
        (from a generator of its own, so river's stream is untouched); for ε-greedy, ε spread
        evenly over the eligible models and the rest on the first with the best mean, as
        river breaks ties. ``lam`` is checked but changes nothing: river's rewards already
        carry the cost at the λ they were learnt with."""
        self._check_request(context, eligible, lam)
        ok = np.ones(len(self._names), dtype=bool) if eligible is None else eligible
        if self.algorithm == "ts":
            rewards = self._bandit(context)._rewards
            rng = np.random.default_rng([self.seed or 0, self._t, 0x9E37])
            a = np.array([rewards[m].alpha for m in self._names], dtype=np.float64)
            b = np.array([rewards[m].beta for m in self._names], dtype=np.float64)
            draws = rng.beta(a, b, size=(samples, a.size))
            return _frequencies(np.where(ok, draws, -np.inf), ok)
        best = int(np.argmax(np.where(ok, self._estimate(context), -np.inf)))
        probs = np.where(ok, self.epsilon / ok.sum(), 0.0)
        probs[best] += 1.0 - self.epsilon
        return probs

    def _estimate(self, context: Context) -> np.ndarray:
        """river's current reward estimate per model (utility in [0, 1] units)."""
        rewards = self._bandit(context)._rewards
        if self.algorithm == "ts":
            return np.array([rewards[m].mode for m in self._names], dtype=np.float64)
        return np.array([rewards[m].get() for m in self._names], dtype=np.float64)

    def _learn(
        self, context: Context, arm: int, value: float, kind: str, weight: float, shared: float
    ) -> None:
        lam = self._last_lam
        utility = value - lam * min(self._cost[arm] / self._cost_scale, 1.0)
        reward = (utility + lam) / (1.0 + lam)
        if self.algorithm == "ts":
            reward = float(self._rng.random() < reward)
        self._events[self._cell(context)].append(["update", self._names[arm], reward])
        self._bandit(context).update(self._names[arm], reward)

    def _extra_state(self) -> dict[str, Any]:
        return super()._extra_state() | {
            "seeds": self._seeds,
            "events": self._events,
            "last_lam": self._last_lam,
        }

    def _load_extra_state(self, extra: dict[str, Any]) -> None:
        if "seeds" not in extra:
            raise ValueError(
                "this river baseline was saved as a pickle by an older version; "
                "saved states are plain data now: replay it again"
            )
        super()._load_extra_state(extra)
        self._seeds = [int(s) for s in extra["seeds"]]
        self._events = [[list(e) for e in cell] for cell in extra["events"]]
        self._last_lam = float(extra["last_lam"])
        self._bandits = [self._make(s) for s in self._seeds]
        for bandit, events in zip(self._bandits, self._events, strict=True):
            for event in events:
                if event[0] == "pull":
                    bandit.pull(event[1])
                else:
                    bandit.update(event[1], float(event[2]))
