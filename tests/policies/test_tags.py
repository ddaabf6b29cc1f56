"""App tags: validation, learning per tag on top of the cluster, state round trips."""

from __future__ import annotations

import numpy as np
import pytest

from policies import Context, ModelProfile, Policy, make_policy
from policies.tags import MAX_TAGS, TagResiduals, normalise_tags
from policies.thumbs import ThumbsNoise

K = 2


def flat(name: str, acc: float, cost: float, n: float = 20.0) -> ModelProfile:
    return ModelProfile(name, np.full(K, acc * n), np.full(K, n), cost)


def train(policy: Policy, steps: int = 600, kind: str = "label") -> Policy:
    """One cluster, two kinds of traffic: ``coder`` is right on code, ``chat`` on chat."""
    rng = np.random.default_rng(0)
    truth = {"task=code": (0.9, 0.3), "task=chat": (0.3, 0.9)}
    for _ in range(steps):
        tag = ("task=code", "task=chat")[int(rng.integers(2))]
        ctx = Context.hard(0, k=K, tags=(tag,))
        d = policy.select(ctx)
        correct = rng.random() < truth[tag][d.index]
        value = float(correct if kind == "label" else rng.random() < (0.8 if correct else 0.3))
        policy.update(ctx, d.model, value, kind=kind)
    return policy


@pytest.mark.parametrize("kind", ["label", "thumbs"])
def test_the_router_learns_each_tags_best_model(kind: str) -> None:
    pool = [flat("coder", 0.6, 0.001), flat("chatter", 0.6, 0.001)]
    policy = train(make_policy("default", seed=1, lam=0.0).warm_start(pool), kind=kind)
    code = Context.hard(0, k=K, tags=("task=code",))
    chat = Context.hard(0, k=K, tags=("task=chat",))
    post = policy.posterior
    assert post.mean(code).argmax() == 0 and post.mean(chat).argmax() == 1
    # An unseen tag, or none, falls back on the cluster estimate.
    untagged = post.mean(Context.hard(0, k=K))
    assert np.allclose(post.mean(Context.hard(0, k=K, tags=("task=new",))), untagged)


def test_tags_off_and_static_ignore_them() -> None:
    pool = [flat("coder", 0.6, 0.001), flat("chatter", 0.6, 0.001)]
    for policy in (make_policy("greedy", tag_strength=0.0), make_policy("static")):
        train(policy.warm_start(pool), steps=50)
        assert policy.posterior.tags is None


def test_tag_state_round_trips_exactly() -> None:
    pool = [flat("coder", 0.6, 0.001), flat("chatter", 0.6, 0.001)]
    policy = train(make_policy("default", seed=3).warm_start(pool), steps=200)
    again = Policy.from_json(policy.to_json())
    ctx = Context.hard(0, k=K, tags=("task=code",))
    np.testing.assert_array_equal(again.posterior.mean(ctx), policy.posterior.mean(ctx))
    assert again.select(ctx).model == policy.select(ctx).model


def test_pool_changes_keep_tag_rows_aligned() -> None:
    pool = [flat("coder", 0.6, 0.001), flat("chatter", 0.6, 0.001)]
    policy = train(make_policy("greedy").warm_start(pool), steps=100)
    policy.add_model(flat("new", 0.5, 0.001))
    tags = policy.posterior.tags
    assert tags is not None and tags.y.shape[1] == 3 and not tags.n[..., 2].any()
    policy.remove_model("coder")
    tags = policy.posterior.tags
    assert tags is not None and tags.y.shape[1] == 2 == tags.n.shape[2] == tags.count0.shape[1]


def test_a_bounded_table_keeps_the_cell_estimate_beyond_its_cap() -> None:
    tags = TagResiduals(1, 1, strength=1.0, max_tags=1)
    tags.learn(("a=1", "b=2"), np.ones(1), 0, 1.0, "label", ThumbsNoise())
    assert list(tags.index) == ["a=1"] and tags.correction(("b=2",), np.full((1, 1), 0.5)) is None


