"""The replay engines: what the policy sees, scenario events, the compiled engine's own checks
(its equivalence with the Python engine is in test_engines.py)."""

from __future__ import annotations

import numpy as np
import pytest

from agent.logs import ReplayLog
from policies import make_policy
from simulator import Arrival, Drift, FeedbackChannel, PriceChange, prepare, replay
from simulator.fast import replay_fast
from simulator.metrics import regret_curves, summary, traffic_share
from simulator.scenario import ScenarioError


@pytest.fixture(scope="module")
def setup(small_log: ReplayLog, small_embeddings: np.ndarray):  # type: ignore[no-untyped-def]
    return prepare(small_log, small_embeddings, k=6, seed=0, n_leaves=32)


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
        trace = replay(setup, make_policy(name, seed=0, n_leaves=32), name=name, steps=4000)
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


def test_prompt_memory_learns_repeats_and_sits_out_fresh_prompts(setup) -> None:  # type: ignore[no-untyped-def]
    """On a replay whose prompts repeat, a prompt memory cuts regret; on a fresh stream (each
    prompt once) it never has evidence to use, so it chooses exactly as the policy without."""
    from dataclasses import replace

    regret = {}
    for strength in (0.0, 2.0):
        trace = replay_fast(
            setup, make_policy("greedy", item_strength=strength), name="g", steps=4000
        )
        regret[strength] = regret_curves(trace, setup.k)["cluster_oracle"][-1]
    assert regret[2.0] < regret[0.0] - 50
    fresh = replace(setup, fresh=True)
    plain = replay(fresh, make_policy("greedy"), name="g", steps=4000)
    memory = replay(fresh, make_policy("greedy", item_strength=2.0), name="g", steps=4000)
    assert plain.steps == memory.steps == setup.pool_idx.size  # capped at the pool
    assert np.array_equal(plain.chosen, memory.chosen)


def test_a_fresh_stream_shows_each_pool_prompt_once(setup) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    fresh = replace(setup, fresh=True)
    rows = fresh.stream(10_000, np.random.default_rng(0))
    assert np.array_equal(np.sort(rows), np.sort(setup.pool_idx))
    assert fresh.stream(5, np.random.default_rng(0)).size == 5
    trace = replay_fast(fresh, make_policy("thompson", seed=0), name="t", steps=10_000)
    assert trace.steps == setup.pool_idx.size


@pytest.mark.parametrize(("leaves", "kind"), [(32, "label"), (0, "label"), (0, "thumbs")])
def test_compiled_thompson_is_seeded_and_learns_like_the_python_one(
    setup, leaves: int, kind: str
) -> None:  # type: ignore[no-untyped-def]
    """Leaf cells take the kernel's draw-every-model path; clusters alone, its lazy pick (with
    tail masses carried through labels, re-anchored after thumbs)."""
    params = {"n_leaves": leaves, "explore": 0.5, "info_tempering": 1.0}
    channel = FeedbackChannel(kind=kind)
    regret = {}
    for engine in (replay, replay_fast):
        runs = [
            engine(
                setup,
                make_policy("thompson", seed=s, **params),
                name="t",
                steps=3000,
                channel=channel,
            )
            for s in range(6)
        ]
        regret[engine] = np.mean([regret_curves(r, setup.k)["cluster_oracle"][-1] for r in runs])
    again = replay_fast(setup, make_policy("thompson", seed=0, **params), name="t", steps=3000)
    first = replay_fast(setup, make_policy("thompson", seed=0, **params), name="t", steps=3000)
    assert np.array_equal(again.chosen, first.chosen)
    assert regret[replay_fast] == pytest.approx(regret[replay], abs=40)


def test_compiled_engine_paces_a_budget(setup) -> None:  # type: ignore[no-untyped-def]
    target = float(setup.log.mean_cost.mean())
    trace = replay_fast(setup, make_policy("thompson", seed=1), name="t", steps=8000, budget=target)
    spent = trace.costs[np.arange(trace.steps), trace.chosen][1000:].mean()
    assert spent == pytest.approx(target, rel=0.03)
    with pytest.raises(ValueError, match="cannot run"):
        replay_fast(setup, make_policy("default"), name="d", steps=10, events=[Arrival("m0", 5)])


@pytest.mark.parametrize(
    ("a", "b"), [(0.5, 0.5), (2.0, 3.0), (30.5, 5.5), (1.5, 200.0), (900.0, 90.0)]
)
def test_compiled_beta_sampler_has_the_beta_moments(a: float, b: float) -> None:
    from simulator import kernel

    kernel.seed(0)
    draws = np.array([kernel.beta_draw(a, b) for _ in range(40_000)])
    n = a + b
    assert draws.mean() == pytest.approx(a / n, abs=4 * np.sqrt(a * b / (n * n * (n + 1)) / 40_000))
    assert draws.var() == pytest.approx(a * b / (n * n * (n + 1)), rel=0.05)
