"""The replay engine: what the policy sees, scenario events, fresh streams, the contexts it
builds (shift statistic)."""

from __future__ import annotations

import numpy as np
import pytest

from agent.logs import ReplayLog
from policies import make_policy
from simulator import Arrival, Drift, FeedbackChannel, PriceChange, prepare, replay
from simulator.metrics import regret_curves, summary, traffic_share
from simulator.scenario import ScenarioError
from simulator.sequential import stream_contexts


@pytest.fixture(scope="module")
def setup(small_log: ReplayLog, small_embeddings: np.ndarray):  # type: ignore[no-untyped-def]
    return prepare(small_log, small_embeddings, k=6, seed=0)


def test_splits_are_disjoint_and_cover_the_log(setup) -> None:  # type: ignore[no-untyped-def]
    parts = [setup.fit_idx, setup.val_idx, setup.pool_idx]
    joined = np.concatenate(parts)
    assert np.unique(joined).size == joined.size == setup.log.n_prompts
    assert [p.size for p in parts] == [480, 80, 240]


def test_replay_is_seeded_and_counts_feedback(setup) -> None:  # type: ignore[no-untyped-def]
    channel = FeedbackChannel(rate=0.3)
    a = replay(setup, make_policy("thompson", seed=1), name="t", steps=2000, channel=channel)
    b = replay(setup, make_policy("thompson", seed=1), name="t", steps=2000, channel=channel)
    assert np.array_equal(a.chosen, b.chosen)
    assert 450 < a.feedback < 750
    static = replay(setup, make_policy("static"), name="s", steps=2000)
    assert static.feedback == 2000  # it is offered feedback; it just learns nothing from it


def test_delayed_feedback_all_arrives_before_the_end(setup) -> None:  # type: ignore[no-untyped-def]
    channel = FeedbackChannel(delay=50, random_delay=True)
    trace = replay(setup, make_policy("greedy"), name="g", steps=1000, channel=channel)
    assert 900 < trace.feedback < 1000  # feedback due after the last step never arrives


def test_regret_definitions_on_a_hand_made_trace(setup) -> None:  # type: ignore[no-untyped-def]
    trace = replay(setup, make_policy("random", seed=0), name="r", steps=500)
    u = trace.utility()
    got = u[np.arange(500), trace.chosen]
    curves = regret_curves(trace, setup.k)
    assert curves["prompt_oracle"][-1] == pytest.approx((u.max(axis=1) - got).sum())
    assert curves["best_fixed"][-1] == pytest.approx(u.sum(axis=0).max() - got.sum())
    assert curves["prompt_oracle"][-1] >= curves["cluster_oracle"][-1] >= curves["best_fixed"][-1]
    s = summary(trace, setup.k)
    assert s["mean_utility"] == pytest.approx(got.mean())
    share = traffic_share(trace, bins=5)
    assert share.shape == (5, len(trace.models)) and np.allclose(share.sum(axis=1), 1.0)


def test_learning_beats_static_and_random(setup) -> None:  # type: ignore[no-untyped-def]
    regret = {}
    for name in ("static", "default", "random"):
        trace = replay(setup, make_policy(name, seed=0), name=name, steps=4000)
        regret[name] = regret_curves(trace, setup.k)["cluster_oracle"][-1]
    assert regret["default"] < regret["static"] < regret["random"]


def test_arrival_onboards_the_model_at_its_step(setup) -> None:  # type: ignore[no-untyped-def]
    log = setup.log
    best = log.models[int(np.argmax(log.accuracy))]
    j = log.models.index(best)
    trace = replay(setup, make_policy("greedy"), name="g", steps=3000, events=[Arrival(best, 1000)])
    assert not np.any(trace.chosen[:1000] == j)
    assert np.mean(trace.chosen[1000:] == j) > 0.05


def test_drift_rewrites_outcomes_and_price_change_reprices(setup) -> None:  # type: ignore[no-untyped-def]
    log = setup.log
    best = log.models[int(np.argmax(log.accuracy))]
    worst = log.models[int(np.argmin(log.accuracy))]
    j, w = log.models.index(best), log.models.index(worst)
    events = [Drift(best, 500), PriceChange(worst, 200, 1.0)]
    trace = replay(setup, make_policy("greedy"), name="g", steps=1000, events=events)
    assert np.array_equal(trace.outcomes[500:, j], trace.outcomes[500:, w])
    assert np.all(trace.costs[200:, w] == 1.0) and not np.any(trace.chosen[200:] == w)
    with pytest.raises(ScenarioError, match="unknown model"):
        replay(setup, make_policy("greedy"), name="g", steps=10, events=[Drift("nope", 1)])
    with pytest.raises(ScenarioError, match="outside"):
        replay(setup, make_policy("greedy"), name="g", steps=10, events=[Drift(best, 10)])


def test_a_fresh_stream_shows_each_pool_prompt_once(setup) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    fresh = replace(setup, fresh=True)
    rows = fresh.stream(10_000, np.random.default_rng(0))
    assert np.array_equal(np.sort(rows), np.sort(setup.pool_idx))
    assert fresh.stream(5, np.random.default_rng(0)).size == 5
    trace = replay(fresh, make_policy("thompson", seed=0), name="t", steps=10_000)
    assert trace.steps == setup.pool_idx.size


def test_the_stream_contexts_carry_the_shift(setup) -> None:  # type: ignore[no-untyped-def]
    """Each step's context has the stream's shift statistic so far (about 1: the pool is drawn
    like the fit prompts)."""
    stream = setup.stream(300, np.random.default_rng([setup.seed, 7]))
    plain = stream_contexts(setup, stream)
    assert 0.0 < np.median([c.shift for c in plain[50:]]) < 4.0


def test_a_budget_is_paced(setup) -> None:  # type: ignore[no-untyped-def]
    target = float(setup.log.mean_cost.mean())
    trace = replay(setup, make_policy("thompson", seed=1), name="t", steps=8000, budget=target)
    spent = trace.costs[np.arange(trace.steps), trace.chosen][1000:].mean()
    assert spent == pytest.approx(target, rel=0.03)
