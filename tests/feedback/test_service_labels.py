"""Active labelling through the service: nominations, labels stored, learnt by every replica."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from feedback.app import create_app
from feedback.settings import Settings


def evidence(c: TestClient) -> int:
    """How many outcomes the replica's policy has learnt."""
    return int(c.app.state.service.router.policy.counters[0])  # type: ignore[attr-defined]


def test_a_nominated_prompt_labelled_is_learnt_everywhere_and_survives_a_restart(
    shared_settings: Settings, h: Any
) -> None:
    with TestClient(create_app(shared_settings)) as a, TestClient(create_app(shared_settings)) as b:
        for i in range(12):
            h.route(a, prompt=f"question number {i} about sorting lists")
        r = a.get("/admin/nominations", params={"n": 3}, headers=h.admin())
        assert r.status_code == 200, r.text
        noms = r.json()
        assert len(noms) == 3 and set(noms[0]) == {"prompt_key", "text"}
        assert noms[0]["text"].startswith("question number")
        sampled = a.get("/admin/nominations", params={"n": 20}, headers=h.admin()).json()
        assert len(sampled) == 12 and len({x["prompt_key"] for x in sampled}) == 12  # all kept
        models = a.app.state.service.router.models  # type: ignore[attr-defined]
        outcomes = {models[0]: 1, models[1]: 0, models[2]: 0.5}
        body = {"prompt_key": noms[0]["prompt_key"], "outcomes": outcomes}
        r = a.post("/admin/labels", json=body, headers=h.admin())
        assert r.status_code == 201, r.text
        assert r.json()["learnt"] == 3
        assert evidence(a) == 3
        again = a.post("/admin/labels", json=body, headers=h.admin())
        assert again.status_code == 404 and "send the prompt's text" in again.text
        b.app.state.service.sync()  # type: ignore[attr-defined]
        assert evidence(b) == 3  # the other replica rebuilt with it
        text = {"prompt": "any prompt at all", "outcomes": {models[0]: 0}}
        assert b.post("/admin/labels", json=text, headers=h.admin()).status_code == 201
        a.app.state.service.sync()  # type: ignore[attr-defined]
        assert evidence(a) == 4
    with TestClient(create_app(shared_settings)) as fresh:
        assert evidence(fresh) == 4  # replayed from ra_label
        assert fresh.post("/admin/snapshot", headers=h.admin()).status_code == 200
    with TestClient(create_app(shared_settings)) as snap:
        assert evidence(snap) == 4  # from the snapshot, not twice
        assert snap.post("/admin/reset", headers=h.admin()).status_code == 200
        assert evidence(snap) == 0
    with TestClient(create_app(shared_settings)) as after:
        assert evidence(after) == 0  # a reset drops the labels


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        ({"outcomes": {"M": 1}}, 422, "exactly one of 'prompt_key' or 'prompt'"),
        ({"prompt": "x", "prompt_key": 1, "outcomes": {"M": 1}}, 422, "exactly one"),
        ({"prompt": "x", "outcomes": {}}, 422, "at least 1"),
        ({"prompt": "x", "outcomes": {"M": 1.5}}, 422, "less than or equal to 1"),
        ({"prompt": "x", "outcomes": {"M": True}}, 422, "valid number"),
        ({"prompt": "x", "outcomes": {"nope": 1}}, 404, "no model 'nope' in the pool"),
        ({"prompt": "   ", "outcomes": {"M": 1}}, 422, "empty or only whitespace"),
        ({"prompt": "a\x00b", "outcomes": {"M": 1}}, 422, "NUL"),
        ({"prompt": "x", "outcomes": {"M": 1}, "tags": {"t": 3}}, 422, "string value"),
        ({"prompt_key": 99, "outcomes": {"M": 1}}, 404, "not among the recent prompts"),
        ({"prompt_key": 99.0, "outcomes": {"M": 1}}, 404, "not among the recent prompts"),
        ({"prompt_key": 99.5, "outcomes": {"M": 1}}, 422, "valid integer"),
        ({"prompt_key": "99", "outcomes": {"M": 1}}, 422, "valid integer"),
    ],
)
def test_bad_labels_are_refused_with_a_reason(
    client: TestClient, h: Any, body: dict[str, Any], status: int, reason: str
) -> None:
    model = client.app.state.service.router.models[0]  # type: ignore[attr-defined]
    body = {**body, "outcomes": {model if k == "M" else k: v for k, v in body["outcomes"].items()}}
    r = client.post("/admin/labels", json=body, headers=h.admin())
    assert r.status_code == status and reason in r.text, r.text
    assert evidence(client) == 0


def test_labelling_needs_the_admin_key_and_candidates(h: Any) -> None:
    with TestClient(create_app(h.base_settings(label_candidates=0))) as c:
        assert c.get("/admin/nominations").status_code == 401
        r = c.get("/admin/nominations", headers=h.admin())
        assert r.status_code == 409 and "label_candidates" in r.text
        assert c.post("/admin/labels", json={"prompt": "x", "outcomes": {}}).status_code == 401
