"""Cells fitted on the traffic itself: an online k-means over the embeddings of prompts served.

A leaf map fitted before deployment (:func:`agent.warm_start.fit_leaf_map`) cuts the space the
fit prompts filled. When traffic comes from tasks those prompts never covered (a shift), most
of it falls in a few cells that mix tasks, and feedback on them cannot separate the tasks.
Cells fitted on the traffic's own prompts, unlabelled but visible, follow the new tasks, and
feedback learnt per cell (the policies' leaf level) then routes by task.

The map is sequential and causal: a prompt's cell depends only on the prompts before it, so a
replay is exact and the state (centroids and counts, plain lists) persists as JSON.

:class:`TrafficLeaves` is what a :class:`~agent.router.Router` runs: the map, observing every
prompt, and a :class:`ShiftGate` that lets a prompt's cell reach the policy only while the
traffic looks shifted. On traffic like the fit prompts the gate stays shut and the router
learns on its clusters alone, where cells finer than the clusters cost more than they repay.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

import numpy as np

from agent.clusters import ClusterMap, nearest_similarity

#: Cells the default router fits on its traffic, and how much each borrows from its cluster.
DEFAULT_CELLS, DEFAULT_LEAF_STRENGTH = 32, 5.0
#: A cluster that gets feedback on a prompt in a cell (the gate was open: the prompt is unlike
#: the fit prompts) has its prior capped at this many pseudo-observations per model, as a drift
#: alarm caps it (:class:`policies.drift.DriftGuard`'s ``prior_strength``).
DEFAULT_STALE_STRENGTH = 2.0
#: The gate opens while recent prompts' similarity to the clusters is below this share of the
#: fit prompts' own, averaged over the last ``WINDOW`` prompts.
DEFAULT_GATE, WINDOW = 0.6, 50


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
        self.opened = 0  #: how many cells have a prompt so far (at most ``n``)
        self._centroids = np.zeros((0, 0))
        self._counts = np.zeros(self.n)

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
        return int(np.argmax(self.centroids @ _unit(x)))

    def observe(self, x: np.ndarray) -> int:
        """Assign ``x`` to a cell (opening one while fewer than ``n`` are open), move that
        cell's centroid toward it, and return the cell."""
        return int(self.observe_units(_unit(x)[None, :])[0])

    def observe_units(
        self, units: np.ndarray, order: np.ndarray | None = None, assign: Any = None
    ) -> np.ndarray:
        """:meth:`observe` for rows of ``units`` (unit vectors) in turn: all of them, or those
        ``order`` lists; ``assign`` is :func:`assign_stream` or its compiled twin."""
        units = np.ascontiguousarray(units, dtype=np.float64)
        order = np.arange(units.shape[0]) if order is None else np.asarray(order, np.int64)
        if not self._centroids.size:
            self._centroids = np.zeros((self.n, units.shape[1]))
        out = np.empty(order.size, dtype=np.int64)
        step = assign or assign_stream
        self.opened = int(step(units, order, self._centroids, self._counts, self.opened, out))
        return out

    def to_state(self) -> dict[str, Any]:
        return {"n": self.n, "centroids": self.centroids.tolist(), "counts": self.counts.tolist()}

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


def assign_stream(
    units: np.ndarray,
    order: np.ndarray,
    centroids: np.ndarray,
    counts: np.ndarray,
    opened: int,
    out: np.ndarray,
) -> int:
    """The online k-means step for rows ``units[order[0]], units[order[1]], ...`` in turn, in
    place on ``centroids`` (``(n, d)``, the first ``opened`` rows in use) and ``counts``; each
    step's cell goes to ``out``. Returns the cells opened. Plain numpy, so numba compiles this
    very function for the simulator (:mod:`simulator.compiled`)."""
    n = centroids.shape[0]
    for i in range(order.shape[0]):
        u = units[order[i]]
        if opened < n:
            centroids[opened] = u
            counts[opened] = 1.0
            out[i] = opened
            opened += 1
        else:
            j = np.argmax(centroids @ u)
            counts[j] += 1.0
            centroids[j] += (u - centroids[j]) / counts[j]
            out[i] = j
    return opened


def _unit(x: np.ndarray) -> np.ndarray:
    v = np.asarray(x, dtype=np.float64).ravel()
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v


def leaf_params(n: int) -> dict[str, Any]:
    """The policy settings that learn on ``n`` traffic cells: a leaf reaches the policy only
    while the shift gate is open, so it also marks its cluster's profile as stale there (a
    leaf map fitted before deployment gives every prompt a leaf: no stale cap with one).

    >>> leaf_params(32)
    {'n_leaves': 32, 'leaf_strength': 5.0, 'stale_strength': 2.0}
    """
    return {
        "n_leaves": int(n),
        "leaf_strength": DEFAULT_LEAF_STRENGTH,
        "stale_strength": DEFAULT_STALE_STRENGTH,
    }


def foreign_leaf(cells: TrafficLeaves | None, leaf: int) -> tuple[int, bool]:
    """The leaf to learn a stored feedback row on when this process did not just decide it,
    and whether the row marks its cluster's profile stale.

    With a shared leaf map: the row's own leaf, never stale. With traffic cells, which each
    process fits on its own traffic, another replica's cell ids mean nothing here, so -1 (the
    clusters only); but a row decided in a cell was decided with that process's shift gate
    open, so it marks the cluster stale here too (``BetaPosterior.mark_stale``), and replicas
    and rebuilds cap the same priors.

    >>> foreign_leaf(None, 3)
    (3, False)
    """
    return (-1, leaf >= 0) if cells is not None else (leaf, False)


