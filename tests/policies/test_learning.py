"""Feedback kinds, pool changes and pacing in the learning core."""

from __future__ import annotations

import numpy as np
import pytest

from policies import (
    BetaPosterior,
    BudgetPacer,
    Context,
    ModelProfile,
    ThumbsNoise,
    estimate_thumbs_noise,
    make_policy,
)
from policies.updates import thumbs_step

K = 4


def flat(name: str, acc: float, cost: float, n: float = 20.0) -> ModelProfile:
    return ModelProfile(name, np.full(K, acc * n), np.full(K, n), cost)


def _specialist_share(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """400 requests over 4 clusters after a specialist joins: per cluster, its requests and
    all requests."""
    policy = make_policy("default", seed=seed, lam=0.1)
    policy.warm_start([flat("generalist", 0.7, 0.002), flat("cheap", 0.5, 0.0002)])
    contexts = [Context.hard(k, k=K) for k in range(K)]
    rng = np.random.default_rng(seed)
    # The specialist is strong in clusters 1 and 3 only, from 30 validation prompts per cluster.
    acc = np.array([0.3, 0.95, 0.3, 0.95])
    policy.add_model(ModelProfile("specialist", acc * 30, np.full(K, 30.0), 0.001))
    share, visits = np.zeros(K), np.zeros(K)
    for _ in range(400):
        k = int(rng.integers(K))
        d = policy.select(contexts[k])
        truth = [0.7, 0.5, acc[k]][d.index]
        policy.update(contexts[k], d.model, float(rng.random() < truth))
        share[k] += d.model == "specialist"
        visits[k] += 1
    return share, visits


def test_new_model_gets_traffic_where_its_profile_is_strongest() -> None:
    """Over 4 seeds: most of the traffic where it is strong, and the exploration Thompson
    sampling owes a model 0.4 worse elsewhere, not more (9% and 13% there; one seed
    alone ranges from 4% to 19%)."""
    runs = [_specialist_share(seed) for seed in range(4)]
    share = sum(r[0] for r in runs) / sum(r[1] for r in runs)
    assert share[1] > 0.8 and share[3] > 0.8
    assert share[0] < 0.18 and share[2] < 0.18


def test_remove_and_reprice_at_runtime() -> None:
    policy = make_policy("greedy", lam=1.0).warm_start(
        [flat("a", 0.8, 0.01), flat("b", 0.7, 0.001), flat("c", 0.6, 0.001)]
    )
    ctx = Context.hard(0, k=K)
    assert policy.select(ctx).model == "b"
    policy.set_price("b", 0.02)
    assert policy.select(ctx).model == "c"
    policy.remove_model("c")
    assert policy.models == ["a", "b"] and policy.select(ctx).model == "a"
    with pytest.raises(ValueError, match="already in the pool"):
        policy.add_model(flat("a", 0.5, 0.1))
    with pytest.raises(ValueError, match="cost must be"):
        policy.set_price("a", -1.0)


def test_thumbs_update_matches_exact_posterior_moments() -> None:
    a, b, noise = 3.0, 5.0, ThumbsNoise(0.8, 0.3)
    theta = np.linspace(1e-6, 1 - 1e-6, 200_001)
    prior = theta ** (a - 1) * (1 - theta) ** (b - 1)
    c0, c1 = noise.likelihood(up=False)
    post = prior * (c0 + c1 * theta)
    post /= post.sum()
    mean, var = (theta * post).sum(), (theta**2 * post).sum() - (theta * post).sum() ** 2
    a2, b2 = thumbs_step(np.array([a]), np.array([b]), c0, c1)
    n2 = a2[0] + b2[0]
    assert a2[0] / n2 == pytest.approx(mean, rel=1e-4)
    assert a2[0] * b2[0] / (n2**2 * (n2 + 1)) == pytest.approx(var, rel=1e-3)


def test_perfect_thumbs_are_labels() -> None:
    ctx = Context.hard(0, k=1)
    for kind, noise in (("label", None), ("thumbs", ThumbsNoise(1.0, 0.0))):
        post = BetaPosterior(np.full((1, 1), 2.0), np.full((1, 1), 3.0), noise=noise)
        post.observe(ctx, 0, 0.0, kind=kind)
        assert post.beta[0, 0] == pytest.approx(4.0) and post.alpha[0, 0] == pytest.approx(2.0)


def test_estimate_thumbs_noise_recovers_a_and_b() -> None:
    rng = np.random.default_rng(0)
    labels = rng.random(20_000) < 0.6
    thumbs = np.where(labels, rng.random(labels.size) < 0.8, rng.random(labels.size) < 0.3)
    est = estimate_thumbs_noise(labels.astype(float), thumbs)
    assert est.a == pytest.approx(0.8, abs=0.015) and est.b == pytest.approx(0.3, abs=0.015)
    with pytest.raises(ValueError, match="no signal"):
        estimate_thumbs_noise([1, 0, 1, 0], [0, 1, 0, 1])


def test_score_feedback_is_fractional() -> None:
    post = BetaPosterior(np.ones((1, 1)), np.ones((1, 1)))
    post.observe(Context.hard(0, k=1), 0, 0.25, kind="score")
    assert (post.alpha[0, 0], post.beta[0, 0]) == (1.25, 1.75)


def test_soft_context_updates_clusters_by_weight() -> None:
    post = BetaPosterior(np.ones((3, 2)), np.ones((3, 2)))
    post.observe(Context(np.array([0.75, 0.25, 0.0])), 1, 1.0)
    assert post.alpha[:, 1].tolist() == [1.75, 1.25, 1.0]
    assert post.beta[:, 1].tolist() == [1.0, 1.0, 1.0]


def test_pacer_converges_to_a_reachable_target() -> None:
    rng = np.random.default_rng(0)
    costs = np.array([1.0, 0.1])
    acc = np.array([0.9, 0.6])
    pacer = BudgetPacer(0.4, cost_scale=1.0, start_lam=0.0)
    spent = []
    for _ in range(20_000):
        noise = rng.normal(0, 0.05, 2)
        j = int(np.argmax(acc + noise - pacer.lam * costs))
        spent.append(costs[j])
        pacer.observe(costs[j])
    assert np.mean(spent[2000:]) == pytest.approx(0.4, rel=0.02)


def test_thompson_propensities_match_choice_frequencies() -> None:
    policy = make_policy("thompson", seed=0, propensity_samples=2000)
    policy.warm_start(
        [flat("a", 0.7, 0.001, n=6), flat("b", 0.65, 0.001, n=6), flat("c", 0.2, 0.001)]
    )
    ctx = Context.hard(0, k=K)
    probs = policy.choice_probabilities(ctx, samples=4000)
    picks = np.bincount([policy.select(ctx).index for _ in range(4000)], minlength=3) / 4000
    assert np.allclose(probs, picks, atol=0.03)
    d = policy.select(ctx)
    assert d.propensity == pytest.approx(probs[d.index], abs=0.03)
    assert (
        make_policy("random")
        .warm_start([flat("a", 0.5, 1.0), flat("b", 0.5, 1.0)])
        .select(ctx)
        .propensity
        == 0.5
    )
    greedy = make_policy("greedy").warm_start([flat("a", 0.7, 0.001), flat("b", 0.6, 0.001)])
    assert greedy.choice_probabilities(ctx).tolist() == [1.0, 0.0]
