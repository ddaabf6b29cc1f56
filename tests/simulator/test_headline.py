"""The headline figures: utility per 1,000 requests against the best single model, the gap to
the prompt oracle closed, and learning, a policy minus its frozen twin on the same stream."""

from __future__ import annotations

import numpy as np
import pytest

from agent.embedder import HashingEmbedder
from agent.logs import ReplayLog
from policies import POLICY_NAMES
from simulator.channel import FeedbackChannel
from simulator.experiment import (
    Experiment,
    aggregate,
    fit_steps,
    frozen,
    learns_from_feedback,
    run_seeds,
    setups,
)
from simulator.headline import GAP_REFERENCE, best_model, frozen_name, relate
from simulator.protocol import Setup

#: One engine each: greedy and default take the compiled kernel, ucb and river the Python one.
LEARNERS = ("greedy", "default", "ucb", "river-ts")


@pytest.fixture(scope="module")
def planted() -> tuple[Experiment, list[Setup]]:
    """A log whose validation prompts say model ``a`` is right more often than ``b`` (60% to
    40%), and whose replay pool says ``b`` is always right and ``a`` never (the log's own split
    column): a frozen policy keeps to ``a``; one that learns from feedback moves to ``b``."""
    n, split = 600, ["fit"] * 200 + ["val"] * 100 + ["pool"] * 300
    pool = np.array([s == "pool" for s in split])
    a_right = ~pool & (np.arange(n) % 5 < 3)
    correct = np.column_stack([a_right, pool | ~a_right]).astype(np.float64)
    log = ReplayLog(
        "planted",
        [f"p{i}" for i in range(n)],
        [f"question {i} about topic {i % 7}" for i in range(n)],
        ["a", "b"],
        correct,
        np.full((n, 2), 0.01),
        [""] * n,
        columns={"split": split},
    )
    emb = HashingEmbedder(dim=32).encode(log.prompts)
    exp = Experiment(steps=300, seeds=3, clusters=2, fresh=True, levels=())
    prepared = setups(log, emb, exp)
    return fit_steps(exp, prepared), prepared


def test_the_learning_policies_are_those_feedback_changes() -> None:
    learners = {n for n in POLICY_NAMES if learns_from_feedback(n)}
    assert learners == {
        "default",
        "thompson",
        "greedy",
        "ucb",
        "river-egreedy",
        "river-ts",
        "bandit",
    }


@pytest.mark.parametrize("name", LEARNERS)
def test_a_frozen_twin_replays_the_same_stream_and_learns_nothing(
    small_log: ReplayLog, small_embeddings: np.ndarray, name: str
) -> None:
    exp = Experiment(steps=400, seeds=2, clusters=6, levels=())
    prepared = setups(small_log, small_embeddings, exp)
    live, twin = run_seeds(prepared, exp, name), run_seeds(prepared, frozen(exp), name)
    for a, b in zip(live, twin, strict=True):
        # the same seed, prompts (their every model's outcome and cost) and clusters
        assert a.seed == b.seed and a.steps == b.steps == 400
        np.testing.assert_array_equal(a.outcomes, b.outcomes)
        np.testing.assert_array_equal(a.costs, b.costs)
        np.testing.assert_array_equal(a.clusters, b.clusters)
        assert a.feedback == 400 and b.feedback == 0
    assert any(not np.array_equal(a.chosen, b.chosen) for a, b in zip(live, twin, strict=True))


@pytest.mark.parametrize("name", ("greedy", "ucb"))
def test_a_policy_frozen_against_itself_learns_exactly_nothing(
    small_log: ReplayLog, small_embeddings: np.ndarray, name: str
) -> None:
    """Feedback off by the channel's rate is the frozen twin: the paired difference is 0 ± 0."""
    off = Experiment(steps=300, seeds=3, clusters=6, levels=(), channel=FeedbackChannel(rate=0.0))
    prepared = setups(small_log, small_embeddings, off)
    rows = {
        name: aggregate(run_seeds(prepared, off, name), off.clusters),
        frozen_name(name): aggregate(run_seeds(prepared, frozen(off), name), off.clusters),
    }
    relate(rows, None)
    assert rows[name]["learning"] == {"mean": 0.0, "se": 0.0, "by_seed": [0.0, 0.0, 0.0]}


@pytest.mark.parametrize("name", ("greedy", "ucb"))
def test_learning_is_the_paired_gain_over_the_frozen_twin_on_a_planted_problem(
    planted: tuple[Experiment, list[Setup]], name: str
) -> None:
    exp, prepared = planted
    static = aggregate(run_seeds(prepared, exp, GAP_REFERENCE), exp.clusters)
    rows = {
        name: aggregate(run_seeds(prepared, exp, name), exp.clusters),
        frozen_name(name): aggregate(run_seeds(prepared, frozen(exp), name), exp.clusters),
    }
    relate(rows, static["regret_by_seed"]["prompt_oracle"])
    live, twin = rows[name], rows[frozen_name(name)]
    # Frozen, it keeps to the model validation favoured, wrong on every pool prompt.
    assert twin["per_1000_vs_best"]["by_seed"] == pytest.approx([-1000.0] * 3)
    assert twin["gap_closed"] == 0.0
    gained = np.subtract(live["per_1000_vs_best"]["by_seed"], twin["per_1000_vs_best"]["by_seed"])
    assert rows[name]["learning"]["by_seed"] == pytest.approx(gained.tolist())
    assert live["learning"]["mean"] > 800 and live["gap_closed"] > 0.8


def test_per_1000_is_the_regret_per_request_and_the_best_model_is_the_streams(
    planted: tuple[Experiment, list[Setup]],
) -> None:
    exp, prepared = planted
    traces = run_seeds(prepared, exp, "random")
    row = aggregate(traces, exp.clusters)
    regrets = row["regret_by_seed"]["best_fixed"]
    want = [-r / tr.steps * 1000 for r, tr in zip(regrets, traces, strict=True)]
    assert row["per_1000_vs_best"]["by_seed"] == pytest.approx(want)
    se = np.std(want, ddof=1) / np.sqrt(len(want))
    assert row["per_1000_vs_best"]["se"] == pytest.approx(se)
    best = best_model(traces)
    assert best["name"] == "b" and best["by_seed"] == ["b"] * 3 and best["accuracy"] == 1.0
    # both models cost the same; random is right about half the time, b always
    against = row["against_best_model"]
    assert against["cost_saved"] == pytest.approx(0.0)
    assert -60 < against["accuracy_points"] < -40


def test_gap_closed_is_a_ratio_of_seed_means_and_zero_for_static(
    planted: tuple[Experiment, list[Setup]],
) -> None:
    exp, prepared = planted
    rows = {n: aggregate(run_seeds(prepared, exp, n), exp.clusters) for n in ("static", "random")}
    reference = rows["static"]["regret_by_seed"]["prompt_oracle"]
    relate(rows, reference)
    assert rows["static"]["gap_closed"] == 0.0
    mine = rows["random"]["regret_by_seed"]["prompt_oracle"]
    assert rows["random"]["gap_closed"] == pytest.approx(1 - np.mean(mine) / np.mean(reference))
    relate(rows, reference[:1])  # a shorter reference (an interrupted run): the seeds both have
    assert rows["random"]["gap_closed"] == pytest.approx(1 - mine[0] / reference[0])
