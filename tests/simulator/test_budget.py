"""The budget pacer on real logged outcomes (issue: the learning core, done-means)."""

from __future__ import annotations

import numpy as np
import pytest

from agent.embedder import HashingEmbedder
from agent.logs import load_log
from policies import make_policy
from simulator import prepare, replay
from tests.shared_data import shared_log


@pytest.mark.parametrize("share", [0.3, 0.5])
def test_pacer_holds_mean_cost_within_2_percent_on_routerbench(share: float) -> None:
    log = load_log(shared_log("routerbench_subset"))
    emb = HashingEmbedder(dim=256).encode(log.prompts)
    setup = prepare(log, emb, k=16, seed=0)
    gpt4 = log.models.index("gpt-4-1106-preview")
    target = share * float(log.mean_cost[gpt4])
    trace = replay(setup, make_policy("default", seed=0), name="d", steps=20_000, budget=target)
    spent = trace.costs[np.arange(trace.steps), trace.chosen]
    assert spent[2_000:].mean() == pytest.approx(target, rel=0.02)
    assert trace.lams.std() > 0  # λ really was paced
