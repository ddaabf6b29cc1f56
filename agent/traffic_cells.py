"""Cells fitted on the traffic itself: an online k-means over the embeddings of prompts served.

The clusters cut the space the fit prompts filled. When traffic comes from tasks those prompts
never covered (a shift), most of it falls in a few clusters that mix tasks, and feedback on
them cannot separate the tasks. Cells fitted on the traffic's own prompts, unlabelled but
visible, follow the new tasks; ``default`` learns a correction per traffic cell
(:mod:`policies.corrections`), which stays near 0 where the cell teaches nothing new.

The map is sequential and causal: a prompt's cell depends only on the prompts before it, so a
replay is exact and the state (centroids and counts, plain lists) persists as JSON.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from agent.shift import unit_rows

#: Cells the default router fits on its traffic.
DEFAULT_CELLS = 32


class TrafficCells:
    """MacQueen's online k-means with ``n`` cells on unit-normalised embeddings. Thread-safe.

    The first ``n`` prompts each open a cell; every later prompt joins the cell whose centroid
    is nearest (largest cosine), and that centroid moves to the running mean of its prompts.

    >>> cells = TrafficCells(2)
    >>> [cells.observe(np.array(v, dtype=float)) for v in ([1, 0], [0, 1], [0.9, 0.1], [0, 2])]
    [0, 1, 0, 1]
    >>> cells.counts.tolist(), cells.assign(np.array([1.0, 0.2]))
    ([2.0, 2.0], 0)
    """

    def __init__(self, n: int) -> None:
        if n < 1:
            raise ValueError(f"traffic cells need n >= 1, got {n}")
        self.n = int(n)
        self.opened = 0  #: how many cells have a prompt so far (at most ``n``)
        self._centroids = np.zeros((0, 0))
        self._counts = np.zeros(self.n)
        self._lock = threading.Lock()

    @property
    def centroids(self) -> np.ndarray:
        return self._centroids[: self.opened]

    @property
    def counts(self) -> np.ndarray:
        return self._counts[: self.opened]

    def assign(self, x: np.ndarray) -> int:
        """The cell ``x`` belongs to now, without learning from it (-1 before any prompt)."""
        if not self.opened:
            return -1
        return int(np.argmax(self.centroids @ unit_rows(x)[0]))

    def observe(self, x: np.ndarray) -> int:
        """Assign ``x`` to a cell (opening one while fewer than ``n`` are open), move that
        cell's centroid toward it, and return the cell."""
        return int(self.observe_units(unit_rows(x))[0])

    def observe_units(self, units: np.ndarray, order: np.ndarray | None = None) -> np.ndarray:
        """:meth:`observe` for rows of ``units`` (unit vectors) in turn: all of them, or those
        ``order`` lists (a replay's whole stream at once, each prompt's row given once)."""
        units = np.asarray(units, dtype=np.float64)
        order = np.arange(units.shape[0]) if order is None else np.asarray(order, np.int64)
        out = np.empty(order.size, dtype=np.int64)
        with self._lock:
            if not self._centroids.size:
                self._centroids = np.zeros((self.n, units.shape[1]))
            for i, row in enumerate(order.tolist()):
                u = units[row]
                if self.opened < self.n:
                    j = self.opened
                    self._centroids[j] = u
                    self._counts[j] = 1.0
                    self.opened += 1
                else:
                    j = int(np.argmax(self._centroids @ u))
                    self._counts[j] += 1.0
                    self._centroids[j] += (u - self._centroids[j]) / self._counts[j]
                out[i] = j
        return out

    def to_state(self) -> dict[str, Any]:
        with self._lock:
            return {
                "n": self.n,
                "centroids": self.centroids.tolist(),
                "counts": self.counts.tolist(),
            }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TrafficCells:
        cells = cls(int(state["n"]))
        counts = np.asarray(state["counts"], dtype=np.float64)
        cells.opened = int(counts.size)
        cells._counts[: cells.opened] = counts
        if cells.opened:
            cents = np.asarray(state["centroids"], dtype=np.float64).reshape(cells.opened, -1)
            cells._centroids = np.zeros((cells.n, cents.shape[1]))
            cells._centroids[: cells.opened] = cents
        return cells
