"""One conformance suite run over every policy (house style 8)."""

from __future__ import annotations

import copy
import json
import pickle

import numpy as np
import pytest

from policies import POLICY_NAMES, Context, ModelProfile, Policy, make_policy

K, M = 2, 4
#: P(correct) per cluster and model: model 1 wins cluster 0, model 2 wins cluster 1.
TRUE = np.array([[0.55, 0.85, 0.45, 0.60], [0.50, 0.40, 0.80, 0.60]])
COST = np.array([0.001, 0.002, 0.002, 0.001])


def profiles(rng: np.random.Generator, n: int = 15) -> list[ModelProfile]:
    """Profiles from ``n`` labelled validation prompts per cluster."""
    succ = rng.binomial(n, TRUE).astype(float)
    trials = np.full(K, float(n))
    return [ModelProfile(f"m{j}", succ[:, j], trials, COST[j]) for j in range(M)]


def fitted(name: str, seed: int = 0) -> Policy:
    return make_policy(name, seed=seed, lam=0.05).warm_start(profiles(np.random.default_rng(7)))


def run(policy: Policy, steps: int, seed: int = 1) -> list[int]:
    """Requests over 2 clusters × 20 prompts each (so prompt memories see repeats), half of
    them tagged by an app (so every rule meets tags too)."""
    rng = np.random.default_rng(seed)
    contexts = [
        Context.hard(k, k=K, prompt_key=i, tags=("app=chat",) if i % 2 else ())
        for k in range(K)
        for i in range(20 * k, 20 * k + 20)
    ]
    chosen = []
    for _ in range(steps):
        ctx = contexts[int(rng.integers(len(contexts)))]
        k = ctx.cluster
        d = policy.select(ctx)
        policy.update(ctx, d.index, float(rng.random() < TRUE[k, d.index]))
        chosen.append(d.index if d.index == (1 if k == 0 else 2) else -1)
    return chosen


ALL = list(POLICY_NAMES)
LEARNERS = ["default", "thompson", "ucb", "greedy"]


@pytest.mark.parametrize("name", ALL)
def test_same_seed_same_decisions(name: str) -> None:
    a, b = fitted(name, seed=3), fitted(name, seed=3)
    assert run(a, 300) == run(b, 300)


@pytest.mark.parametrize("name", ALL)
def test_state_round_trips_through_json_exactly(name: str) -> None:
    policy = fitted(name)
    run(policy, 200)
    restored = Policy.from_json(json.dumps(json.loads(policy.to_json())))
    assert restored.to_state() == policy.to_state()
    assert run(restored, 200, seed=5) == run(policy, 200, seed=5)


@pytest.mark.parametrize("name", ALL)
def test_clone_and_pickle(name: str) -> None:
    policy = fitted(name)
    run(policy, 50)
    clone = policy.clone()
    assert clone.get_params() == policy.get_params()
    assert not hasattr(clone, "_post")
    copied = pickle.loads(pickle.dumps(policy))
    assert run(copied, 100, seed=9) == run(policy, 100, seed=9)


@pytest.mark.parametrize("name", ALL)
def test_inputs_are_not_mutated(name: str) -> None:
    policy = fitted(name)
    ctx = Context(np.array([0.3, 0.7]))
    eligible = np.array([True, False, True, True])
    w, e = ctx.weights.copy(), eligible.copy()
    profs = profiles(np.random.default_rng(1))
    before = copy.deepcopy(profs)
    policy.warm_start(profs)
    d = policy.select(ctx, eligible=eligible)
    policy.update(ctx, d.index, 1.0)
    assert np.array_equal(ctx.weights, w) and np.array_equal(eligible, e)
    assert d.model != "m1"
    for p, q in zip(profs, before, strict=True):
        assert np.array_equal(p.successes, q.successes) and np.array_equal(p.trials, q.trials)


