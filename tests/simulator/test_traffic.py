"""Replays on leaf cells fitted online on the stream (simulator.traffic), as the Router's."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from agent.logs import ReplayLog
from agent.traffic_cells import TrafficCells, TrafficLeaves, leaf_params
from policies import make_policy
from simulator import Experiment, Splits, prepare, replay, setups
from simulator.experiment import fit_steps, policy_setup, run_seeds
from simulator.fast import replay_fast
from simulator.protocol import Setup
from simulator.traffic import traffic_step_leaves, with_traffic_cells

SPLITS = Splits(fit=0.3, validation=0.1, pool=0.6)
OPEN = 100.0  # a gate this wide is always open


def fresh(log: ReplayLog, emb: np.ndarray) -> tuple[Experiment, list[Setup]]:
    exp = Experiment(steps=10**9, seeds=2, splits=SPLITS, fresh=True, clusters=4)
    prepared = setups(log, emb, exp)
    return fit_steps(exp, prepared), prepared


def stream(setup: Setup, steps: int) -> np.ndarray:
    return setup.stream(steps, np.random.default_rng([setup.seed, 7]))


def test_each_step_gets_the_cell_the_online_map_gave_it(
    small_log: ReplayLog, small_embeddings: np.ndarray
) -> None:
    exp, prepared = fresh(small_log, small_embeddings)
    setup = with_traffic_cells(prepared[0], exp.steps, 8, gate=OPEN)
    cells = TrafficCells(8)
    expect = [cells.observe(small_embeddings[p]) for p in stream(setup, exp.steps)]
    assert setup.step_leaves is not None and setup.step_leaves.tolist() == expect
    assert setup.n_leaves == 8
    # the same leaves a Router's TrafficLeaves gives the same prompts in the same order
    assert prepared[0].cluster_map is not None
    router_cells = TrafficLeaves.for_map(prepared[0].cluster_map, 8)
    got = [router_cells.leaf(small_embeddings[p]) for p in stream(setup, exp.steps)]
    assert got == traffic_step_leaves(prepared[0], exp.steps, 8).tolist()


def test_default_replays_on_traffic_cells_unless_turned_off(
    small_log: ReplayLog, small_embeddings: np.ndarray
) -> None:
    exp, prepared = fresh(small_log, small_embeddings)
    assert exp.traffic_cells == 32
    on = policy_setup(prepared[0], exp, "default")
    assert on.step_leaves is not None and on.n_leaves == 32
    assert policy_setup(prepared[0], exp, "greedy") is prepared[0]
    assert policy_setup(prepared[0], replace(exp, traffic_cells=0), "default") is prepared[0]
    leafy = prepare(small_log, small_embeddings, k=4, seed=0, n_leaves=8)
    assert policy_setup(leafy, exp, "default") is leafy  # fitted leaves win


def test_a_replay_on_traffic_cells_is_exact_and_learns_per_cell(
    small_log: ReplayLog, small_embeddings: np.ndarray
) -> None:
    exp, prepared = fresh(small_log, small_embeddings)
    opened = [with_traffic_cells(s, exp.steps, 8, gate=OPEN) for s in prepared]
    a = run_seeds(opened, exp, "default")
    b = run_seeds(opened, exp, "default")
    plain = run_seeds(prepared, replace(exp, traffic_cells=0), "default")
    assert all(np.array_equal(x.chosen, y.chosen) for x, y in zip(a, b, strict=True))
    assert any(not np.array_equal(x.chosen, y.chosen) for x, y in zip(a, plain, strict=True))


def test_both_engines_replay_traffic_cells_alike_on_a_stream_that_repeats(
    small_log: ReplayLog, small_embeddings: np.ndarray
) -> None:
    base = prepare(small_log, small_embeddings, k=4, seed=0)
    setup = with_traffic_cells(base, 1500, 8, gate=OPEN)
    prompts = stream(setup, 1500)
    assert prompts.size > np.unique(prompts).size  # repeats
    assert setup.step_leaves is not None
    first = {}
    for p, leaf in zip(prompts.tolist(), setup.step_leaves.tolist(), strict=True):
        first.setdefault(p, set()).add(leaf)
    assert any(len(v) > 1 for v in first.values())  # a prompt's cell moves with the map
    params = {**leaf_params(8), "seed": 3}
    p_slow, p_fast = make_policy("greedy", **params), make_policy("greedy", **params)
    slow = replay(setup, p_slow, name="greedy", steps=1500)
    fast = replay_fast(setup, p_fast, name="greedy", steps=1500)
    assert np.array_equal(slow.chosen, fast.chosen)
    np.testing.assert_array_equal(p_slow.posterior.leaf_s, p_fast.posterior.leaf_s)
    assert p_slow.posterior.leaf_s.sum() > 0
    # feedback in a cell marks its cluster's profile stale: both engines cap the prior alike
    for post in (p_slow.posterior, p_fast.posterior):
        assert np.all(post.alpha0 + post.beta0 <= 2.0 + 1e-9)
    np.testing.assert_array_equal(p_slow.posterior.alpha0, p_fast.posterior.alpha0)
    np.testing.assert_allclose(p_slow.posterior.alpha, p_fast.posterior.alpha, rtol=0, atol=1e-9)


def test_the_gate_keeps_in_domain_traffic_on_the_clusters(
    small_log: ReplayLog, small_embeddings: np.ndarray
) -> None:
    exp, prepared = fresh(small_log, small_embeddings)
    setup = prepared[0]
    assert (traffic_step_leaves(setup, exp.steps, 8, gate=0.01) == -1).all()
    with pytest.raises(ValueError, match="gate > 0"):
        traffic_step_leaves(setup, exp.steps, 8, gate=0.0)


def test_the_gate_opens_when_the_traffic_leaves_the_clusters(
    small_log: ReplayLog, small_embeddings: np.ndarray
) -> None:
    exp, prepared = fresh(small_log, small_embeddings)
    prompts = stream(prepared[0], exp.steps)
    moved = small_embeddings.copy()
    later = prompts[100:]
    rng = np.random.default_rng(0)
    moved[later] = rng.normal(size=(later.size, moved.shape[1]))  # unlike any fit prompt
    cells = traffic_step_leaves(replace(prepared[0], embeddings=moved), exp.steps, 8, gate=0.5)
    assert (cells[:100] == -1).all()
    assert (cells[200:] >= 0).all()


def test_the_compiled_fit_is_the_routers_own_step_for_step(
    small_log: ReplayLog, small_embeddings: np.ndarray
) -> None:
    setup = prepare(small_log, small_embeddings, k=4, seed=1)
    assert setup.cluster_map is not None
    prompts = stream(setup, 1200)  # repeats prompts
    router_cells = TrafficLeaves.for_map(setup.cluster_map, 8, gate=OPEN)
    one_by_one = [router_cells.leaf(small_embeddings[p]) for p in prompts]
    assert traffic_step_leaves(setup, 1200, 8, gate=OPEN).tolist() == one_by_one
    batch = TrafficLeaves.for_map(setup.cluster_map, 8, gate=OPEN)
    batch.leaves(small_embeddings, prompts)
    a, b = batch.to_state(), router_cells.to_state()
    assert a["cells"] == b["cells"]  # bit for bit
    # a batch's cosines may differ from a row's in the last bit (BLAS); the gate's window too
    np.testing.assert_allclose(a["recent"], b["recent"], rtol=0, atol=1e-12)


def test_a_stream_the_gate_never_opens_on_skips_the_fit_with_the_same_leaves(
    small_log: ReplayLog, small_embeddings: np.ndarray
) -> None:
    setup = prepare(small_log, small_embeddings, k=4, seed=1)
    assert setup.cluster_map is not None
    shut = TrafficLeaves.for_map(setup.cluster_map, 8, gate=0.01)
    out = shut.leaves(small_embeddings, stream(setup, 500), last=True)
    assert (out == -1).all() and shut.cells.opened == 0  # not fitted
    fitted = TrafficLeaves.for_map(setup.cluster_map, 8, gate=0.01)
    assert fitted.leaves(small_embeddings, stream(setup, 500)).tolist() == out.tolist()
    assert fitted.cells.opened == 8
