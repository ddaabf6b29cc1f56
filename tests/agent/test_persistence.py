"""Saving a Router: one plain-JSON state file, and directories of the older two-file layout."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent.embedder import HashingEmbedder
from agent.router import Router
from agent.synthetic_log import generate_log


@pytest.fixture(scope="module")
def router_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Router, Path, Any]:
    log = generate_log(n_prompts=200, n_models=3, seed=2)
    router = Router.from_log(log, embedder=HashingEmbedder(dim=64), k=4, policy="greedy")
    d = router.route(log.prompts[3], conversation_id="c1", budget=0.01)
    router.feedback(d.id, label=1, source="app", idempotency_key="key-1")
    path = tmp_path_factory.mktemp("saved") / "r"
    router.save(path)
    return router, path, d


def test_the_state_is_one_plain_json_file(router_dir: tuple[Router, Path, Any]) -> None:
    router, path, d = router_dir
    assert sorted(p.name for p in path.iterdir()) == ["cluster_map.npz", "router.json"]
    state = json.loads((path / "router.json").read_text())
    assert set(state) == {"params", "embedder", "policy", "sticky", "pacers", "store"}
    assert "pickle" not in (path / "router.json").read_text()
    loaded = Router.load(path, embedder=HashingEmbedder(dim=64))
    assert loaded.state() == router.state()
    again = loaded.feedback(d.id, label=1, source="app")
    assert again.duplicate and again.weight == 1.0
    assert loaded.feedback(d.id, label=1, source="app", idempotency_key="key-1").duplicate


def test_a_directory_of_the_two_file_layout_loads(
    router_dir: tuple[Router, Path, Any], tmp_path: Path
) -> None:
    router, path, d = router_dir
    state = json.loads((path / "router.json").read_text())
    old = tmp_path / "old"
    old.mkdir()
    (old / "cluster_map.npz").write_bytes((path / "cluster_map.npz").read_bytes())
    (old / "policy.json").write_text(json.dumps(state["policy"]))
    ledger = [{**r, "seen": [["label", "app"]]} for r in state["store"]["decisions"]]
    legacy = {k: state[k] for k in ("params", "embedder", "sticky", "pacers")}
    (old / "router.json").write_text(json.dumps({**legacy, "ledger": ledger}))
    loaded = Router.load(old, embedder=HashingEmbedder(dim=64))
    assert loaded.policy.to_state() == router.policy.to_state()
    assert loaded.conversations.last("c1") == d.model
    # the old layout kept which (kind, source) had counted, not the value: any repeat is one
    assert loaded.feedback(d.id, label=0, source="app").duplicate
    assert not loaded.feedback(d.id, label=0, source="other").duplicate
    loaded.save(old)
    assert not (old / "policy.json").exists()
    assert Router.load(old, embedder=HashingEmbedder(dim=64)).state() == loaded.state()
