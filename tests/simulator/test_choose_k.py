"""Choosing K by the validation deferral-curve area (UniRoute)."""

from __future__ import annotations

import numpy as np

from agent.logs import ReplayLog
from simulator.choose_k import LAMBDAS, choose_k, static_curve


def test_static_curve_trades_cost_for_accuracy(small_log: ReplayLog) -> None:
    rows = np.arange(small_log.n_prompts)
    clusters = np.zeros(small_log.n_prompts, dtype=int)
    costs, accs = static_curve(small_log, clusters, rows[:300], rows[300:], 1)
    assert len(costs) == len(LAMBDAS)
    assert costs == sorted(costs, reverse=True) and costs[0] > costs[-1]
    assert accs[0] >= accs[-1]


def test_choose_k_returns_the_best_area_and_prefers_topics_to_one_cluster(
    small_log: ReplayLog, small_embeddings: np.ndarray
) -> None:
    k, areas = choose_k(small_log, small_embeddings, candidates=(1, 6, 12), seed=0)
    assert k == max(areas, key=lambda c: areas[c])
    assert max(areas[6], areas[12]) > areas[1]  # topics differ, so clustering must pay off
    assert all(0 < a <= 1 for a in areas.values())
