"""Replays whose leaf cells are fitted on the traffic as it streams (:mod:`agent.traffic_cells`).

Each step's leaf is what a :class:`~agent.router.Router` with the same cells would give that
request: the map observes every prompt in stream order, and the cell reaches the policy only
while the shift gate is open. A repeated prompt may land in another cell later, as the map
moves, exactly as it would in the Router.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from agent.traffic_cells import DEFAULT_GATE, TrafficLeaves
from simulator import compiled
from simulator.protocol import Setup


def traffic_step_leaves(setup: Setup, steps: int, n: int, gate: float = DEFAULT_GATE) -> np.ndarray:
    """The leaf of each step of the replay stream of ``steps`` requests (the stream every
    engine draws, :meth:`Setup.stream` seeded ``[seed, 7]``): its cell among ``n`` fitted
    online, each assigned before the map moves on, or -1 while the ``gate`` is shut."""
    cmap, emb = setup.cluster_map, setup.embeddings
    if cmap is None or emb is None:
        raise ValueError("traffic cells need a setup from simulator.protocol.prepare")
    key = (n, steps, gate)
    if key in setup.memo:
        return setup.memo[key]
    prompts = setup.stream(steps, np.random.default_rng([setup.seed, 7]))
    leaves = TrafficLeaves.for_map(cmap, n, gate=gate)
    leaves.assign = compiled.assign_stream  # the same function, compiled
    out = setup.memo[key] = leaves.leaves(emb, prompts, last=True)
    return out


def with_traffic_cells(setup: Setup, steps: int, n: int, gate: float = DEFAULT_GATE) -> Setup:
    """``setup`` with its leaves replaced by ``n`` cells fitted online on its stream of
    ``steps`` requests (:func:`traffic_step_leaves`); unchanged for ``n = 0``."""
    if n <= 0:
        return setup
    return replace(setup, step_leaves=traffic_step_leaves(setup, steps, n, gate), n_leaves=n)
