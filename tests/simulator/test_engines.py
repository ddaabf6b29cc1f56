"""Every policy on every replay engine: which engine each takes, and that the compiled engine
replays what the Python engine does (the same choices, alarms and state for the deterministic
rules given the same random draws; the same distributions for Thompson sampling)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from agent.logs import ReplayLog
from agent.task_map import TASK_WEIGHT
from policies import POLICY_NAMES, Policy, make_policy
from simulator import Drift, FeedbackChannel, PriceChange, prepare, replay
from simulator.fast import replay_fast, supports
from simulator.metrics import regret_curves

COMPILED = {"default", "thompson", "greedy", "static"}
#: Deterministic rules with what `default` adds (prompt memory, drift guard), leaves, discounting.
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "greedy": ("greedy", {"n_leaves": 32}),
    "greedy-memory": ("greedy", {"n_leaves": 32, "item_strength": 2.0}),
    "greedy-as-default": ("greedy", {"item_strength": 2.0, "drift": 0.002}),
    "greedy-everything": ("greedy", {"n_leaves": 32, "item_strength": 2.0, "drift": 0.002,
                                     "discount": 0.99}),
    "static": ("static", {}),
}  # fmt: skip


@pytest.fixture(scope="module")
def setup(small_log: ReplayLog, small_embeddings: np.ndarray):  # type: ignore[no-untyped-def]
    return prepare(small_log, small_embeddings, k=6, seed=0, n_leaves=32)


def events(setup) -> list:  # type: ignore[no-untyped-def]
    """The best model degrades at step 600; the first model's price changes at step 900."""
    log = setup.log
    best = log.models[int(np.argmax(log.accuracy))]
    return [Drift(best, 600), PriceChange(log.models[0], 900, 0.001)]


@pytest.mark.parametrize("name", POLICY_NAMES)
def test_every_policy_takes_the_engine_it_can(setup, name: str) -> None:  # type: ignore[no-untyped-def]
    policy = make_policy(name, seed=0)
    fits = supports(policy, FeedbackChannel(), events(setup), setup.log.n_prompts)
    assert fits == (name in COMPILED)
    assert not supports(policy, FeedbackChannel(delay=3), (), setup.log.n_prompts)
    if not fits:
        with pytest.raises(ValueError, match="cannot run"):
            replay_fast(setup, policy, name=name, steps=10)


def _same_state(slow: Policy, fast: Policy) -> None:
    a, b = slow.posterior, fast.posterior
    for field in ("alpha", "beta", "alpha0", "beta0", "leaf_s", "leaf_f"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)
    assert slow.counters == fast.counters
    assert slow.drift_alarms == fast.drift_alarms
    guard = slow.drift_guard
    assert (guard is None) == (fast.drift_guard is None)
    if guard is not None:
        assert guard.to_state() == fast.drift_guard.to_state()  # type: ignore[union-attr]
    assert (a.levels is None) == (b.levels is None)
    if a.levels is not None and b.levels is not None:
        for field in ("alpha", "beta", "alpha0", "beta0"):
            for x, y in zip(getattr(a.levels, field), getattr(b.levels, field), strict=True):
                np.testing.assert_array_equal(x, y, err_msg=f"levels.{field}")
    if a.items is not None:  # the compiled memory is written back exactly, in LRU order
        assert b.items is not None and a.items.to_state() == b.items.to_state()


@pytest.mark.parametrize("kind", ["label", "score", "thumbs"])
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_compiled_engine_matches_the_python_engine(setup, variant: str, kind: str) -> None:  # type: ignore[no-untyped-def]
    name, params = VARIANTS[variant]
    params = {**params, "seed": 4}
    channel = FeedbackChannel(rate=0.6, kind=kind)
    p_slow, p_fast = make_policy(name, **params), make_policy(name, **params)
    slow = replay(setup, p_slow, name=name, steps=1500, channel=channel, events=events(setup))
    fast = replay_fast(setup, p_fast, name=name, steps=1500, channel=channel, events=events(setup))
    assert np.array_equal(slow.chosen, fast.chosen)
    assert slow.feedback == fast.feedback
    np.testing.assert_array_equal(slow.outcomes, fast.outcomes)
    np.testing.assert_array_equal(slow.costs, fast.costs)
    _same_state(p_slow, p_fast)
    if params.get("drift") and kind != "thumbs":  # the guard notices the drift: not vacuous
        assert p_slow.drift_alarms


#: With resolution levels (a task level and two K-means ones): on their own (averaged in,
#: weighted), and under leaves with a stale cap (the leaf refines instead; the levels still
#: learn and are capped).
LEVEL_VARIANTS: dict[str, dict[str, Any]] = {
    "greedy-levels": {"item_strength": 2.0, "drift": 0.002, "discount": 0.99, "multires": True},
    "greedy-levels-leaves": {
        "n_leaves": 32,
        "stale_strength": 2.0,
        "drift": 0.002,
        "multires": True,
    },
}


