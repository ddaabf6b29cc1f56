"""A Router's levels (the warm start's extra partitions): the task level for a log that names
tasks, K-means levels otherwise; decisions carry their cells, feedback teaches there, and save
and load keep the maps."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent.clusters import ClusterMap
from agent.embedder import HashingEmbedder
from agent.router import Router
from agent.synthetic_log import generate_log
from agent.task_map import TaskMap
from policies import Context

EMB = HashingEmbedder(dim=64)


@pytest.fixture(scope="module")
def log() -> Any:
    return generate_log(n_prompts=300, n_models=3, seed=4)


def test_a_log_that_names_tasks_gives_a_task_level(log: Any, tmp_path: Path) -> None:
    router = Router.from_log(log, embedder=EMB, k=4)
    (task_map,) = router.level_maps
    assert isinstance(task_map, TaskMap) and set(task_map.names_) == set(log.tasks)
    assert router.policy.blend.sizes == (1, 4, task_map.k_)  # type: ignore[attr-defined]
    d = router.route(log.prompts[0])
    cell = int(task_map.assign(EMB.encode([log.prompts[0]]))[0])
    assert d.cells == (cell,) and router._store.get(d.id).context.cells == (cell,)
    # feedback teaches the decision's task cell: the same prompt read in another task's cell
    # (the same cluster) learns less
    other = (cell + 1) % task_map.k_
    here = Context(d.weights, cells=(cell,))
    there = Context(d.weights, cells=(other,))
    j = router.policy.index(d.model)
    before = router.policy.mean_scores(here)[j], router.policy.mean_scores(there)[j]
    router.feedback(d.id, label=0)
    for i in range(5):
        router.feedback(router.route(log.prompts[0], allowed=[d.model]).id, label=0,
                        source=f"u{i}")  # fmt: skip
    drop_here = before[0] - router.policy.mean_scores(here)[j]
    drop_there = before[1] - router.policy.mean_scores(there)[j]
    assert drop_here > drop_there > 0
    router.save(tmp_path / "r")
    assert (tmp_path / "r" / "level_map_0.npz").exists()
    loaded = Router.load(tmp_path / "r", embedder=EMB)
    assert isinstance(loaded.level_maps[0], TaskMap)
    assert loaded.state() == router.state()
    ctx = loaded.context_for(log.prompts[5])
    assert ctx.cells == router.context_for(log.prompts[5]).cells
    assert np.array_equal(loaded.policy.mean_scores(ctx), router.policy.mean_scores(ctx))


def test_a_log_without_tasks_gives_k_means_levels(log: Any) -> None:
    bare = replace(log, tasks=[""] * log.n_prompts)
    router = Router.from_log(bare, embedder=EMB, k=4)
    assert [type(m) for m in router.level_maps] == [ClusterMap] * 3
    sizes = tuple(m.k_ for m in router.level_maps)
    assert sizes == (8, 32, 64) and router.policy.blend.sizes[2:] == sizes  # type: ignore[attr-defined]
    cells = router.route(log.prompts[0]).cells
    assert len(cells) == 3 and all(0 <= c < k for c, k in zip(cells, sizes, strict=True))
    # the baselines read no levels
    greedy = Router.from_log(log, embedder=EMB, k=4, policy="greedy")
    assert greedy.level_maps == () and greedy.route(log.prompts[0]).cells == ()


def test_maps_that_do_not_match_the_policys_levels_are_refused(log: Any) -> None:
    router = Router.from_log(log, embedder=EMB, k=4)
    k = router.level_maps[0].k_
    with pytest.raises(ValueError, match=rf"level maps of \(\) cells .* levels of \({k},\)"):
        Router(router.policy, router.cluster_map, EMB)
    other = ClusterMap(k + 1, seed=0).fit(EMB.encode(log.prompts))
    with pytest.raises(ValueError, match="level maps of"):
        Router(router.policy, router.cluster_map, EMB, level_maps=[other])
