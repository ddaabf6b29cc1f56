"""Feedback kinds, pool changes, drift and pacing in the learning core."""

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


def test_new_model_gets_traffic_where_its_profile_is_strongest() -> None:
    policy = make_policy("default", seed=0, lam=0.1)
    policy.warm_start([flat("generalist", 0.7, 0.002), flat("cheap", 0.5, 0.0002)])
    contexts = [Context.hard(k, k=K) for k in range(K)]
    rng = np.random.default_rng(0)
    # The specialist is strong in clusters 1 and 3 only, from 30 validation prompts per cluster.
    acc = np.array([0.3, 0.95, 0.3, 0.95])
    policy.add_model(ModelProfile("specialist", acc * 30, np.full(K, 30.0), 0.001))
    share = np.zeros(K)
    for _ in range(400):
        k = int(rng.integers(K))
        d = policy.select(contexts[k])
        truth = [0.7, 0.5, acc[k]][d.index]
        policy.update(contexts[k], d.model, float(rng.random() < truth))
        share[k] += d.model == "specialist"
    assert share[1] > 60 and share[3] > 60
    assert share[0] < 10 and share[2] < 10


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


def test_discount_forgets_old_evidence() -> None:
    ctx = Context.hard(0, k=1)
    plain = BetaPosterior(np.ones((1, 1)), np.ones((1, 1)))
    fading = BetaPosterior(np.ones((1, 1)), np.ones((1, 1)), discount=0.95)
    for post in (plain, fading):
        for y in [1.0] * 500 + [0.0] * 100:
            post.observe(ctx, 0, y)
    assert plain.mean(ctx)[0] > 0.8 and fading.mean(ctx)[0] < 0.2


def test_drift_guard_lets_a_degraded_model_lose_traffic_fast() -> None:
    rng = np.random.default_rng(1)
    shares = {}
    for drift in (None, 0.002):
        policy = make_policy("greedy", lam=0.0, drift=drift, seed=0)
        policy.warm_start([flat("best", 0.9, 0.01), flat("other", 0.7, 0.01)])
        ctx = Context.hard(0, k=K)
        for _ in range(3000):
            d = policy.select(ctx)
            policy.update(ctx, d.index, float(rng.random() < [0.9, 0.7][d.index]))
        picks = []
        for _ in range(300):  # "best" now answers like a much worse model
            d = policy.select(ctx)
            policy.update(ctx, d.index, float(rng.random() < [0.4, 0.7][d.index]))
            picks.append(d.model == "best")
        shares[drift] = np.mean(picks[-100:])
    assert shares[0.002] < 0.2 < shares[None]
    assert policy.drift_alarms and policy.drift_alarms[0][1:] == ("best", 0)


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


def test_prompt_memory_avoids_a_model_on_the_prompt_it_failed() -> None:
    policy = make_policy("greedy", lam=0.0, item_strength=2.0)
    policy.warm_start([flat("a", 0.80, 0.01), flat("b", 0.75, 0.01)])
    seen, fresh = Context.hard(0, k=K, prompt_key=11), Context.hard(0, k=K, prompt_key=12)
    assert policy.select(seen).model == policy.select(fresh).model == "a"
    policy.update(seen, "a", 0.0)
    assert policy.select(seen).model == "b"  # one failure on this very prompt is enough...
    assert policy.select(fresh).model == "a"  # ...but the cluster has only moved a little
    a, b = policy.posterior.params(seen)
    assert a[0] + b[0] == pytest.approx(3.0)  # the cluster's weight is capped at 2, plus 1
    thumbs = make_policy("greedy", lam=0.0, item_strength=2.0)
    thumbs.warm_start([flat("a", 0.80, 0.01), flat("b", 0.75, 0.01)])
    thumbs.update(seen, "a", 0.0, kind="thumbs")
    drop = {p: 0.8 - p.posterior.mean(seen)[0] for p in (policy, thumbs)}
    assert 0 < drop[thumbs] < drop[policy]  # a thumb is weaker evidence than a label


def test_models_without_evidence_on_a_prompt_keep_their_cell_posterior() -> None:
    post = BetaPosterior(np.full((K, 3), 8.0), np.full((K, 3), 2.0), item_strength=2.0)
    plain, keyed = Context.hard(1, k=K), Context.hard(1, k=K, prompt_key=5)
    post.observe(keyed, 2, 1.0)
    a0, b0 = post.params(plain)
    a1, b1 = post.params(keyed)
    assert np.array_equal(a0[:2], a1[:2]) and np.array_equal(b0[:2], b1[:2])
    # the cell learned too (Beta(9, 2)); the prompt sits on it capped at 2, plus its success
    assert a1[2] == pytest.approx(9 / 11 * 2 + 1) and b1[2] == pytest.approx(2 / 11 * 2)
    assert post.items is not None and post.items.get(6) is None  # other prompts: nothing


def test_prompt_memory_is_bounded_follows_the_pool_and_forgets_on_drift() -> None:
    policy = make_policy("greedy", item_strength=2.0, max_items=3)
    policy.warm_start([flat("a", 0.8, 0.01), flat("b", 0.6, 0.01)])
    for item in range(5):
        policy.update(Context.hard(0, k=K, prompt_key=item), "a", 0.0)
    memory = policy.posterior.items
    assert memory is not None and len(memory) == 3 and memory.get(0) is None
    policy.add_model(flat("c", 0.7, 0.01))
    policy.update(Context.hard(0, k=K, prompt_key=4), "c", 1.0)
    assert memory.get(4).shape == (3, 3)
    policy.remove_model("a")
    assert memory.get(4).tolist()[2] == [0.0, 1.0]
    policy.posterior.forget(1, 0.0)
    assert memory.get(4)[2, 1] == 0.0  # no evidence left: the cell's posterior again
    ctx = Context.hard(0, k=K, prompt_key=4)
    assert np.array_equal(policy.posterior.params(ctx)[0], policy.posterior.cell_params(ctx)[0])
    with pytest.raises(ValueError, match="item_strength"):
        BetaPosterior(np.ones((1, 1)), np.ones((1, 1)), item_strength=-1.0)


def test_feedback_in_a_traffic_cell_caps_its_clusters_stale_prior() -> None:
    """A leaf from traffic cells means the prompt is unlike the fit prompts: its cluster's
    profile is stale there, so feedback first caps that cluster's prior, as a drift alarm
    does, and keeps the evidence learned so far; other clusters and leafless feedback keep it."""
    policy = make_policy("greedy", n_leaves=4, stale_strength=2.0)
    policy.warm_start([flat("a", 0.9, 0.001), flat("b", 0.2, 0.001)])
    post = policy.posterior
    policy.update(Context.hard(0, k=K), "a", 0.0)  # no leaf: the gate was shut
    assert np.allclose(post.alpha0 + post.beta0, 25.0)
    learned = post.alpha[1] - post.alpha0[1]
    policy.update(Context.hard(1, k=K, leaf=2), "b", 1.0)
    assert np.allclose(post.alpha0[1] + post.beta0[1], 2.0)  # every model's, in cluster 1
    assert np.allclose(post.alpha0[[0, 2, 3]] + post.beta0[[0, 2, 3]], 25.0)
    assert np.allclose(post.alpha[1] - post.alpha0[1], learned + [0.0, 1.0])
    # the cap is the profile's share of the evidence: the profile still orders the models
    assert post.alpha0[1, 0] / 2.0 == pytest.approx(22.1 / 25.0)
    with pytest.raises(ValueError, match="stale_strength"):
        make_policy("greedy", stale_strength=-1.0).warm_start([flat("a", 0.9, 0.001)])
