"""Traffic cells and the shift meter in the service: on by default, per process, persisted in
the snapshot, and kept (this process's, live) across a rebuild."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from agent.traffic_cells import DEFAULT_CELLS
from feedback.app import create_app
from feedback.settings import Settings


def shifted(n: int) -> list[str]:
    """Prompts in words the synthetic pool never uses: far from every cluster."""
    return [f"qzx{i % 7} vwk{i % 5} plo{i % 3} frobnicate{i % 11}" for i in range(n)]


def traffic_corrections(client: TestClient) -> np.ndarray:
    """The fast learner's per-model corrections of the traffic cells, (cells, models): the
    last partition of its corrections (read from the policy's saved state)."""
    router = client.app.state.service.router  # type: ignore[attr-defined]
    fast = router.policy_state()["extra"]["learners"][1]
    return np.asarray(fast["model_mu"])[-router.traffic_cells.n :]


def test_cells_learn_per_process_and_survive_a_snapshot(shared_settings: Settings, h: Any) -> None:
    with TestClient(create_app(shared_settings)) as a, TestClient(create_app(shared_settings)) as b:
        sa, sb = a.app.state.service, b.app.state.service  # type: ignore[attr-defined]
        assert sa.router.traffic_cells is not None and sa.router.traffic_cells.n == DEFAULT_CELLS
        assert sa.router.policy.traffic == DEFAULT_CELLS
        for p in shifted(120):
            d = h.route(a, prompt=p)
        leaf = sa.router.open_decision(d["decision_id"]).leaf
        assert leaf >= 0  # every decision sits in one of this process's traffic cells
        assert sa.router.shift.seen == 120 and sb.router.shift.seen == 0
        body = {"decision_id": d["decision_id"], "token": d["token"], "label": 1}
        assert a.post("/feedback", json=body).status_code == 201
        j = sa.router.models.index(d["model"])
        mine = traffic_corrections(a)
        assert mine[leaf, j] > 0 and np.count_nonzero(mine[:, j]) == 1  # in its own cell only
        assert sb.sync() == 1  # the other replica learns it on the clusters and levels only:
        assert not traffic_corrections(b).any()  # its cell ids are its own
        assert sb.router.policy.counters[0] == 1
        assert a.post("/admin/snapshot", headers=h.admin()).status_code == 200
        cells = sa.router.traffic_cells.to_state()
        shift = sa.router.shift.to_state()
    # the last snapshot (a's, written as it stopped) brings its cells, its meter and what it
    # learnt in them
    with TestClient(create_app(shared_settings)) as again:
        restored = again.app.state.service.router  # type: ignore[attr-defined]
        assert restored.traffic_cells.to_state() == cells
        assert restored.shift.to_state() == shift
        np.testing.assert_array_equal(traffic_corrections(again), mine)


def test_a_rebuild_keeps_the_live_traffic_cells_and_shift_meter(
    shared_settings: Settings, h: Any
) -> None:
    """A pool change made on another replica makes this one rebuild, from the other's
    snapshot: its own traffic cells, shift meter and what it learnt in its cells (newer than
    any snapshot, and the other's cells are not its own) carry over."""
    with TestClient(create_app(shared_settings)) as a, TestClient(create_app(shared_settings)) as b:
        sa = a.app.state.service  # type: ignore[attr-defined]
        for p in shifted(60):
            d = h.route(a, prompt=p)
        body = {"decision_id": d["decision_id"], "token": d["token"], "label": 1}
        assert a.post("/feedback", json=body).status_code == 201
        learnt = traffic_corrections(a)
        assert learnt.any()
        cells, shift = sa.router.traffic_cells, sa.router.shift
        before = (cells.to_state(), shift.to_state())
        assert shift.seen == 60 and cells.opened > 0
        assert b.post("/admin/snapshot", headers=h.admin()).status_code == 200  # b's saw none
        new = {"name": "late-arrival", "cost": 0.0, "rows": [{"prompt": "2 + 2?", "correct": 1}]}
        assert b.post("/models", json=new, headers=h.admin()).status_code == 201
        revision = sa.revision
        sa.sync()  # a sees a revision it did not make: it rebuilds
        assert sa.revision == revision + 1 and "late-arrival" in sa.router.models
        assert sa.router.traffic_cells is cells and sa.router.shift is shift
        assert (cells.to_state(), shift.to_state()) == before
        # what a learnt in its own cells carries over too, not b's snapshot's (none)
        np.testing.assert_array_equal(traffic_corrections(a)[:, : learnt.shape[1]], learnt)
        d = h.route(a, prompt=shifted(61)[-1])
        assert shift.seen == 61 and sa.router.open_decision(d["decision_id"]).leaf >= 0


def test_the_setting_sizes_or_turns_off_the_cells_and_rejects_a_negative_count(h: Any) -> None:
    with TestClient(create_app(h.base_settings(traffic_cells=0))) as c:
        router = c.app.state.service.router  # type: ignore[attr-defined]
        assert router.traffic_cells is None and router.policy.traffic == 0
        assert router.shift is not None  # the shift meter does not need the cells
    with TestClient(create_app(h.base_settings(traffic_cells=8))) as c:
        router = c.app.state.service.router  # type: ignore[attr-defined]
        assert router.traffic_cells.n == 8 and router.policy.traffic == 8
    with TestClient(create_app(h.base_settings(traffic_cells=8, policy="greedy"))) as c:
        router = c.app.state.service.router  # type: ignore[attr-defined]
        assert router.traffic_cells is None and router.shift is None  # default's only
    with pytest.raises(ValueError, match="traffic_cells must be >= 0"):
        Settings.from_env({"ROUTING_AGENT_TRAFFIC_CELLS": "-1"})
