"""Cells fitted on the traffic itself: an online k-means over the embeddings of prompts served.

A leaf map fitted before deployment (:func:`agent.warm_start.fit_leaf_map`) cuts the space the
fit prompts filled. When traffic comes from tasks those prompts never covered (a shift), most
of it falls in a few cells that mix tasks, and feedback on them cannot separate the tasks.
Cells fitted on the traffic's own prompts, unlabelled but visible, follow the new tasks, and
feedback learnt per cell (the policies' leaf level) then routes by task.

The map is sequential and causal: a prompt's cell depends only on the prompts before it, so a
replay is exact and the state (centroids and counts, plain lists) persists as JSON.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class TrafficCells:
    """MacQueen's online k-means with ``n`` cells on unit-normalised embeddings.

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
        self.centroids = np.zeros((0, 0))
        self.counts = np.zeros(0)

    @property
    def opened(self) -> int:
        """How many cells have a prompt so far (at most ``n``)."""
        return int(self.counts.size)

    def assign(self, x: np.ndarray) -> int:
        """The cell ``x`` belongs to now, without learning from it (-1 before any prompt)."""
        if not self.opened:
            return -1
        return int(np.argmax(self.centroids @ _unit(x)))

    def observe(self, x: np.ndarray) -> int:
        """Assign ``x`` to a cell (opening one while fewer than ``n`` are open), move that
        cell's centroid toward it, and return the cell."""
        u = _unit(x)
        if self.opened < self.n:
            if not self.opened:
                self.centroids = np.zeros((0, u.size))
            self.centroids = np.vstack([self.centroids, u])
            self.counts = np.append(self.counts, 1.0)
            return self.opened - 1
        j = int(np.argmax(self.centroids @ u))
        self.counts[j] += 1.0
        self.centroids[j] += (u - self.centroids[j]) / self.counts[j]
        return j

    def to_state(self) -> dict[str, Any]:
        return {"n": self.n, "centroids": self.centroids.tolist(), "counts": self.counts.tolist()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TrafficCells:
        cells = cls(int(state["n"]))
        cells.counts = np.asarray(state["counts"], dtype=np.float64)
        cents = np.asarray(state["centroids"], dtype=np.float64)
        cells.centroids = cents.reshape(cells.counts.size, -1) if cells.counts.size else cents
        return cells


def _unit(x: np.ndarray) -> np.ndarray:
    v = np.asarray(x, dtype=np.float64).ravel()
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v