@pytest.mark.parametrize("name", LEARNERS)
def test_thumbs_move_the_posterior_less_than_a_label(name: str) -> None:
    ctx = Context.hard(0, k=K)
    moved = {}
    for kind in ("label", "thumbs"):
        policy = fitted(name)
        before = policy.mean_scores(ctx, lam=0.0)[0]
        policy.update(ctx, 0, 1.0, kind=kind)
        moved[kind] = policy.mean_scores(ctx, lam=0.0)[0] - before
    assert 0 < moved["thumbs"] < moved["label"]


@pytest.mark.parametrize("name", LEARNERS)
def test_learners_find_the_cluster_optimal_model(name: str) -> None:
    hits = run(fitted(name), 5000)[-1000:]
    assert np.mean(np.array(hits) >= 0) >= 0.9


def test_random_does_not_find_it() -> None:
    hits = run(fitted("random"), 5000)[-1000:]
    assert np.mean(np.array(hits) >= 0) < 0.5


@pytest.mark.parametrize("name", ALL)
def test_bad_feedback_is_refused_with_a_reason(name: str) -> None:
    policy = fitted(name)
    ctx = Context.hard(0, k=K)
    with pytest.raises(ValueError, match="score must lie in"):
        policy.update(ctx, 0, 1.5, kind="score")
    with pytest.raises(ValueError, match="kind must be one of"):
        policy.update(ctx, 0, 1.0, kind="stars")
    with pytest.raises(KeyError, match="unknown model"):
        policy.update(ctx, "nobody", 1.0)
    with pytest.raises(ValueError, match="cluster weights"):
        policy.select(Context(np.ones(3) / 3))


@pytest.mark.parametrize("name", ALL)
def test_learning_outcomes_of_every_model_is_deterministic(name: str) -> None:
    a, b = fitted(name, seed=2), fitted(name, seed=2)
    for policy in (a, b):
        for k in range(K):
            outcomes = {f"m{j}": float(TRUE[k, j] > 0.5) for j in range(M)}
            assert policy.learn_outcomes(Context.hard(k, k=K), {**outcomes, "gone": 1.0}) == M
    assert a.to_state() == b.to_state()
    assert run(a, 100, seed=4) == run(b, 100, seed=4)


@pytest.mark.parametrize("name", LEARNERS)
def test_labels_of_every_model_make_the_choice_follow_them(name: str) -> None:
    """Labels on one cluster that contradict the profile (model 3 best, not model 1) turn
    the cluster's greedy choice to the labels' winner."""
    policy = fitted(name)
    ctx = Context.hard(0, k=K)
    for _ in range(60):
        policy.learn_outcomes(ctx, {"m0": 0.0, "m1": 0.0, "m2": 0.0, "m3": 1.0})
    assert int(np.argmax(policy.mean_scores(ctx))) == 3


@pytest.mark.parametrize("name", ALL)
def test_cluster_betas_are_beta_parameters_of_the_pool(name: str) -> None:
    policy = fitted(name)
    run(policy, 100)
    for part in policy.cluster_betas():
        assert part.shape == (K, M) and np.all(np.isfinite(part)) and np.all(part > 0)


@pytest.mark.parametrize("name", ALL)
def test_choice_probabilities_are_what_select_does(name: str) -> None:
    """Every policy can say how likely each model is to be chosen (monitoring's propensities
    and counterfactual estimates read it): a distribution over the eligible models only, which
    the frequencies of ``select`` on the same state follow."""
    policy = fitted(name)
    run(policy, 150)
    ctx = Context.hard(0, k=K)
    eligible = np.array([True, True, False, True])
    probs = policy.choice_probabilities(ctx, eligible=eligible, samples=4000)
    assert probs.shape == (M,) and probs[2] == 0.0
    assert probs.sum() == pytest.approx(1.0) and np.all(probs >= 0)
    picks = [policy.select(ctx, eligible=eligible).index for _ in range(600)]
    seen = np.bincount(picks, minlength=M) / len(picks)
    np.testing.assert_allclose(seen, probs, atol=0.07)
