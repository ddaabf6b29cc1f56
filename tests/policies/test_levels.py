"""Multi-resolution cells (policies.levels): warm start, online learning, tags, pool changes,
state, and the simulator's protocol with ``levels``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from agent.embedder import HashingEmbedder
from agent.synthetic_log import generate_log
from policies import Context, ModelProfile, Policy, make_policy
from policies.levels import Levels
from simulator.experiment import Experiment, run_seeds, setups
from simulator.protocol import prepare

#: One cluster; a level of two cells: model a wins cell 0, model b wins cell 1.
CLUSTERS = [0, 0, 0, 0, 0, 0, 0, 0]
CELLS = [0, 0, 0, 0, 1, 1, 1, 1]
RIGHT = {"a": [1, 1, 1, 1, 0, 0, 0, 0], "b": [0, 0, 0, 0, 1, 1, 1, 1]}


def profile(name: str, levels: bool = True) -> ModelProfile:
    return ModelProfile.from_rows(
        name,
        clusters=CLUSTERS,
        correct=RIGHT[name],
        cost=[0.001] * 8,
        k=1,
        levels=[(np.array(CELLS), 2)] if levels else (),
    )


def ctx(cell: int, key: int = -1, tags: tuple[str, ...] = ()) -> Context:
    return Context.hard(0, k=1, prompt_key=key, tags=tags, cells=(cell,))


def test_profiles_carry_levels_and_round_trip() -> None:
    p = profile("a")
    assert p.levels[0][0].tolist() == [4.0, 0.0] and p.levels[0][1].tolist() == [4.0, 4.0]
    assert ModelProfile.from_dict(json.loads(json.dumps(p.to_dict()))).levels[0][0].tolist() == [
        4.0,
        0.0,
    ]
    assert "levels" not in profile("a", levels=False).to_dict()
    with pytest.raises(ValueError, match="level cell ids must be in 0..1"):
        ModelProfile.from_rows("x", clusters=[0], correct=[1], cost=[1], k=1, levels=[([5], 2)])
    with pytest.raises(ValueError, match="successes <= trials"):
        ModelProfile("x", np.ones(1), np.ones(1), 1.0, ((np.array([2.0]), np.array([1.0])),))


def test_the_level_cells_separate_what_the_cluster_cannot() -> None:
    policy = make_policy("greedy", multires=True).warm_start([profile("a"), profile("b")])
    assert [policy.select(ctx(c)).model for c in (0, 1)] == ["a", "b"]
    mean = policy.posterior.mean(ctx(0))
    cluster = policy.posterior.alpha[0] / (policy.posterior.alpha[0] + policy.posterior.beta[0])
    level = policy.posterior.levels.alpha[0][0] / (  # type: ignore[union-attr]
        policy.posterior.levels.alpha[0][0] + policy.posterior.levels.beta[0][0]  # type: ignore[union-attr]
    )
    assert np.allclose(mean, (cluster + level) / 2)
    # Without cells the context gets the cluster alone; static ignores the levels altogether.
    assert np.allclose(policy.posterior.mean(Context.hard(0, k=1)), cluster)
    static = make_policy("static").warm_start([profile("a"), profile("b")])
    assert static.posterior.levels is None
    off = make_policy("greedy").warm_start([profile("a"), profile("b")])  # multires is opt-in
    assert off.posterior.levels is None
    assert make_policy("default").warm_start([profile("a")]).posterior.levels is not None


def test_feedback_updates_every_level_and_forgetting_reaches_them() -> None:
    policy = make_policy("greedy", multires=True).warm_start([profile("a"), profile("b")])
    lv = policy.posterior.levels
    assert lv is not None
    before = lv.alpha[0].copy()
    policy.update(ctx(1), "a", 1.0)
    assert lv.alpha[0][1, 0] == before[1, 0] + 1 and lv.alpha[0][0, 0] == before[0, 0]
    policy.update(Context.hard(0, k=1), "a", 1.0)  # no cells: the levels stay
    assert lv.alpha[0][1, 0] == before[1, 0] + 1
    policy.posterior.forget(0, keep=0.0)
    assert np.array_equal(lv.alpha[0][:, 0], lv.alpha0[0][:, 0])
    lv.cap_prior((1,), strength=2.0)
    assert np.allclose(lv.alpha0[0][1] + lv.beta0[0][1], 2.0)


def test_bad_cells_are_refused_with_a_reason() -> None:
    policy = make_policy("greedy", multires=True).warm_start([profile("a"), profile("b")])
    with pytest.raises(ValueError, match="names 2 level cells, the pool has"):
        policy.select(Context.hard(0, k=1, cells=(0, 1)))
    with pytest.raises(ValueError, match="level cell 2 is outside 0..1"):
        policy.select(ctx(2))
    with pytest.raises(ValueError, match="at least one level"):
        Levels([])


def test_models_join_and_leave_a_pool_with_levels() -> None:
    policy = make_policy("default").warm_start([profile("a"), profile("b")])
    bare = ModelProfile("c", np.array([6.0]), np.array([8.0]), 0.0005)  # no levels: global rate
    policy.add_model(bare)
    lv = policy.posterior.levels
    assert lv is not None and lv.alpha[0].shape == (2, 3)
    # its global 0.75 with 4 pseudo-observations, on the Beta(0.5, 0.5) floor
    assert np.allclose(lv.alpha0[0][:, 2], 3.5) and np.allclose(lv.beta0[0][:, 2], 1.5)
    wrong = ModelProfile("d", np.ones(1), np.ones(1), 0.0, ((np.ones(3), np.ones(3)),))
    with pytest.raises(ValueError, match="profile levels have"):
        policy.add_model(wrong)
    policy.remove_model("a")
    assert lv.alpha[0].shape == (2, 2) and policy.models == ["b", "c"]
    policy.update(ctx(0), "c", 1.0)


def test_tags_learn_against_the_estimate_the_levels_give() -> None:
    policy = make_policy("greedy", multires=True).warm_start([profile("a"), profile("b")])
    post = policy.posterior
    c = ctx(1, tags=("app=x",))
    w = post.reference_weights(c)
    assert w.sum() == pytest.approx(1.0)
    assert np.allclose(w @ post.reference_means(), post.mean(ctx(1)))
    for _ in range(30):  # outcomes exactly at the current estimate: no correction builds up
        post.tags.learn(c.tags, w, 0, float(post.mean(ctx(1))[0]), "label", post.noise)  # type: ignore[union-attr]
    corr = post.tags.correction(c.tags, post.reference_means())  # type: ignore[union-attr]
    assert corr is not None and abs(corr[0]) < 1e-9


def test_state_round_trips_with_levels() -> None:
    policy = make_policy("default", seed=1).warm_start([profile("a"), profile("b")])
    for i in range(40):
        d = policy.select(ctx(i % 2, key=i, tags=("app=x",)))
        policy.update(ctx(i % 2, key=i, tags=("app=x",)), d.index, float(i % 3 == 0))
    restored = Policy.from_json(policy.to_json())
    assert restored.to_state() == policy.to_state()
    assert np.array_equal(restored.mean_scores(ctx(1)), policy.mean_scores(ctx(1)))


def test_the_protocol_fits_levels_and_replays_them() -> None:
    log = generate_log(n_prompts=400, n_models=3, seed=2)
    emb = HashingEmbedder(dim=32).encode(log.prompts)
    s = prepare(log, emb, k=4, seed=0, levels=(2, 8))
    assert s.cells.shape == (log.n_prompts, 2) and s.cells[:, 1].max() < 8
    assert s.contexts(np.array([5]))[0].cells == tuple(int(c) for c in s.cells[5])
    assert all(len(p.levels) == 2 for p in s.profiles)
    coarse = prepare(log, emb, k=4, seed=0, levels=(9999,))  # cut to the fit prompts
    assert coarse.profiles[0].levels[0][0].size == coarse.fit_idx.size
    exp = Experiment(steps=200, seeds=1, levels=(2, 8))
    trace = run_seeds(setups(log, emb, exp), exp, "default")[0]
    assert trace.steps == 200


def test_a_weighted_level_counts_that_many_times_a_cluster() -> None:
    pool = [profile("a"), profile("b")]
    even = make_policy("greedy", multires=True).warm_start(pool)
    heavy = make_policy("greedy", multires=True).warm_start(pool, level_weights=[3.0])
    post = even.posterior
    lv = post.levels
    assert lv is not None and lv.weights == (1.0,)
    assert heavy.posterior.levels is not None and heavy.posterior.levels.weights == (3.0,)
    cluster = post.alpha[0] / (post.alpha[0] + post.beta[0])
    level = lv.alpha[0][1] / (lv.alpha[0][1] + lv.beta[0][1])
    assert np.allclose(heavy.posterior.mean(ctx(1)), (cluster + 3.0 * level) / 4.0)
    # the tags' reference: the same weighted average of the cluster's and the cell's means
    w = heavy.posterior.reference_weights(ctx(1, tags=("app=x",)))
    assert w.sum() == pytest.approx(1.0) and w[0] == pytest.approx(0.25)
    assert np.allclose(w @ heavy.posterior.reference_means(), heavy.posterior.mean(ctx(1)))
    for bad in ([0.0], [1.0, 1.0], [float("nan")]):
        with pytest.raises(ValueError, match="one finite weight > 0 per level"):
            make_policy("greedy", multires=True).warm_start(pool, level_weights=bad)


def test_level_weights_are_kept_in_the_state_and_older_states_weigh_one() -> None:
    policy = make_policy("default", seed=1).warm_start(
        [profile("a"), profile("b")], level_weights=[3.0]
    )
    restored = Policy.from_json(policy.to_json())
    assert restored.posterior.levels is not None
    assert restored.posterior.levels.weights == (3.0,)
    state = policy.posterior.levels.to_state()  # type: ignore[union-attr]
    for level in state:
        del level["weight"]  # as saved before levels had weights
    assert Levels.from_state(state).weights == (1.0,)
