"""The shift meter in the service: ``default``'s only, per process, persisted in the snapshot,
and kept (this process's, live) across a rebuild."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from feedback.app import create_app
from feedback.settings import Settings


def shifted(n: int) -> list[str]:
    """Prompts in words the synthetic pool never uses: far from every cluster."""
    return [f"qzx{i % 7} vwk{i % 5} plo{i % 3} frobnicate{i % 11}" for i in range(n)]


def test_the_meter_observes_per_process_and_survives_a_snapshot(
    shared_settings: Settings, h: Any
) -> None:
    with TestClient(create_app(shared_settings)) as a, TestClient(create_app(shared_settings)) as b:
        sa, sb = a.app.state.service, b.app.state.service  # type: ignore[attr-defined]
        assert sa.router.shift is not None and sa.router.shift.seen == 0
        for p in shifted(120):
            d = h.route(a, prompt=p)
        assert sa.store.get(d["decision_id"]).context.shift == 0.0  # the request's, not kept
        assert sa.router.shift.seen == 120 and sb.router.shift.seen == 0
        body = {"decision_id": d["decision_id"], "token": d["token"], "label": 1}
        assert a.post("/feedback", json=body).status_code == 201
        assert sb.sync() == 1  # the other replica learns it
        assert sb.router.policy.counters[0] == 1
        policies = [r.state(with_store=False)["policy"] for r in (sa.router, sb.router)]
        assert policies[1]["extra"] == policies[0]["extra"]
        assert a.post("/admin/snapshot", headers=h.admin()).status_code == 200
        shift = sa.router.shift.to_state()
    # the last snapshot (a's, written as it stopped) brings its meter
    with TestClient(create_app(shared_settings)) as again:
        restored = again.app.state.service.router  # type: ignore[attr-defined]
        assert restored.shift.to_state() == shift


def test_a_rebuild_keeps_the_live_shift_meter(shared_settings: Settings, h: Any) -> None:
    """A pool change made on another replica makes this one rebuild, from the other's
    snapshot: its own shift meter (newer than any snapshot) carries over."""
    with TestClient(create_app(shared_settings)) as a, TestClient(create_app(shared_settings)) as b:
        sa = a.app.state.service  # type: ignore[attr-defined]
        for p in shifted(60):
            d = h.route(a, prompt=p)
        body = {"decision_id": d["decision_id"], "token": d["token"], "label": 1}
        assert a.post("/feedback", json=body).status_code == 201
        shift = sa.router.shift
        before = shift.to_state()
        assert shift.seen == 60
        assert b.post("/admin/snapshot", headers=h.admin()).status_code == 200  # b's saw none
        new = {"name": "late-arrival", "cost": 0.0, "rows": [{"prompt": "2 + 2?", "correct": 1}]}
        assert b.post("/models", json=new, headers=h.admin()).status_code == 201
        revision = sa.revision
        sa.sync()  # a sees a revision it did not make: it rebuilds
        assert sa.revision == revision + 1 and "late-arrival" in sa.router.models
        assert sa.router.shift is shift and shift.to_state() == before
        h.route(a, prompt=shifted(61)[-1])
        assert shift.seen == 61


def test_only_default_has_a_shift_meter(h: Any) -> None:
    with TestClient(create_app(h.base_settings(policy="greedy"))) as c:
        router = c.app.state.service.router  # type: ignore[attr-defined]
        assert router.shift is None