@pytest.mark.parametrize("kind", ["label", "thumbs"])
@pytest.mark.parametrize("variant", list(LEVEL_VARIANTS))
def test_compiled_engine_matches_the_python_engine_with_levels(  # type: ignore[no-untyped-def]
    small_log: ReplayLog, small_embeddings: np.ndarray, variant: str, kind: str
) -> None:
    levels = ("task", 3, 12)  # the task level weighs TASK_WEIGHT in the mean, K-means ones 1
    setup = prepare(small_log, small_embeddings, k=6, seed=0, n_leaves=32, levels=levels)
    assert setup.level_weights == (TASK_WEIGHT, 1.0, 1.0)
    params = {**LEVEL_VARIANTS[variant], "seed": 4}
    channel = FeedbackChannel(rate=0.6, kind=kind)
    p_slow, p_fast = make_policy("greedy", **params), make_policy("greedy", **params)
    slow = replay(setup, p_slow, name="g", steps=1500, channel=channel, events=events(setup))
    fast = replay_fast(setup, p_fast, name="g", steps=1500, channel=channel, events=events(setup))
    assert np.array_equal(slow.chosen, fast.chosen)
    assert p_slow.posterior.levels is not None
    _same_state(p_slow, p_fast)
    learned = p_fast.posterior.levels.alpha[1] - p_fast.posterior.levels.alpha0[1]  # type: ignore[union-attr]
    assert np.abs(learned).sum() > 0  # the levels learned: not vacuous


@pytest.mark.parametrize("name", ["default", "thompson"])
def test_compiled_thompson_rules_match_the_python_ones_in_distribution(setup, name: str) -> None:  # type: ignore[no-untyped-def]
    """Over seeds: the same regret, and for `default` one drift alarm per run, on the model
    that degraded, after about as many updates."""
    log = setup.log
    best = log.models[int(np.argmax(log.accuracy))]
    regret, first = {}, {}
    for engine in (replay, replay_fast):
        runs, alarms = [], []
        for s in range(6):
            policy = make_policy(name, seed=s)
            trace = engine(setup, policy, name=name, steps=3000, events=[Drift(best, 1000)])
            runs.append(regret_curves(trace, setup.k)["cluster_oracle"][-1])
            alarms.append(policy.drift_alarms)
        regret[engine] = np.mean(runs)
        if name == "default":
            assert all(len(a) == 1 and a[0][1] == best for a in alarms)
            first[engine] = np.mean([a[0][0] for a in alarms])
        else:
            assert not any(alarms)
    assert regret[replay_fast] == pytest.approx(regret[replay], abs=40)
    if name == "default":
        assert 1000 < first[replay] and first[replay_fast] == pytest.approx(first[replay], abs=40)


def test_a_default_experiment_with_drift_replays_compiled(setup, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """`routing-agent simulate --policy default` (here with a drift event) never takes the
    Python engine."""
    from simulator import experiment

    def python_engine(*args: object, **kwargs: object) -> None:
        raise AssertionError("took the Python engine")

    monkeypatch.setattr(experiment, "run_policy", python_engine)
    exp = experiment.Experiment(policies=("default",), steps=1000, events=events(setup))
    traces = experiment.run_seeds([setup], exp, "default")
    assert traces[0].steps == 1000


def test_kernel_caches_older_than_a_formula_they_inline_are_dropped(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import os

    from simulator import compiled

    source = tmp_path / "updates.py"
    source.write_text("x = 1\n")
    cache = tmp_path / "__pycache__"
    cache.mkdir()
    stale, fresh = cache / "kernel.run_stream-1.py311.nbi", cache / "kernel.seed-2.py311.nbi"
    stale.write_bytes(b"")
    fresh.write_bytes(b"")
    t = source.stat().st_mtime
    os.utime(stale, (t - 10, t - 10))
    os.utime(fresh, (t + 10, t + 10))
    monkeypatch.setattr(compiled, "SOURCES", (source,))
    compiled.drop_stale_caches()
    assert not stale.exists() and fresh.exists()


def _engines(name: str, setup) -> list:  # type: ignore[no-untyped-def]
    fits = supports(make_policy(name), FeedbackChannel(), (), setup.log.n_prompts)
    return [replay, replay_fast] if fits else [replay]


@pytest.mark.parametrize("name", POLICY_NAMES)
def test_every_policy_on_every_engine_is_seeded_and_leaves_a_json_state(setup, name: str) -> None:  # type: ignore[no-untyped-def]
    """The conformance checks that concern a replay, on each engine the policy takes: the same
    seed gives the same choices, and the policy it leaves saves and restores exactly."""
    channel = FeedbackChannel(rate=0.5, kind="thumbs")
    for engine in _engines(name, setup):
        runs = []
        for _ in range(2):
            policy = make_policy(name, seed=2)
            runs.append(engine(setup, policy, name=name, steps=400, channel=channel).chosen)
        assert np.array_equal(runs[0], runs[1]), engine.__name__
        state = policy.to_state()
        assert Policy.from_json(policy.to_json()).to_state() == state
