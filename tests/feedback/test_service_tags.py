"""App tags and budget pacers through the service: validated and stored (tags are report-only:
:mod:`feedback.monitoring.by_tag`), pacers rebuilt."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from feedback.app import create_app
from feedback.settings import Settings


@pytest.mark.parametrize(
    ("tags", "reason"),
    [
        ({"task": 3}, "string value"),
        ({f"k{i}": "v" for i in range(9)}, "at most 8 tags"),
        ({"task": "x" * 200}, "at most 128"),
        ("code", "valid dictionary"),
        ({"task": "a\x00b"}, "NUL"),
        ({"ta\x00sk": "x"}, "NUL"),
    ],
)
def test_bad_tags_are_422_with_a_reason(client: TestClient, tags: Any, reason: str) -> None:
    r = client.post("/route", json={"prompt": "hello there", "tags": tags})
    assert r.status_code == 422 and reason in r.text, r.text


def test_budget_pacers_survive_a_snapshot_and_a_restart(shared_settings: Settings, h: Any) -> None:
    with TestClient(create_app(shared_settings)) as c:
        r = c.put("/admin/budget", json={"budget": 0.0001}, headers=h.admin())
        assert r.status_code == 200
        lams = [h.route(c, prompt=f"question {i}")["lam"] for i in range(30)]
        assert len(set(lams)) > 1  # the pacer moved λ
        assert c.post("/admin/snapshot", headers=h.admin()).status_code == 200
        before = c.app.state.service.router.state(with_store=False)["pacers"]  # type: ignore[attr-defined]
    with TestClient(create_app(shared_settings)) as again:
        assert again.app.state.service.router.state(with_store=False)["pacers"] == before  # type: ignore[attr-defined]
        assert h.route(again)["lam"] == before[0][1]["lam"]


def test_a_snapshot_is_the_router_state_and_old_snapshots_still_load(
    shared_settings: Settings, h: Any
) -> None:
    import json

    from sqlmodel import Session

    from feedback import crud

    with TestClient(create_app(shared_settings)) as c:
        d = h.route(c, conversation_id="conv-1")
        body = {"decision_id": d["decision_id"], "token": d["token"], "label": 1}
        assert c.post("/feedback", json=body).status_code == 201
        assert c.post("/admin/snapshot", headers=h.admin()).status_code == 200
        service = c.app.state.service  # type: ignore[attr-defined]
        policy = service.router.policy.to_state()
        with Session(service.engine) as s:
            snap_id, revision, hwm, gaps, _ = crud.snapshot_heads(session=s)[0]
            raw = crud.snapshot_state(session=s, snapshot_id=snap_id)
            assert revision == service.revision and raw is not None
            state = json.loads(raw)
            assert set(state) == {"router", "applied", "pool"} and "pickle" not in raw
            assert state["router"]["sticky"] == {"conv-1": d["model"]}
            # rewrite it as a snapshot of the older layout: policy and pacers beside applied,
            # and no basis (usable at its own revision only)
            old = {"policy": state["router"]["policy"], "applied": state["applied"], "pacers": []}
            crud.save_snapshot(
                session=s,
                revision=revision,
                hwm=hwm,
                gaps=json.loads(gaps),
                state=json.dumps(old),
                basis="",
                now=service.clock() + 1,
            )
    with TestClient(create_app(shared_settings)) as again:
        assert again.app.state.service.router.policy.to_state() == policy  # type: ignore[attr-defined]