@pytest.mark.parametrize(
    ("tags", "reason"),
    [
        ({"task": 3}, "string value"),
        ({"": "x"}, "non-empty"),
        ({"a=b": "x"}, "must not contain"),
        ({"task": "x" * 129}, "at most 128"),
        ({f"k{i}": "v" for i in range(MAX_TAGS + 1)}, "at most 8 tags"),
        (["task"], "object of string values"),
    ],
)
def test_bad_tags_get_a_reason(tags: object, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        normalise_tags(tags)  # type: ignore[arg-type]


def test_a_tag_no_finer_than_its_cluster_does_not_count_its_feedback_twice() -> None:
    """Every prompt of the cluster carries the tag: once the cluster has learned the truth,
    the tag must not push the estimate on past it (residuals against the current estimate)."""
    policy = make_policy("greedy", lam=0.0, tag_strength=10.0)
    policy.warm_start([flat("only", 0.6, 0.001)])
    rng = np.random.default_rng(0)
    ctx = Context.hard(0, k=K, tags=("task=all",))
    for _ in range(500):
        policy.update(ctx, "only", float(rng.random() < 0.8), kind="label")
    tagged, untagged = (policy.posterior.mean(c)[0] for c in (ctx, Context.hard(0, k=K)))
    assert abs(tagged - untagged) < 0.015


def test_a_state_saved_before_per_cluster_sums_keeps_its_corrections() -> None:
    old = {"strength": 4.0, "max_tags": 10, "tags": ["a=1"], "resid": [[1.0, -2.0]],
           "count": [[4.0, 4.0]]}  # fmt: skip
    tags = TagResiduals.from_state(old, 3, 2)
    means = np.full((3, 2), 0.5)
    assert tags.correction(("a=1",), means).tolist() == [0.125, -0.25]  # type: ignore[union-attr]
    tags.learn(("a=1",), np.array([0.0, 1.0, 0.0]), 0, 1.0, "label", ThumbsNoise())
    again = TagResiduals.from_state(tags.to_state(), 3, 2)
    np.testing.assert_array_equal(
        again.correction(("a=1",), means), tags.correction(("a=1",), means)
    )


def test_values_of_a_tag_that_says_nothing_pool_to_no_correction() -> None:
    """Two values of a tag whose outcomes match the cell: their mean residuals are no wider
    than sampling noise, so τ² is 0 and neither moves the estimate."""
    tags = TagResiduals(1, 1, strength=1.0)
    means = np.array([[0.5]])
    for value in ("a", "b"):
        for y in (1.0, 0.0) * 20:
            tags.learn((f"src={value}",), np.ones(1), 0, y, "label", ThumbsNoise())
    assert tags.spread("src", means) == 0.0
    assert tags.correction(("src=a",), means).tolist() == [0.0]  # type: ignore[union-attr]


def test_values_of_a_tag_that_split_the_cell_keep_their_corrections() -> None:
    """Values whose outcomes sit far from the cell, either way: τ² is large, the pooling
    is NOISE / τ² (about one pseudo-observation), and each value keeps most of its mean
    residual."""
    tags = TagResiduals(1, 1, strength=1.0)
    means = np.array([[0.5]])
    for value, y in (("a", 1.0), ("b", 0.0)):
        for _ in range(40):
            tags.learn((f"task={value}",), np.ones(1), 0, y, "label", ThumbsNoise())
    tau2 = 0.25 - 0.25 / 40  # 0.5² less the sampling variance of a mean of 40
    assert tags.spread("task", means) == pytest.approx(tau2)
    shrink = 0.25 / tau2
    assert tags.shrinkage("task", means) == pytest.approx(shrink)
    up, down = (tags.correction((f"task={v}",), means)[0] for v in "ab")  # type: ignore[index]
    assert up == pytest.approx(20 / (40 + shrink)) and down == pytest.approx(-20 / (40 + shrink))
    tags.strength = 5.0  # the floor
    assert tags.shrinkage("task", means) == 5.0
