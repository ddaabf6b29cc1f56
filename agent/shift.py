"""How unlike the prompts the profiles were measured on the recent traffic is.

The router's profiles describe the models on its validation prompts. When the traffic comes
from elsewhere (new tasks, another product), the profiles can be wrong in ways only feedback
shows, and the policy should learn faster there (:meth:`policies.OnlineUniRoute.deciding`).

:class:`ShiftMeter` keeps a running mean of the unit embeddings of the last ``window``
prompts (exactly for the first ``window``, then exponentially) and compares it with the mean
of the prompts the clusters were fitted on: ``n · |mean − center|² / spread``, where
``spread`` is the fit prompts' mean squared distance to their center and ``n`` the prompts
the mean covers (at most ``window``). For traffic drawn like the fit prompts this is about 1
whatever the encoder over the first ``window`` prompts (a mean of ``n`` such prompts strays
from the center by ``spread / n`` on average), and about 1/2 after them (the exponential
mean's variance is ``spread / (2·window − 1)``); for traffic from other tasks it grows to
tens and more within a few dozen prompts, and falls back within a few windows of like traffic.

>>> rng = np.random.default_rng(0)
>>> fit = rng.normal(size=(500, 8)) + np.array([3.0, 0, 0, 0, 0, 0, 0, 0])
>>> meter = ShiftMeter.fit(fit)
>>> like = [meter.observe(x) for x in rng.normal(size=(100, 8)) + [3.0, 0, 0, 0, 0, 0, 0, 0]]
>>> other = [meter.observe(x) for x in rng.normal(size=(100, 8)) + [0, 3.0, 0, 0, 0, 0, 0, 0]]
>>> bool(like[-1] < 4.0 < other[-1])
True
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

#: Prompts the running mean covers.
WINDOW = 200


def unit_rows(X: np.ndarray) -> np.ndarray:
    """The rows of ``X`` scaled to length 1 (a zero row stays zero)."""
    X = np.atleast_2d(np.asarray(X, dtype=np.float64))
    return X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)


class ShiftMeter:
    """The running shift statistic of a traffic stream against a reference ``center`` and
    ``spread`` (:meth:`fit` computes them from the fit prompts' embeddings). Thread-safe."""

    def __init__(self, center: np.ndarray, spread: float, *, window: int = WINDOW) -> None:
        if window < 1 or not spread > 0:
            raise ValueError(
                f"a shift meter needs window >= 1 and spread > 0, got {window}, {spread}"
            )
        self.center = np.asarray(center, dtype=np.float64)
        self.spread = float(spread)
        self.window = int(window)
        self.mean = np.zeros_like(self.center)
        self.seen = 0
        self._lock = threading.Lock()

    @classmethod
    def fit(cls, X: np.ndarray, *, window: int = WINDOW) -> ShiftMeter:
        """The reference of the prompts ``X`` (embeddings, one per row)."""
        U = unit_rows(X)
        center = U.mean(axis=0)
        spread = float(((U - center) ** 2).sum(axis=1).mean())
        return cls(center, max(spread, 1e-12), window=window)

    def observe(self, x: np.ndarray) -> float:
        """Take one prompt's embedding; the statistic with it included."""
        u = unit_rows(x)[0]
        with self._lock:
            self.seen += 1
            n = min(self.seen, self.window)
            self.mean += (u - self.mean) / n
            d = self.mean - self.center
            return n * float(d @ d) / self.spread

    def observe_all(self, X: np.ndarray) -> np.ndarray:
        """:meth:`observe` for each row of ``X`` in turn (the same arithmetic, in one call)."""
        U = unit_rows(X)
        out = np.empty(U.shape[0])
        with self._lock:
            mean, center, spread = self.mean, self.center, self.spread
            for i, u in enumerate(U):
                self.seen += 1
                n = min(self.seen, self.window)
                mean += (u - mean) / n
                d = mean - center
                out[i] = n * float(d @ d) / spread
        return out

    # -- state ---------------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        with self._lock:
            return {
                "center": self.center.tolist(),
                "spread": self.spread,
                "window": self.window,
                "mean": self.mean.tolist(),
                "seen": self.seen,
            }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ShiftMeter:
        meter = cls(np.asarray(state["center"]), state["spread"], window=state["window"])
        meter.mean = np.asarray(state["mean"], dtype=np.float64)
        meter.seen = int(state["seen"])
        return meter
