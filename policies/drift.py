"""Drift guard: one ADWIN detector per (cluster, model) cell on that cell's surprise stream
(each outcome minus what the posterior expected of it).

When a cell's outcomes shift, only a ``keep`` share of its learned evidence stays (none by
default: the cell falls back to its warm-start prior), so fresh outcomes decide quickly.
Alarms are kept for the monitoring reports.
"""

from __future__ import annotations

import base64
import pickle
from typing import Any

from policies.posterior import BetaPosterior


class DriftGuard:
    """ADWIN per cell (river), created lazily for the cells that see feedback.

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

    def __init__(self, delta: float = 0.002, keep: float = 0.0) -> None:
        self.delta = delta
        self.keep = keep
        self._detectors: dict[tuple[int, str], Any] = {}
        self.alarms: list[tuple[int, str, int]] = []

    def observe(
        self, post: BetaPosterior, t: int, cluster: int, arm: int, model: str, value: float
    ) -> bool:
        """Feed one outcome; on drift, shrink that cell's evidence and record an alarm."""
        from river.drift import ADWIN

        key = (cluster, model)
        det = self._detectors.get(key)
        if det is None:
            det = self._detectors[key] = ADWIN(delta=self.delta)
        det.update(value)
        if not det.drift_detected:
            return False
        post.forget(cluster, arm, self.keep)
        self.alarms.append((t, model, cluster))
        return True

    def drop_model(self, model: str) -> None:
        self._detectors = {k: v for k, v in self._detectors.items() if k[1] != model}

    def to_state(self) -> dict[str, Any]:
        blob = base64.b64encode(pickle.dumps(self._detectors)).decode("ascii")
        return {"detectors": blob, "alarms": [list(a) for a in self.alarms]}

    def load_state(self, state: dict[str, Any]) -> None:
        self._detectors = pickle.loads(base64.b64decode(state["detectors"]))
        self.alarms = [(int(t), str(m), int(k)) for t, m, k in state["alarms"]]
