"""Tests for agent.synthetic_log.generate_log."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from agent.logs import ReplayLog
from agent.synthetic_log import TOPICS, generate_log


def topic_winners(log: ReplayLog) -> dict[str, str]:
    tasks = np.array(log.tasks)
    return {
        t: log.models[int(np.argmax(log.correct[tasks == t].mean(axis=0)))] for t in set(log.tasks)
    }


def test_shape_and_types() -> None:
    log = generate_log()
    assert (log.n_prompts, log.n_models) == (2400, 8)
    assert log.correct.shape == log.cost.shape == (2400, 8)
    assert set(np.unique(log.correct).tolist()) == {0.0, 1.0}
    assert set(log.tasks) == set(TOPICS)
    assert len(set(log.prompt_ids)) == 2400
    assert len(set(log.prompts)) > 0.98 * 2400
    assert all(isinstance(p, str) and p for p in log.prompts)
    assert {"frontier-xl", "coder-15b", "math-7b", "tiny-1b"} <= set(log.models)


def test_deterministic_for_a_seed() -> None:
    a, b, c = generate_log(300, seed=4), generate_log(300, seed=4), generate_log(300, seed=5)
    assert a.prompts == b.prompts and a.tasks == b.tasks
    np.testing.assert_array_equal(a.correct, b.correct)
    np.testing.assert_array_equal(a.cost, b.cost)
    assert a.prompts != c.prompts


def test_cost_range_and_noise() -> None:
    log = generate_log()
    mean = log.mean_cost
    assert (log.cost > 0).all()
    assert 1e-6 < mean.min() < 5e-5 and 1e-3 < mean.max() < 1e-2
    assert mean.max() / mean.min() > 100
    assert log.cost[:, 0].std() > 0  # per-prompt noise
    long_prompts = np.array([len(p) for p in log.prompts]) > np.median(
        [len(p) for p in log.prompts]
    )
    assert log.cost[long_prompts, 0].mean() > log.cost[~long_prompts, 0].mean()


def test_specialists_and_mixed_winners() -> None:
    log = generate_log()
    winners = topic_winners(log)
    assert len(set(winners.values())) >= 3
    assert winners["python"] == "coder-15b" and winners["arithmetic"] == "math-7b"
    frontier = log.models.index("frontier-xl")
    assert log.models[int(np.argmax(log.accuracy))] == "frontier-xl"
    assert log.mean_cost[log.models.index("coder-15b")] < log.mean_cost[frontier] / 10


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_two_dominant_models_win_most_topics(seed: int) -> None:
    log = generate_log(2400, 32, seed=seed, dominant=2)
    assert log.n_models == 32 and len(set(log.models)) == 32
    counts = Counter(topic_winners(log).values()).most_common()
    top_two = sum(n for _, n in counts[:2])
    assert top_two >= 0.8 * len(TOPICS)


def test_large_pool_without_dominance_is_mixed() -> None:
    log = generate_log(2400, 32, seed=0)
    counts = Counter(topic_winners(log).values()).most_common()
    assert sum(n for _, n in counts[:2]) < len(TOPICS)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="dominant must be in"):
        generate_log(10, 4, dominant=5)
    with pytest.raises(ValueError, match="n_prompts >= 1"):
        generate_log(0)


def test_small_pools() -> None:
    log = generate_log(50, 1, seed=2, dominant=1)
    assert log.models == ["small-7b"] and log.correct.shape == (50, 1)
