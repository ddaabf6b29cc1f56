"""The online k-means over the traffic: causal, exact to replay, persisted as plain data."""

from __future__ import annotations

import json

import numpy as np
import pytest

from agent.traffic_cells import TrafficCells


def blobs(seed: int = 0, n: int = 60) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = np.eye(3) * 5.0
    return np.vstack([rng.normal(centres[i % 3], 0.3) for i in range(n)])


def test_the_cells_follow_separated_tasks() -> None:
    cells = TrafficCells(3)
    got = [cells.observe(x) for x in blobs()]
    # after the first three prompts open a cell each, every prompt joins its own blob's cell
    assert all(got[i] == got[i % 3] for i in range(len(got)))
    assert sorted(set(got)) == [0, 1, 2]
    assert cells.counts.tolist() == [20.0, 20.0, 20.0]


def test_a_prompt_is_assigned_before_it_moves_the_map() -> None:
    xs = blobs(1)
    cells = TrafficCells(4)
    for x in xs[:30]:
        cells.observe(x)
    before = cells.centroids.copy()
    expect = cells.assign(xs[30])
    assert cells.observe(xs[30]) == expect
    assert not np.array_equal(before, cells.centroids)
    assert np.array_equal(cells.centroids[np.arange(4) != expect], before[np.arange(4) != expect])


def test_state_round_trips_through_json_and_resumes_exactly() -> None:
    xs = blobs(2, 80)
    whole = TrafficCells(5)
    first = [whole.observe(x) for x in xs]
    half = TrafficCells(5)
    for x in xs[:40]:
        half.observe(x)
    resumed = TrafficCells.from_state(json.loads(json.dumps(half.to_state())))
    assert [resumed.observe(x) for x in xs[40:]] == first[40:]
    assert np.array_equal(resumed.centroids, whole.centroids)


def test_an_empty_map_assigns_nothing_and_bad_sizes_are_refused() -> None:
    cells = TrafficCells(2)
    assert cells.assign(np.ones(3)) == -1
    assert TrafficCells.from_state(cells.to_state()).opened == 0
    with pytest.raises(ValueError, match="n >= 1"):
        TrafficCells(0)
