"""The river baselines' state is plain data: replayed pulls and updates, no pickle."""

from __future__ import annotations

import json

import numpy as np
import pytest

from policies import Context, ModelProfile, Policy, make_policy


@pytest.mark.parametrize("name", ["river-egreedy", "river-ts"])
def test_state_is_plain_json_and_an_old_pickled_state_is_refused(name: str) -> None:
    profiles = [
        ModelProfile(f"m{j}", np.array([5.0, 9.0]), np.array([10.0, 10.0]), 0.001) for j in range(3)
    ]
    policy = make_policy(name, seed=1, lam=0.1).warm_start(profiles)
    ctx = Context.hard(1, k=2)
    for _ in range(20):
        policy.update(ctx, policy.select(ctx).index, 1.0)
    state = policy.to_state()
    text = json.dumps(state)
    assert "river" not in state["extra"] and len(state["extra"]["events"][1]) == 40
    restored = Policy.from_json(text)
    assert [restored.select(ctx).index for _ in range(10)] == [
        policy.select(ctx).index for _ in range(10)
    ]
    old = {**state, "extra": {"river": "gASV..."}}
    with pytest.raises(ValueError, match="pickle by an older version"):
        Policy.from_state(old)


def test_the_plain_bandit_sees_no_context() -> None:
    """``bandit`` keeps one bandit for every prompt: what it learns in one cluster decides in
    every other, and its state round-trips like the per-cluster baselines'."""
    profiles = [
        ModelProfile(f"m{j}", np.array([5.0, 9.0]), np.array([10.0, 10.0]), 0.001) for j in range(3)
    ]
    policy = make_policy("bandit", seed=3, lam=0.1).warm_start(profiles)
    assert policy.get_params()["per_cluster"] is False
    here, there = Context.hard(0, k=2), Context.hard(1, k=2)
    for _ in range(200):  # m2 always answers well, the others never
        j = policy.select(here).index
        policy.update(here, j, 1.0 if j == 2 else 0.0)
    assert len(policy.to_state()["extra"]["events"]) == 1
    picks = [policy.select(there).index for _ in range(50)]
    assert picks.count(2) >= 45  # learnt in cluster 0, chosen in cluster 1
    restored = Policy.from_json(json.dumps(policy.to_state()))
    assert [restored.select(there).index for _ in range(20)] == [
        policy.select(there).index for _ in range(20)
    ]
