"""``default``: UniRoute's warm start, corrected online from feedback, chosen by Thompson sampling.

Three parts, each in its own module:

1. **The warm start** (:class:`policies.blend.Blend`): every model's validation profile read at
   several partitions of prompt space (all prompts, the clusters, the extra partitions the
   profiles carry: the log's tasks or other K-means resolutions), shrunk by empirical Bayes
   and blended with stacking weights. This is what the router knows before any feedback.
2. **The corrections** (:class:`policies.corrections.Corrections`): shared (difficulty) and
   per-model probit corrections per cell of every partition, learnt from every label, score
   or thumb.
3. **Two learners and the choice between them.** The corrections are kept twice. The
   *careful* learner lets each (cell, model) correction move about ``careful`` times the
   warm start's own standard error there (from the validation labels behind that cell: a
   thick profile is hardly moved by a few failures, a profile from 20 labels moves freely).
   The *fast* learner gives every correction the same wide prior
   (:data:`policies.corrections.PRIOR_SD`), as if the profile said nothing about this
   traffic. Which one decides follows how unlike the prompts the profile was measured on
   the recent traffic is (the context's ``shift``:
   :class:`agent.shift.ShiftMeter`): on traffic like the validation prompts the careful
   learner, on shifted traffic the fast one. Both learn from every piece of feedback, so the
   switch loses nothing. Shared corrections have the wide prior in both.

A decision draws every correction (Thompson sampling), each by its own remaining variance,
``explore / √M`` wide: a pool of many models would otherwise over-explore, since the best of
M noisy draws wins by more the more draws there are.

>>> from policies.profile import ModelProfile
>>> a = ModelProfile("a", np.array([9.0, 1.0]), np.array([10.0, 10.0]), 1.0)
>>> b = ModelProfile("b", np.array([5.0, 5.0]), np.array([10.0, 10.0]), 1.0)
>>> policy = OnlineUniRoute(seed=0).warm_start([a, b])
>>> [policy.select(Context.hard(k, k=2)).model for k in (0, 1)]
['a', 'b']
>>> for _ in range(30):  # b turns out better than its profile said in cluster 0
...     policy.update(Context.hard(0, k=2), "b", 1.0)
...     policy.update(Context.hard(0, k=2), "a", 0.0)
>>> policy.select(Context.hard(0, k=2)).model
'b'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.special import ndtr, ndtri

from policies.base import Policy
from policies.blend import Blend
from policies.context import Context
from policies.corrections import Corrections, flat_priors, outcome_likelihood
from policies.profile import ModelProfile
from policies.rules import _frequencies
from policies.updates import THUMBS, thumbs_likelihood


class OnlineUniRoute(Policy):
    """The recommended router (``default``); see the module docstring.

    ``explore`` is the width of Thompson draws (÷ √M); ``careful`` how many of the warm
    start's standard errors the careful learner's corrections may move (None: the careful
    learner is as fast as the fast one); ``shift_odds = (a, c)`` the log-odds
    ``a·log(shift / c)`` that the fast learner decides (a = 0: never); ``thumbs`` the thumbs noise
    (P(up | correct), P(up | wrong)); ``propensity_samples > 0`` logs each decision's
    probability (Monte Carlo).
    """

    #: ``traffic``: the cells fitted on the traffic an older version learnt corrections on.
    _RETIRED_PARAMS = ("traffic",)

    def __init__(
        self,
        *,
        explore: float = 0.5,
        careful: float | None = 0.5,
        shift_odds: tuple[float, float] = (2.0, 4.0),
        thumbs: tuple[float, float] = THUMBS,
        propensity_samples: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.explore = explore
        self.careful = careful
        self.shift_odds = shift_odds
        self.thumbs = thumbs
        self.propensity_samples = propensity_samples

    # -- the pool ------------------------------------------------------------------------------
    def _fit(
        self, profiles: Sequence[ModelProfile], *, blend: Sequence[float] | None = None, **_: Any
    ) -> None:
        """``blend``: the stacking weights of the warm start's partitions (all prompts, the
        clusters, then the profiles' levels; :func:`policies.blend.stack_weights`), equal by
        default."""
        self._blend = Blend.from_profiles(profiles, blend)
        sizes = self._blend.sizes
        shared, model = flat_priors(sizes)
        m = len(profiles)
        careful = np.tile(model[:, None], (1, m)) if self.careful is None else self._careful()
        self._learners = [
            Corrections(sizes, shared, careful),
            Corrections(sizes, shared, np.tile(model[:, None], (1, m))),
        ]
        self._evidence = np.zeros(2)
        self._last: tuple[Context, np.ndarray, np.ndarray] | None = None

    def _careful(self, j: int | None = None) -> np.ndarray:
        """The careful learner's prior variances, (rows, models) (or model ``j``'s column):
        ``careful²`` times the variance of the warm start's estimate at each (cell, model)
        on the probit scale, from the validation labels behind it: the cell's own and, for
        the share shrunk toward the model's global rate, the global rate's."""
        b = self._blend
        assert self.careful is not None
        cols = slice(None) if j is None else slice(j, j + 1)
        g, total = b.rates(0)[0, cols], b.trials[0].sum(axis=0)[cols]
        g_var = g * (1 - g) / (total + 2.0)  # the global rate's own uncertainty
        parts = []
        for p, (n, k) in enumerate(zip(b.trials, b.kappas, strict=True)):
            r, n = b.rates(p)[:, cols], n[:, cols]
            density = np.exp(-0.5 * ndtri(r) ** 2) / np.sqrt(2 * np.pi)
            # the shrunk rate (s + κ·g)/(n + κ): its n trials' variance plus that of the κ
            # pseudo-trials, which are the global rate's (from every trial of the model, 20
            # labels in a thin profile), not κ trials' worth of certainty
            var = (n * r * (1 - r) + k * k * g_var) / (n + k + 1.0) ** 2
            parts.append(var / density**2)
        out = self.careful**2 * np.vstack(parts)
        return out if j is None else out[:, 0]

    def _add(self, profile: ModelProfile) -> None:
        if len(profile.levels) not in (0, len(self._blend.names) - 2):
            raise ValueError(f"{profile.name}: profile levels do not match the pool's")
        sizes = self._blend.sizes[2:]
        levels = profile.levels or tuple((np.zeros(k), np.zeros(k)) for k in sizes)
        self._last = None
        self._blend.add_model([(profile.successes, profile.trials), *levels])
        flat = flat_priors(self._learners[1].sizes)[1]
        j = len(self._names)  # the new model's column
        self._learners[0].add_model(flat if self.careful is None else self._careful(j))
        self._learners[1].add_model(flat)

    def _remove(self, j: int) -> None:
        self._last = None
        self._blend.remove_model(j)
        for learner in self._learners:
            learner.remove_model(j)

    @property
    def blend(self) -> Blend:
        """The warm start (read-only use)."""
        return self._ready()._blend

    # -- one context ---------------------------------------------------------------------------
    def _check_context(self, context: Context) -> None:
        sizes = self._blend.sizes[2:]
        if len(context.cells) != len(sizes):
            raise ValueError(
                f"context names {len(context.cells)} level cells, the pool has {len(sizes)}"
            )
        for c, k in zip(context.cells, sizes, strict=True):
            if not -1 <= c < k:
                raise ValueError(f"level cell {c} is outside 0..{k - 1} (or -1: unknown)")

    def _where(self, context: Context) -> tuple[np.ndarray, np.ndarray]:
        """The context's warm-start offset (probit scale) and its corrections' rows (kept for
        the last context: a decision and its feedback ask for the same one)."""
        last = self._last
        if last is not None and last[0] is context:
            return last[1], last[2]
        top = context.cluster if context.cluster >= 0 else int(np.argmax(context.weights))
        cells = (top, *context.cells)
        offset = np.asarray(ndtri(self._blend.mean(cells)))
        rows = self._learners[0].rows(cells)
        self._last = (context, offset, rows)
        return offset, rows

    def deciding(self, context: Context) -> int:
        """Which learner decides for this context: 0 careful, 1 fast."""
        a, c = self.shift_odds
        odds = a * np.log(max(context.shift, 1e-9) / c)
        return int(odds > 0)

    # -- deciding ------------------------------------------------------------------------------
    @property
    def width(self) -> float:
        """How many standard deviations wide a Thompson draw is: ``explore / √M``."""
        return float(self.explore / np.sqrt(len(self._names)))

    def _draws(self, rows: np.ndarray, rng: np.random.Generator, size: int = 1) -> np.ndarray:
        return rng.standard_normal((size, rows.size * (len(self._names) + 1)))

    def _estimate(self, context: Context) -> np.ndarray:
        offset, rows = self._where(context)
        learner = self._learners[self.deciding(context)]
        z = self._draws(rows, self._rng)[0]
        return np.asarray(ndtr(learner.draw(offset, rows, z, self.width)))

    def _mean_estimate(self, context: Context) -> np.ndarray:
        offset, rows = self._where(context)
        return self._learners[self.deciding(context)].predict(offset, rows)

    def choice_probabilities(
        self,
        context: Context,
        *,
        eligible: np.ndarray | None = None,
        lam: float | None = None,
        samples: int = 512,
    ) -> np.ndarray:
        lam = self._check_request(context, eligible, lam)
        offset, rows = self._where(context)
        learner = self._learners[self.deciding(context)]
        # A generator of its own, so estimating never shifts the decisions' random stream.
        rng = np.random.default_rng([self.seed or 0, self._t, 0x9E37])
        z = self._draws(rows, rng, samples)
        est = np.asarray(ndtr(learner.draw(offset, rows, z, self.width)))
        return _frequencies(self._scores(est, eligible, lam), eligible)

    def cluster_betas(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Each cluster's view: the warm start of all prompts and the cluster (the extra
        partitions left out, as a cluster spans several of their cells) and the careful
        learner's corrections there, each matched to a Beta by its mean and variance."""
        blend = self._ready()._blend
        w = blend.weights[:2] / blend.weights[:2].sum()
        warm = w[0] * blend.rates(0) + w[1] * blend.rates(1)  # (K, M)
        strength = blend.trials[1] + blend.kappas[1] + 1.0
        learner = self._learners[0]
        levels = (-1,) * (len(blend.names) - 2)
        means, vars_ = [], []
        for c in range(self._k):
            rows = learner.rows((c, *levels))
            m, v = learner.moments(ndtri(warm[c]), rows)
            total = 1.0 + v
            p = ndtr(m / np.sqrt(total))
            density = np.exp(-0.5 * m * m / total) / np.sqrt(2 * np.pi)
            means.append(p)
            vars_.append(np.maximum(density**2 * v / total, 1e-9))
        p, var = np.array(means), np.array(vars_)
        n = np.clip(p * (1 - p) / var - 1.0, 2.0, 1e6)
        return p * n, (1 - p) * n, warm * strength, (1 - warm) * strength

    # -- learning ------------------------------------------------------------------------------
    def _learn(
        self, context: Context, arm: int, value: float, kind: str, weight: float, shared: float
    ) -> None:
        if kind == "thumbs":
            c0, c1 = thumbs_likelihood(value >= 0.5, *self.thumbs)
        else:
            c0, c1 = outcome_likelihood(value)
        offset, rows = self._where(context)
        for i, learner in enumerate(self._learners):
            self._evidence[i] += learner.learn(offset, rows, arm, c0, c1, weight, shared)

    @property
    def evidence(self) -> np.ndarray:
        """Each learner's log-likelihood of the feedback so far, each predicted before it was
        learnt (a diagnostic: which prior fits this traffic)."""
        return self._ready()._evidence.copy()

    # -- state ---------------------------------------------------------------------------------
    def _extra_state(self) -> dict[str, Any]:
        return {
            "blend": self._blend.to_state(),
            "learners": [lr.to_state() for lr in self._learners],
            "evidence": self._evidence.tolist(),
        }

    def _load_extra_state(self, extra: dict[str, Any]) -> None:
        self._blend = Blend.from_state(extra["blend"])
        learners = [Corrections.from_state(s) for s in extra["learners"]]
        # an older state whose learners also learnt on cells fitted on the traffic has their
        # partition last: drop it
        self._learners = [lr.keep_partitions(len(self._blend.sizes)) for lr in learners]
        self._evidence = np.asarray(extra["evidence"], dtype=np.float64)
        self._last = None
