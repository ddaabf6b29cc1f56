"""Replays whose leaf cells are fitted on the traffic as it streams (:mod:`agent.traffic_cells`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from agent.traffic_cells import TrafficCells
from simulator.protocol import Setup


def traffic_stream_cells(setup: Setup, embeddings: np.ndarray, steps: int, n: int) -> np.ndarray:
    """The cell of each step of the replay stream of ``steps`` requests (the stream every
    engine draws, :meth:`Setup.stream` seeded ``[seed, 7]``), each assigned before the map
    moves on to the next prompt."""
    cells = TrafficCells(n)
    prompts = setup.stream(steps, np.random.default_rng([setup.seed, 7]))
    return np.array([cells.observe(embeddings[p]) for p in prompts], dtype=np.int64)


def with_traffic_cells(
    setups_: Sequence[Setup], embeddings: np.ndarray, steps: int, n: int
) -> list[Setup]:
    """Each setup with its leaf level replaced by ``n`` cells fitted online on its stream.

    Fresh streams only: a prompt is then asked once, so its cell at that step is its leaf.
    On a stream that repeats prompts a prompt's cell would change as the map moves.
    """
    out = []
    for setup in setups_:
        if not setup.fresh:
            raise ValueError("traffic cells need a fresh stream (each prompt asked once)")
        prompts = setup.stream(steps, np.random.default_rng([setup.seed, 7]))
        leaves = np.full(setup.log.n_prompts, -1, dtype=np.int64)
        leaves[prompts] = traffic_stream_cells(setup, embeddings, steps, n)
        out.append(replace(setup, leaves=leaves, n_leaves=n))
    return out