class ShiftGate:
    """Open while the mean, over the last ``window`` prompts, of each prompt's cosine to its
    most similar cluster centroid is below ``gate`` × ``reference`` (the fit prompts' own mean,
    :attr:`ClusterMap.similarity_`). A NaN reference (a map saved before it was kept) keeps
    the gate shut.

    >>> g = ShiftGate(0.8, gate=0.5, window=2)
    >>> [g.observe(s) for s in (0.9, 0.1, 0.1, 0.9)]
    [False, False, True, False]
    """

    def __init__(self, reference: float, *, gate: float = DEFAULT_GATE, window: int = WINDOW):
        if not gate > 0 or window < 1:
            raise ValueError(f"a shift gate needs gate > 0 and window >= 1, got {gate}, {window}")
        self.reference, self.gate, self.window = float(reference), float(gate), int(window)
        self.recent: deque[float] = deque()
        self._sum = 0.0

    def observe(self, similarity: float) -> bool:
        """Take one prompt's similarity; say whether the gate is open for it."""
        self.recent.append(float(similarity))
        self._sum += self.recent[-1]
        if len(self.recent) > self.window:
            self._sum -= self.recent.popleft()
        return self._sum < self.gate * self.reference * len(self.recent)

    def observe_all(self, similarities: list[float]) -> np.ndarray:
        """:meth:`observe` for each similarity in turn."""
        return np.array([self.observe(s) for s in similarities], dtype=bool)


class TrafficLeaves:
    """A router's leaf cells fitted on its traffic (:class:`TrafficCells`), used while the
    :class:`ShiftGate` is open. Thread-safe: :meth:`leaf` is called outside the router's lock.

    >>> cmap = ClusterMap(k=1, seed=0).fit(np.array([[1.0, 0.0], [1.0, 0.1]]))
    >>> leaves = TrafficLeaves.for_map(cmap, 2, window=1)
    >>> [leaves.leaf(np.array(v)) for v in ([1.0, 0.0], [0.0, 1.0], [0.1, 1.0])]
    [-1, 1, 1]
    """

    def __init__(self, cells: TrafficCells, gate: ShiftGate, centroids: np.ndarray) -> None:
        self.cells, self.gate = cells, gate
        self._centroids = np.asarray(centroids, dtype=np.float64)
        self._lock = threading.Lock()
        #: :func:`assign_stream`, or its compiled twin (:func:`simulator.traffic` sets it).
        self.assign: Any = assign_stream

    @classmethod
    def for_map(
        cls, cmap: ClusterMap, n: int, *, gate: float = DEFAULT_GATE, window: int = WINDOW
    ) -> TrafficLeaves:
        """``n`` fresh cells, gated against ``cmap``'s clusters and fit prompts."""
        shift = ShiftGate(cmap.similarity_, gate=gate, window=window)
        return cls(TrafficCells(n), shift, cmap.centroids)

    @property
    def n(self) -> int:
        return self.cells.n

    def leaf(self, vec: np.ndarray) -> int:
        """Observe one prompt's embedding; its cell while the gate is open, else -1."""
        return int(self.leaves(np.atleast_2d(vec))[0])

    def leaves(
        self, X: np.ndarray, order: np.ndarray | None = None, *, last: bool = False
    ) -> np.ndarray:
        """:meth:`leaf` for each row of ``X`` in turn, or for rows ``X[order[0]], ...`` (a
        replay's whole stream at once, each prompt's row given once). ``last``: no prompt
        follows these, so where the gate stays shut throughout, the map is not fitted at all
        (the leaves are the same; the map is then left behind)."""
        X = np.asarray(X, dtype=np.float64)
        order = np.arange(X.shape[0]) if order is None else np.asarray(order, np.int64)
        sims = nearest_similarity(X, self._centroids)[order]
        with self._lock:  # the map and the gate follow the same prompts, each on its own
            open_ = self.gate.observe_all(sims.tolist())
            if last and not open_.any():
                return np.full(order.size, -1, dtype=np.int64)
            units = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
            cells = self.cells.observe_units(units, order, self.assign)
        return np.where(open_, cells, -1)

    def to_state(self) -> dict[str, Any]:
        with self._lock:
            g = self.gate
            return {
                "cells": self.cells.to_state(),
                "gate": {
                    "reference": g.reference if np.isfinite(g.reference) else None,
                    "gate": g.gate,
                    "window": g.window,
                },
                "recent": list(g.recent),
            }

    @classmethod
    def from_state(cls, state: dict[str, Any], cmap: ClusterMap) -> TrafficLeaves:
        """The leaves :meth:`to_state` described, gated against ``cmap``'s clusters."""
        g = state["gate"]
        ref = float("nan") if g["reference"] is None else float(g["reference"])
        gate = ShiftGate(ref, gate=float(g["gate"]), window=int(g["window"]))
        for v in state["recent"]:
            gate.observe(float(v))
        return cls(TrafficCells.from_state(state["cells"]), gate, cmap.centroids)
