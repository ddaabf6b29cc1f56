"""The warm start a Router is built from (agent.warm_start.fit_pool) and building one from it
(Router.from_profiles): the cluster map, the profiles at every level, the level maps, the
stacking weights and the shift meter's reference."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from agent.embedder import HashingEmbedder
from agent.router import Router
from agent.synthetic_log import generate_log
from agent.task_map import TaskMap
from agent.warm_start import fit_pool

EMB = HashingEmbedder(dim=64)


@pytest.fixture(scope="module")
def log() -> Any:
    return generate_log(n_prompts=300, n_models=3, seed=7)


@pytest.fixture(scope="module")
def pool(log: Any) -> Any:
    return fit_pool(log, embedder=EMB, k=5, levels=("task", 8))


def test_the_pool_holds_every_part_of_the_warm_start(log: Any, pool: Any) -> None:
    assert pool.cluster_map.k_ == 5
    assert [p.name for p in pool.profiles] == list(log.models)
    task, kmeans = pool.level_maps
    assert isinstance(task, TaskMap) and set(task.names_) == set(log.tasks) and kmeans.k_ == 8
    for j, profile in enumerate(pool.profiles):
        assert profile.trials.sum() == log.n_prompts  # every row, once per partition
        assert [n.size for _, n in profile.levels] == [task.k_, 8]
        assert all(n.sum() == log.n_prompts for _, n in profile.levels)
        assert profile.successes.sum() == pytest.approx(log.correct[:, j].sum())
    blend = np.asarray(pool.blend)
    assert blend.shape == (4,) and np.all(blend >= 0) and blend.sum() > 0  # all, clusters, levels
    assert pool.shift.center.shape == (64,) and pool.shift.seen == 0 and pool.shift.spread > 0


def test_a_share_of_the_rows_profiles_the_models(log: Any) -> None:
    half = fit_pool(log, embedder=EMB, k=5, val_share=0.5, seed=1)
    assert all(p.trials.sum() == 150 for p in half.profiles)
    assert half.level_maps == () and len(half.blend) == 2
    with pytest.raises(ValueError, match=r"val_share must be in \(0, 1\]"):
        fit_pool(log, embedder=EMB, k=5, val_share=0.0)


def test_from_profiles_builds_what_from_log_builds(log: Any, pool: Any) -> None:
    router = Router.from_profiles(
        pool.profiles, pool.cluster_map, EMB, level_maps=pool.level_maps, blend=pool.blend,
        shift=pool.shift,
    )  # fmt: skip
    weights = router.policy.blend.weights  # type: ignore[attr-defined]
    np.testing.assert_allclose(weights, np.asarray(pool.blend) / sum(pool.blend))
    assert router.shift is not None and router.shift.to_state() == pool.shift.to_state()
    d = router.route(log.prompts[0])
    assert router.shift.seen == 1 and pool.shift.seen == 0  # the router observes its own copy
    assert len(d.cells) == 2
    from_log = Router.from_log(log, embedder=EMB, k=5)  # the same fit, with the log's levels
    fitted = fit_pool(log, embedder=EMB, k=5, levels=("task",))
    again = Router.from_profiles(
        fitted.profiles, fitted.cluster_map, EMB, level_maps=fitted.level_maps,
        blend=fitted.blend, shift=fitted.shift,
    )  # fmt: skip
    assert again.policy.to_state() == from_log.policy.to_state()
    assert again.shift is not None and from_log.shift is not None
    assert again.shift.to_state() == from_log.shift.to_state()
    # without a shift meter the default reads every context as unshifted
    plain = Router.from_profiles(pool.profiles, pool.cluster_map, EMB, level_maps=pool.level_maps)
    assert plain.shift is None and plain.context_for(log.prompts[1]).shift == 0.0
    np.testing.assert_allclose(plain.policy.blend.weights, 0.25)  # type: ignore[attr-defined]
