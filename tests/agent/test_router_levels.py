"""A Router's resolution levels: the task level for a log that names tasks, K-means levels
otherwise, learned from feedback and kept by save and load."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from agent.clusters import ClusterMap
from agent.embedder import HashingEmbedder
from agent.router import Router
from agent.synthetic_log import generate_log
from agent.task_map import TaskMap

EMB = HashingEmbedder(dim=64)


@pytest.fixture(scope="module")
def log():  # type: ignore[no-untyped-def]
    return generate_log(n_prompts=300, n_models=3, seed=4)


def test_a_log_that_names_tasks_gives_a_task_level(log, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    router = Router.from_log(log, embedder=EMB, k=4)
    (task_map,) = router.level_maps
    assert isinstance(task_map, TaskMap) and set(task_map.names_) == set(log.tasks)
    levels = router.policy.posterior.levels
    assert levels is not None and levels.weights == (task_map.level_weight,)
    before = levels.alpha[0].copy()
    d = router.route(log.prompts[0])
    cell = int(task_map.assign(EMB.encode([log.prompts[0]]))[0])
    assert d.cells == (cell,)
    router.feedback(d.id, label=1)
    j = router.policy.index(d.model)
    assert levels.alpha[0][cell, j] == before[cell, j] + 1.0
    router.save(tmp_path / "r")
    assert (tmp_path / "r" / "level_map_0.npz").exists()
    loaded = Router.load(tmp_path / "r", embedder=EMB)
    assert isinstance(loaded.level_maps[0], TaskMap)
    assert loaded.state() == router.state()
    ctx = loaded.context_for(log.prompts[5])
    assert ctx.cells == router.context_for(log.prompts[5]).cells
    assert np.array_equal(loaded.policy.mean_scores(ctx), router.policy.mean_scores(ctx))


def test_a_log_without_tasks_gives_k_means_levels(log) -> None:  # type: ignore[no-untyped-def]
    bare = replace(log, tasks=[""] * log.n_prompts)
    router = Router.from_log(bare, embedder=EMB, k=4)
    assert [type(m) for m in router.level_maps] == [ClusterMap] * 3
    assert router.policy.posterior.levels.weights == (1.0, 1.0, 1.0)  # type: ignore[union-attr]


def test_maps_that_weigh_otherwise_than_the_policy_are_refused(log) -> None:  # type: ignore[no-untyped-def]
    router = Router.from_log(log, embedder=EMB, k=4)
    heavier = TaskMap(weight=7.0).fit(EMB.encode(log.prompts), log.tasks)
    with pytest.raises(ValueError, match="level maps weigh"):
        Router(router.policy, router.cluster_map, EMB, level_maps=[heavier])
