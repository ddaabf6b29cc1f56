"""Replays whose leaf cells are fitted on the traffic as it streams (:mod:`agent.traffic_cells`).

With ``gate`` set, the cells are used only while the traffic looks shifted: while the mean,
over the last ``WINDOW`` prompts, of each prompt's cosine to its nearest cluster centroid is
below ``gate`` times the fit prompts' own mean (traffic unlike what the clusters were fitted
on). Otherwise a prompt keeps the clusters alone (leaf -1); the map observes every prompt
either way, so it is ready when the gate opens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from agent.traffic_cells import TrafficCells
from simulator.protocol import Setup

#: Prompts over which the gate averages the traffic's similarity to the clusters.
WINDOW = 50


def nearest_similarity(setup: Setup, embeddings: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Each row's cosine to its nearest cluster centroid (the mean of its fit prompts)."""
    fit = setup.fit_idx
    centroids = np.zeros((setup.k, embeddings.shape[1]))
    np.add.at(centroids, setup.clusters[fit], embeddings[fit])
    centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
    x = embeddings[rows]
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return (x @ centroids.T).max(axis=1)


def traffic_stream_cells(
    setup: Setup, embeddings: np.ndarray, steps: int, n: int, gate: float | None = None
) -> np.ndarray:
    """The cell of each step of the replay stream of ``steps`` requests (the stream every
    engine draws, :meth:`Setup.stream` seeded ``[seed, 7]``), each assigned before the map
    moves on to the next prompt; -1 where the ``gate`` is closed."""
    cells = TrafficCells(n)
    prompts = setup.stream(steps, np.random.default_rng([setup.seed, 7]))
    out = np.array([cells.observe(embeddings[p]) for p in prompts], dtype=np.int64)
    if gate is None:
        return out
    if gate <= 0:
        raise ValueError(f"gate must be > 0, got {gate}")
    bar = gate * float(nearest_similarity(setup, embeddings, setup.fit_idx).mean())
    sim = np.cumsum(nearest_similarity(setup, embeddings, prompts))
    recent = (sim - np.concatenate([np.zeros(WINDOW), sim[:-WINDOW]])[: sim.size]) / np.minimum(
        np.arange(1, sim.size + 1), WINDOW
    )
    return np.where(recent < bar, out, -1)


def with_traffic_cells(
    setups_: Sequence[Setup],
    embeddings: np.ndarray,
    steps: int,
    n: int,
    gate: float | None = None,
) -> list[Setup]:
    """Each setup with its leaf level replaced by ``n`` cells fitted online on its stream
    (used only while the ``gate`` is open).

    Fresh streams only: a prompt is then asked once, so its cell at that step is its leaf.
    On a stream that repeats prompts a prompt's cell would change as the map moves.
    """
    out = []
    for setup in setups_:
        if not setup.fresh:
            raise ValueError("traffic cells need a fresh stream (each prompt asked once)")
        prompts = setup.stream(steps, np.random.default_rng([setup.seed, 7]))
        leaves = np.full(setup.log.n_prompts, -1, dtype=np.int64)
        leaves[prompts] = traffic_stream_cells(setup, embeddings, steps, n, gate)
        out.append(replace(setup, leaves=leaves, n_leaves=n))
    return out
