"""``default``'s learning core: the blended warm start, the probit corrections, and the two
learners the traffic's shift chooses between."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.special import ndtr

from policies import (
    Blend,
    Context,
    Corrections,
    ModelProfile,
    OnlineUniRoute,
    Policy,
    make_policy,
    stack_weights,
)
from policies.corrections import outcome_likelihood
from policies.updates import thumbs_likelihood

K = 2


def profile(name: str, rates: list[float], n: float, cost: float = 0.001) -> ModelProfile:
    r = np.asarray(rates)
    return ModelProfile(name, np.round(r * n), np.full(r.size, n), cost)


@pytest.mark.parametrize(
    "likelihood",
    [outcome_likelihood(1.0), outcome_likelihood(0.0), outcome_likelihood(0.3),
     thumbs_likelihood(True, 0.8, 0.3), thumbs_likelihood(False, 0.8, 0.3)],
)  # fmt: skip
def test_one_step_matches_the_exact_posterior_moments(likelihood: tuple[float, float]) -> None:
    """With one correction (the shared one pinned at ~0 variance), a step moment-matches the
    exact posterior of the score under the likelihood ``c0 + c1·Φ(s)``."""
    c0, c1 = likelihood
    shared = np.full(1, 1e-12)
    model = np.full((1, 1), 0.49)
    c = Corrections((1,), shared, model)
    offset, rows = np.array([0.4]), c.rows(())
    c.learn(offset, rows, 0, c0, c1)
    s = np.linspace(-8, 8, 400_001)
    post = np.exp(-0.5 * (s - 0.4) ** 2 / 0.49) * (c0 + c1 * ndtr(s))
    post /= post.sum()
    mean = float((s * post).sum())
    var = float((s * s * post).sum() - mean**2)
    m, v = c.moments(offset, rows)
    assert m[0] == pytest.approx(mean, abs=1e-5)
    assert v[0] == pytest.approx(var, rel=1e-3)


def test_a_thumb_teaches_less_than_a_label_and_a_weight_scales_a_step() -> None:
    moved = {}
    for name, (c0, c1), weight in [
        ("label", outcome_likelihood(1.0), 1.0),
        ("half", outcome_likelihood(1.0), 0.5),
        ("thumb", thumbs_likelihood(True, 0.8, 0.3), 1.0),
    ]:
        c = Corrections.flat((1, 2), n_models=2)
        rows = c.rows((0,))
        c.learn(np.zeros(2), rows, 0, c0, c1, weight)
        moved[name] = float(c.moments(np.zeros(2), rows)[0][0])
    assert 0 < moved["thumb"] < moved["label"]
    assert moved["half"] == pytest.approx(moved["label"] / 2)


def test_the_careful_learner_lets_labels_overturn_a_thin_profile_sooner() -> None:
    """Labels say ``b`` beats ``a``, against a profile that says the opposite from ``n``
    validation prompts per cluster: the thinner the profile, the sooner the choice turns,
    and a thick one holds through 60 pairs of labels."""
    ctx = Context.hard(0, k=K)
    turned: dict[float, int | None] = {}
    for n in (4.0, 20.0, 2000.0):
        policy = OnlineUniRoute(seed=0).warm_start(
            [profile("a", [0.75, 0.5], n), profile("b", [0.5, 0.5], n)]
        )
        turned[n] = None
        for t in range(60):
            policy.update(ctx, "a", 0.0)
            policy.update(ctx, "b", 1.0)
            if int(np.argmax(policy.mean_scores(ctx, lam=0.0))) == 1:
                turned[n] = t
                break
    assert turned[4.0] is not None and turned[20.0] is not None
    assert turned[4.0] < turned[20.0] and turned[2000.0] is None


def test_under_a_shift_the_fast_learner_decides_and_follows_feedback_sooner() -> None:
    """A thick profile says ``a`` is far better; the traffic says ``b`` is. The careful
    learner (traffic like the profile's) keeps ``a`` after 15 labels each, the fast one (a
    shifted stream) turns to ``b``; both learnt the same labels."""
    policy = OnlineUniRoute(seed=0).warm_start(
        [profile("a", [0.85, 0.5], 500.0), profile("b", [0.55, 0.5], 500.0)]
    )
    like, shifted = Context.hard(0, k=K, shift=1.0), Context.hard(0, k=K, shift=40.0)
    assert (policy.deciding(like), policy.deciding(shifted)) == (0, 1)
    for _ in range(15):
        policy.update(like, "a", 0.0)
        policy.update(like, "b", 1.0)
    assert int(np.argmax(policy.mean_scores(like, lam=0.0))) == 0
    assert int(np.argmax(policy.mean_scores(shifted, lam=0.0))) == 1


def test_a_state_saved_with_corrections_on_the_traffic_loads_without_them() -> None:
    """An older version also learnt corrections on cells fitted on the traffic (the ``traffic``
    parameter, their partition last): its state loads, that partition dropped."""
    policy = OnlineUniRoute(seed=0).warm_start(
        [profile("a", [0.7, 0.7], 50.0), profile("b", [0.6, 0.6], 50.0)]
    )
    ctx = Context.hard(0, k=K)
    for _ in range(5):
        policy.update(ctx, "a", 0.0)
    today = policy.to_state()
    old = json.loads(json.dumps(today))
    old["params"]["traffic"] = 3
    for lr in old["extra"]["learners"]:
        lr["sizes"].append(3)
        lr["shared_mu"] += [0.5] * 3
        lr["shared_var"] += [0.09] * 3
        lr["model_mu"] += [[0.5, 0.5]] * 3
        lr["model_var"] += [[0.09, 0.09]] * 3
    loaded = OnlineUniRoute.from_state(old)
    assert loaded.to_state() == today
    assert loaded.select(ctx).model == policy.select(ctx).model


def test_stacking_weighs_the_partition_that_predicts_the_validation_outcomes() -> None:
    """Two clusters with very different accuracies: the clusters predict the validation
    outcomes, all prompts together do not, so the clusters get most of the weight."""
    rng = np.random.default_rng(0)
    clusters = np.repeat([0, 1], 200)
    truth = np.array([[0.9, 0.2], [0.1, 0.8]])[clusters]
    y = (rng.random(truth.shape) < truth).astype(float)
    profiles = [
        ModelProfile.from_rows(
            m, clusters=clusters, correct=y[:, j], cost=np.full(400, 0.001), k=2
        )  # fmt: skip
        for j, m in enumerate("ab")
    ]
    w = stack_weights(Blend.from_profiles(profiles), clusters[:, None], y)
    assert w.shape == (2,) and w.sum() == pytest.approx(1.0) and w[1] > 0.8


def test_a_cell_unknown_to_the_blend_lets_the_other_partitions_share_its_weight() -> None:
    s = np.array([[9.0, 1.0], [1.0, 9.0]])
    n = np.full((2, 2), 10.0)
    blend = Blend.from_counts([("clusters", s, n), ("tasks", s, n)], weights=[1.0, 1.0, 2.0])
    known = blend.mean((0, 0))
    without = blend.mean((0, -1))
    only_clusters = Blend.from_counts([("clusters", s, n)], weights=[1.0, 1.0]).mean((0,))
    assert np.allclose(without, only_clusters) and not np.allclose(known, without)


def test_a_state_saved_by_another_version_is_refused_with_a_reason() -> None:
    policy = make_policy("default", seed=0).warm_start([profile("a", [0.7, 0.4], 20.0)])
    state = policy.to_state()
    state["extra"] = {"posterior": {}}  # the Beta posterior of the old default
    with pytest.raises(ValueError, match="saved by another version"):
        Policy.from_state(state)
