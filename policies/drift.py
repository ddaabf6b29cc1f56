"""Drift guard: one ADWIN detector per model on that model's surprise stream (each outcome
minus what the posterior expected of it, whichever cluster it came from).

Surprises are centred on zero while the posterior is right, whatever prompts the policy sends
the model, so pooling them over clusters gives the detector every observation of the model:
a single cell sees too few to notice a change quickly. When the stream shifts, only a ``keep``
share of the model's learned evidence stays (none by default), and its warm-start profile, which
described the model before the change, counts for at most ``prior_strength`` observations per
cluster, so fresh outcomes decide quickly. Alarms are kept for the reports.

The detectors are :class:`policies.adwin.ADWIN` (river's semantics, plain arrays), saved as
plain numbers. A state saved before that carried river's detectors as a pickle; loading one
starts fresh detectors (the alarms are kept) rather than unpickling anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from policies.adwin import ADWIN, new_state
from policies.context import Context
from policies.posterior import BetaPosterior
from policies.updates import thumbs_expectation


class DriftGuard:
    """ADWIN per model, created lazily for the models that see feedback.

    >>> from policies.context import Context
    >>> import numpy as np
    >>> post = BetaPosterior(np.ones((1, 1)), np.ones((1, 1)))
    >>> guard = DriftGuard(delta=0.002)
    >>> rng = np.random.default_rng(0)
    >>> for t in range(600):
    ...     y = float(rng.random() < (0.9 if t < 300 else 0.2))
    ...     _ = post.observe(Context.hard(0, k=1), 0, y)
    ...     _ = guard.observe(post, t, 0, 0, "m", y)
    >>> [(model, cluster) for _, model, cluster in guard.alarms]
    [('m', 0)]
    """

    def __init__(
        self, delta: float = 0.002, keep: float = 0.0, prior_strength: float = 2.0
    ) -> None:
        self.delta = delta
        self.keep = keep
        self.prior_strength = prior_strength
        self._detectors: dict[str, ADWIN] = {}
        self.alarms: list[tuple[int, str, int]] = []

    def observe(
        self, post: BetaPosterior, t: int, cluster: int, arm: int, model: str, value: float
    ) -> bool:
        """Feed one surprise seen in ``cluster``; on drift, forget the model's learned evidence
        and record an alarm (step, model, the cluster where it was noticed)."""
        if not self.detector(model).update(value):
            return False
        post.forget(arm, self.keep, self.prior_strength)
        self.record(t, model, cluster)
        return True

    def watch(
        self,
        post: BetaPosterior,
        t: int,
        ctx: Context,
        arm: int,
        model: str,
        value: float,
        kind: str,
    ) -> bool:
        """Feed the surprise of one piece of feedback: its value minus what the posterior
        expected of it (of a thumb, through the thumbs noise), noticed in the context's top
        cluster. Watching residuals rather than raw outcomes keeps the stream stationary while
        the policy shifts which prompts of a cluster a model gets; only a change in the model
        shows."""
        expected = float(post.mean(ctx)[arm])
        if kind == "thumbs":
            expected = thumbs_expectation(expected, post.noise.a, post.noise.b)
        k = ctx.cluster if ctx.cluster >= 0 else int(np.argmax(ctx.weights))
        return self.observe(post, t, k, arm, model, value - expected)

    def detector(self, model: str) -> ADWIN:
        """The model's detector, created on first use."""
        det = self._detectors.get(model)
        if det is None:
            det = self._detectors[model] = ADWIN(delta=self.delta)
        return det

    @property
    def settings(self) -> tuple[float, float, float, float]:
        """Every detector's (delta, clock, min_window_length, grace_period)."""
        return ADWIN(delta=self.delta).settings

    def drop_model(self, model: str) -> None:
        self._detectors.pop(model, None)

    # -- as arrays, for the compiled replay ------------------------------------------------------
    def stacked(self, models: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Every model's detector state, one row per model in ``models`` order (copies); a
        model without a detector gets an empty one."""
        det = ADWIN(delta=self.delta)
        rows = [self._detectors.get(m, det) for m in models]
        return np.concatenate([d.buckets for d in rows]), np.concatenate([d.stats for d in rows])

    def unstack(self, models: Sequence[str], buckets: np.ndarray, stats: np.ndarray) -> None:
        """Take back what :meth:`stacked` gave, once updated; rows never fed stay absent."""
        empty = new_state(buckets.shape[2] - 1)[1][0]
        for i, model in enumerate(models):
            if model in self._detectors or not np.array_equal(stats[i], empty):
                det = self.detector(model)
                det.buckets, det.stats = buckets[i : i + 1].copy(), stats[i : i + 1].copy()

    def record(self, t: int, model: str, cluster: int) -> None:
        self.alarms.append((int(t), model, int(cluster)))

    # -- state ---------------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        return {
            "adwin": {m: d.to_state() for m, d in self._detectors.items()},
            "alarms": [list(a) for a in self.alarms],
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`to_state`; an older state with river's pickled detectors (a base64
        ``detectors`` string) restores the alarms and starts every detector afresh."""
        self._detectors = {}
        for model, det_state in state.get("adwin", {}).items():
            self.detector(model).load_state(det_state)
        self.alarms = [(int(t), str(m), int(k)) for t, m, k in state["alarms"]]
