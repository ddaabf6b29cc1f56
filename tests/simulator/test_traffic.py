"""Replays on leaf cells fitted online on the stream (simulator.traffic)."""

from __future__ import annotations

import numpy as np
import pytest

from agent.logs import ReplayLog
from agent.traffic_cells import TrafficCells
from simulator import Experiment, Splits, setups
from simulator.experiment import fit_steps, run_seeds
from simulator.traffic import traffic_stream_cells, with_traffic_cells

SPLITS = Splits(fit=0.3, validation=0.1, pool=0.6)


def fresh(log: ReplayLog, emb: np.ndarray) -> tuple[Experiment, list]:
    exp = Experiment(steps=10**9, seeds=2, splits=SPLITS, fresh=True, clusters=4)
    prepared = setups(log, emb, exp)
    return fit_steps(exp, prepared), prepared


def test_each_streamed_prompt_gets_the_cell_the_online_map_gave_it(
    small_log: ReplayLog, small_embeddings: np.ndarray
) -> None:
    exp, prepared = fresh(small_log, small_embeddings)
    [setup] = with_traffic_cells(prepared[:1], small_embeddings, exp.steps, 8)
    prompts = setup.stream(exp.steps, np.random.default_rng([setup.seed, 7]))
    cells = TrafficCells(8)
    expect = [cells.observe(small_embeddings[p]) for p in prompts]
    assert setup.leaves[prompts].tolist() == expect
    assert setup.n_leaves == 8
    assert traffic_stream_cells(prepared[0], small_embeddings, exp.steps, 8).tolist() == expect
    unseen = np.setdiff1d(np.arange(small_log.n_prompts), prompts)
    assert (setup.leaves[unseen] == -1).all()


def test_a_replay_on_traffic_cells_is_exact_and_learns_per_cell(
    small_log: ReplayLog, small_embeddings: np.ndarray
) -> None:
    exp, prepared = fresh(small_log, small_embeddings)
    online = with_traffic_cells(prepared, small_embeddings, exp.steps, 8)
    a = run_seeds(online, exp, "default")
    b = run_seeds(online, exp, "default")
    plain = run_seeds(prepared, exp, "default")
    assert all(np.array_equal(x.chosen, y.chosen) for x, y in zip(a, b, strict=True))
    assert any(not np.array_equal(x.chosen, y.chosen) for x, y in zip(a, plain, strict=True))


def test_a_stream_that_repeats_prompts_is_refused(
    small_log: ReplayLog, small_embeddings: np.ndarray
) -> None:
    exp = Experiment(steps=100, seeds=1, splits=SPLITS, clusters=4)
    with pytest.raises(ValueError, match="fresh stream"):
        with_traffic_cells(setups(small_log, small_embeddings, exp), small_embeddings, 100, 8)


def test_the_gate_keeps_in_domain_traffic_on_the_clusters(
    small_log: ReplayLog, small_embeddings: np.ndarray
) -> None:
    exp, prepared = fresh(small_log, small_embeddings)
    setup = prepared[0]
    ungated = traffic_stream_cells(setup, small_embeddings, exp.steps, 8)
    assert (traffic_stream_cells(setup, small_embeddings, exp.steps, 8, gate=0.01) == -1).all()
    wide = traffic_stream_cells(setup, small_embeddings, exp.steps, 8, gate=100.0)
    assert wide.tolist() == ungated.tolist()
    with pytest.raises(ValueError, match="gate must be > 0"):
        traffic_stream_cells(setup, small_embeddings, exp.steps, 8, gate=0.0)


def test_the_gate_opens_when_the_traffic_leaves_the_clusters(
    small_log: ReplayLog, small_embeddings: np.ndarray
) -> None:
    exp, prepared = fresh(small_log, small_embeddings)
    setup = prepared[0]
    prompts = setup.stream(exp.steps, np.random.default_rng([setup.seed, 7]))
    moved = small_embeddings.copy()
    rng = np.random.default_rng(0)
    later = prompts[100:]
    moved[later] = rng.normal(size=(later.size, moved.shape[1]))  # unlike any fit prompt
    cells = traffic_stream_cells(setup, moved, exp.steps, 8, gate=0.5)
    assert (cells[:100] == -1).all()
    assert (cells[200:] >= 0).all()
