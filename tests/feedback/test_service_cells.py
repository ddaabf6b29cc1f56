"""Traffic cells in the service: on by default, per process, persisted in the snapshot."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from feedback.app import create_app
from feedback.settings import Settings


def shifted(n: int) -> list[str]:
    """Prompts in words the synthetic pool never uses: far from every cluster."""
    return [f"qzx{i % 7} vwk{i % 5} plo{i % 3} frobnicate{i % 11}" for i in range(n)]


def test_cells_learn_per_process_and_survive_a_snapshot(shared_settings: Settings, h: Any) -> None:
    with TestClient(create_app(shared_settings)) as a, TestClient(create_app(shared_settings)) as b:
        sa, sb = a.app.state.service, b.app.state.service  # type: ignore[attr-defined]
        assert sa.router.traffic_cells is not None and sa.router.traffic_cells.n == 32
        for p in shifted(120):
            d = h.route(a, prompt=p)
        leaf = sa.router.open_decision(d["decision_id"]).leaf
        assert leaf >= 0  # the gate opened on traffic unlike the pool
        body = {"decision_id": d["decision_id"], "token": d["token"], "label": 1}
        assert a.post("/feedback", json=body).status_code == 201
        assert sa.router.policy.posterior.leaf_s[leaf].sum() == pytest.approx(1.0)
        assert sb.sync() == 1  # the other replica learns it on the clusters only:
        assert sb.router.policy.posterior.leaf_s.sum() == 0.0  # its cell ids are its own
        post = sb.router.policy.posterior
        assert post.alpha.sum() == pytest.approx(post.alpha0.sum() + 1.0)
        # a row decided in a cell marks its cluster's profile stale on every replica alike
        mine = sa.router.policy.posterior
        k = int(np.argmax(d["weights"]))
        assert np.all(mine.alpha0[k] + mine.beta0[k] <= 2.0 + 1e-9)
        assert np.array_equal(mine.alpha0, post.alpha0) and np.array_equal(mine.alpha, post.alpha)
        assert a.post("/admin/snapshot", headers=h.admin()).status_code == 200
        cells = sa.router.traffic_cells.to_state()
    with TestClient(create_app(shared_settings)) as again:
        restored = again.app.state.service.router  # type: ignore[attr-defined]
        assert restored.traffic_cells.to_state() == cells
        assert restored.policy.posterior.leaf_s[leaf].sum() == pytest.approx(1.0)


def test_the_setting_turns_the_cells_off_and_rejects_a_negative_count(h: Any) -> None:
    with TestClient(create_app(h.base_settings(traffic_cells=0))) as c:
        assert c.app.state.service.router.traffic_cells is None  # type: ignore[attr-defined]
    with TestClient(create_app(h.base_settings(leaves=8))) as c:  # a shared leaf map wins
        assert c.app.state.service.router.traffic_cells is None  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="traffic_cells must be >= 0"):
        Settings.from_env({"ROUTING_AGENT_TRAFFIC_CELLS": "-1"})
