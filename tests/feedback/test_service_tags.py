"""App tags and budget pacers through the service: validated, stored, learned, rebuilt."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from feedback.app import create_app
from feedback.settings import Settings


def test_tags_are_learned_and_survive_a_rebuild(shared_settings: Settings, h: Any) -> None:
    with TestClient(create_app(shared_settings)) as c:
        d = h.route(c, tags={"task": "code", "tenant": "acme"})
        r = c.post(
            "/feedback", json={"decision_id": d["decision_id"], "token": d["token"], "label": 0}
        )
        assert r.status_code == 201, r.text
        tags = c.get("/admin/posterior", headers=h.admin()).json()["tags"]
    assert set(tags) == {"task=code", "tenant=acme"}
    # A replica that starts from the database replays the feedback into the same tag rows.
    with TestClient(create_app(shared_settings)) as again:
        assert again.get("/admin/posterior", headers=h.admin()).json()["tags"] == tags
    j = again.app.state.service.router.models.index(d["model"])
    assert tags["task=code"]["evidence"][j] == 1.0 and tags["task=code"]["correction"][j] < 0


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
        before = c.app.state.service.router.pacer_state()  # type: ignore[attr-defined]
    with TestClient(create_app(shared_settings)) as again:
        assert again.app.state.service.router.pacer_state() == before  # type: ignore[attr-defined]
        assert h.route(again)["lam"] == before[0][1]["lam"]
