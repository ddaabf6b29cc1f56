"""The Router's leaves fitted on its own traffic: on by default, gated, persisted exactly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent.clusters import ClusterMap
from agent.embedder import HashingEmbedder
from agent.router import Router
from agent.synthetic_log import generate_log
from agent.traffic_cells import (
    DEFAULT_CELLS,
    DEFAULT_LEAF_STRENGTH,
    DEFAULT_STALE_STRENGTH,
    TrafficLeaves,
)


@pytest.fixture(scope="module")
def log() -> Any:
    return generate_log(n_prompts=300, n_models=4, seed=1)


def make(log: Any, **kwargs: Any) -> Router:
    return Router.from_log(log, embedder=HashingEmbedder(dim=64), k=6, **kwargs)


def shifted(n: int, start: int = 0) -> list[str]:
    """Prompts in words the log never uses: far from every cluster."""
    return [f"qzx{i % 7} vwk{i % 5} plo{i % 3} frobnicate{i % 11}" for i in range(start, start + n)]


def test_the_default_router_learns_on_traffic_cells(log: Any) -> None:
    router = make(log)
    assert router.traffic_cells is not None and router.traffic_cells.n == DEFAULT_CELLS
    assert router.policy.n_leaves == DEFAULT_CELLS
    assert router.policy.leaf_strength == DEFAULT_LEAF_STRENGTH
    assert make(log, traffic_cells=0).traffic_cells is None
    assert make(log, policy="greedy").traffic_cells is None
    assert make(log, policy="greedy", traffic_cells=4).policy.n_leaves == 4
    assert make(log, policy_params={"n_leaves": 8}).traffic_cells is None  # a fitted leaf map
    with pytest.raises(ValueError, match="traffic_cells must be >= 0"):
        make(log, traffic_cells=-1)


def test_a_router_refuses_two_sources_of_leaves_or_too_few(log: Any) -> None:
    router = make(log, policy_params={"n_leaves": 8})
    assert router.leaf_map is not None
    cells = TrafficLeaves.for_map(router.cluster_map, 8)
    with pytest.raises(ValueError, match="leaf map or from traffic cells"):
        Router(router.policy, router.cluster_map, router.embedder, leaf_map=router.leaf_map,
               traffic_cells=cells)  # fmt: skip
    plain = make(log, traffic_cells=0)
    with pytest.raises(ValueError, match="at least as many leaves"):
        Router(plain.policy, plain.cluster_map, plain.embedder, traffic_cells=cells)


def test_in_domain_traffic_stays_on_the_clusters_and_a_shift_opens_the_cells(log: Any) -> None:
    router = make(log)
    assert all(router.route(p).leaf == -1 for p in log.prompts[:120])
    leaves = [router.route(p).leaf for p in shifted(150)]
    assert all(leaf >= 0 for leaf in leaves[-100:])
    post = router.policy.posterior
    k = int(np.argmax(router.route(shifted(1, 500)[0]).weights))
    before = (post.alpha0 + post.beta0).copy()
    d = router.route(shifted(1, 500)[0])
    router.feedback(d.id, label=1)
    assert post.leaf_s[d.leaf].sum() == pytest.approx(1.0)
    # feedback from a cell marks its cluster's profile stale: that prior only is capped
    after = post.alpha0 + post.beta0
    assert np.allclose(after[k], np.minimum(before[k], DEFAULT_STALE_STRENGTH))
    assert np.array_equal(np.delete(after, k, axis=0), np.delete(before, k, axis=0))


def test_the_cells_persist_as_plain_data_and_resume_exactly(log: Any, tmp_path: Path) -> None:
    a = make(log, seed=3)
    for p in [*log.prompts[:40], *shifted(80)]:
        a.route(p)
    state = json.loads(json.dumps(a.state(), allow_nan=False))
    assert state["traffic_cells"]["cells"]["counts"]
    b = Router.from_state(state, a.cluster_map, embedder=a.embedder)
    a.save(tmp_path / "r")
    c = Router.load(tmp_path / "r", embedder=a.embedder)
    later = shifted(40, 80)
    got = [[r.route(p).leaf for p in later] for r in (a, b, c)]
    assert got[0] == got[1] == got[2] and max(got[0]) >= 0


def test_a_cluster_map_saved_before_the_gate_keeps_it_shut(log: Any, tmp_path: Path) -> None:
    router = make(log)
    path = tmp_path / "old.npz"
    router.cluster_map.save(path)
    with np.load(path) as z:
        np.savez(path, **{k: z[k] for k in z.files if k != "similarity"})
    old = ClusterMap.load(path)
    assert np.isnan(old.similarity_)
    cells = TrafficLeaves.for_map(old, 4)
    assert all(cells.leaf(v) == -1 for v in router.embedder.encode(shifted(60)))
    assert json.dumps(cells.to_state(), allow_nan=False)
