"""The HTTP API on real SQLite (in memory) and real PostgreSQL: happy path and every error."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient

from agent.synthetic_log import generate_log
from agent.tokens import sign


def test_route_then_feedback_moves_the_posterior(client: TestClient, h: Any) -> None:
    d = h.route(client)
    assert set(d) >= {"decision_id", "model", "scores", "token", "weights"}
    assert d["model"] in d["scores"] and len(d["token"]) == 64
    before = client.get("/admin/posterior", headers=h.admin()).json()
    r = client.post(
        "/feedback",
        json={"decision_id": d["decision_id"], "token": d["token"], "label": 1, "user": "u1"},
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["duplicate"] is False and body["kind"] == "label" and body["model"] == d["model"]
    after = client.get("/admin/posterior", headers=h.admin()).json()
    j = after["models"].index(d["model"])
    k = max(range(len(d["weights"])), key=lambda i: d["weights"][i])

    def mean(post: dict[str, Any]) -> float:
        return float(post["alpha"][k][j] / (post["alpha"][k][j] + post["beta"][k][j]))

    # a success lifts the chosen model in the decision's cluster; the warm start stays
    assert mean(after) > mean(before)
    assert after["alpha0"] == before["alpha0"] and after["beta0"] == before["beta0"]
    assert after["applied_feedback"] == before["applied_feedback"] + 1


def test_every_feedback_kind_is_accepted(client: TestClient, h: Any) -> None:
    for value in ({"label": 0}, {"score": 0.25}, {"thumbs": "down"}, {"thumbs": "up"}):
        d = h.route(client)
        r = client.post(
            "/feedback", json={"decision_id": d["decision_id"], "token": d["token"], **value}
        )
        assert r.status_code == 201, r.text


def test_route_with_messages_and_sticky_conversation(client: TestClient, h: Any) -> None:
    msgs = [
        {"role": "user", "content": "Write a Python function that merges two sorted lists."},
        {"role": "assistant", "content": "def merge(a, b): ..."},
        {"role": "user", "content": "ok, commit it"},
    ]
    client.app.state.service.router.stickiness = 1.0  # type: ignore[attr-defined]
    first = client.post("/route", json={"messages": msgs, "conversation_id": "c-1"}).json()
    for _ in range(5):
        again = client.post("/route", json={"messages": msgs, "conversation_id": "c-1"}).json()
        assert again["model"] == first["model"]
    assert (
        client.post(
            "/route", json={"messages": [{"role": "assistant", "content": "x"}]}
        ).status_code
        == 422
    )


def test_route_allowed_and_lam(client: TestClient, h: Any) -> None:
    models = [m["name"] for m in client.get("/models").json()]
    d = h.route(client, allowed=[models[1]], lam=0.5)
    assert d["model"] == models[1] and d["lam"] == 0.5
    assert sum(v is not None for v in d["scores"].values()) == 1
    r = client.post("/route", json={"prompt": "hi", "allowed": ["no-such-model"]})
    assert r.status_code == 404 and "no model 'no-such-model' in the pool" in r.text


def test_feedback_token_errors_are_403(client: TestClient, h: Any) -> None:
    d = h.route(client)
    missing = client.post("/feedback", json={"decision_id": d["decision_id"], "label": 1})
    forged = client.post(
        "/feedback", json={"decision_id": d["decision_id"], "token": "0" * 64, "label": 1}
    )
    other = h.route(client)
    swapped = client.post(
        "/feedback", json={"decision_id": d["decision_id"], "token": other["token"], "label": 1}
    )
    for r in (missing, forged, swapped):
        assert r.status_code == 403 and "token" in r.json()["detail"]


def test_unknown_decision_is_404(client: TestClient, h: Any) -> None:
    service = client.app.state.service  # type: ignore[attr-defined]
    ghost = uuid.uuid4().hex
    token = sign(service._secret, ghost)
    r = client.post("/feedback", json={"decision_id": ghost, "token": token, "label": 1})
    assert r.status_code == 404 and ghost in r.json()["detail"]


def test_late_feedback_is_410(client: TestClient, h: Any, clock: Any) -> None:
    d = h.route(client)
    clock.offset = 3601.0
    r = client.post(
        "/feedback", json={"decision_id": d["decision_id"], "token": d["token"], "thumbs": "up"}
    )
    assert r.status_code == 410 and "closes after 3600s" in r.json()["detail"]


def test_malformed_and_out_of_range_are_422(client: TestClient, h: Any) -> None:
    d = h.route(client)
    base = {"decision_id": d["decision_id"], "token": d["token"]}
    bodies = [
        {**base, "label": 2},
        {**base, "score": 1.5},
        {**base, "score": -0.1},
        {**base, "thumbs": "sideways"},
        {**base},
        {**base, "label": 1, "score": 0.5},
        {**base, "label": 1, "colour": "red"},
        {"token": d["token"], "label": 1},
    ]
    for body in bodies:
        r = client.post("/feedback", json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["detail"], body
    assert (
        client.post(
            "/feedback", content=b"{not json", headers={"content-type": "application/json"}
        ).status_code
        == 422
    )
    assert (
        client.post(
            "/route", json={"prompt": "a", "messages": [{"role": "user", "content": "b"}]}
        ).status_code
        == 422
    )
    assert client.post("/route", json={"prompt": "a", "lam": -1}).status_code == 422


def test_idempotency_key_and_same_source_count_once(client: TestClient, h: Any) -> None:
    d = h.route(client)
    body = {"decision_id": d["decision_id"], "token": d["token"], "thumbs": "up", "source": "s"}
    first = client.post("/feedback", json=body, headers={"Idempotency-Key": "k-1"})
    again = client.post("/feedback", json=body, headers={"Idempotency-Key": "k-1"})
    same_source = client.post("/feedback", json=body)
    changed = client.post("/feedback", json={**body, "thumbs": "down"})
    assert (first.status_code, again.status_code, same_source.status_code) == (201, 200, 200)
    assert (
        first.json()["feedback_id"]
        == again.json()["feedback_id"]
        == same_source.json()["feedback_id"]
    )
    assert again.json()["duplicate"] and same_source.json()["value"] == 1.0
    assert changed.status_code == 409 and changed.json()["stored"]["value"] == 1.0
    other = h.route(client)
    reuse = client.post(
        "/feedback",
        headers={"Idempotency-Key": "k-1"},
        json={"decision_id": other["decision_id"], "token": other["token"], "label": 1},
    )
    assert reuse.status_code == 422 and "Idempotency-Key" in reuse.json()["detail"]
    other_source = client.post("/feedback", json={**body, "source": "t"})
    assert other_source.status_code == 201
    posterior = client.get("/admin/posterior", headers=h.admin()).json()
    assert posterior["applied_feedback"] == 2


def test_one_source_is_capped(client: TestClient, h: Any) -> None:
    client.app.state.service.settings = client.app.state.service.settings.with_values(  # type: ignore[attr-defined]
        {"source_limit": 2}
    )
    weights = []
    for _ in range(4):
        d = h.route(client)
        r = client.post(
            "/feedback",
            json={
                "decision_id": d["decision_id"],
                "token": d["token"],
                "thumbs": "up",
                "user": "spammer",
            },
        )
        weights.append(r.json()["weight"])
    assert weights == [1.0, 1.0, 2 / 3, 0.5]


def test_models_admin_and_auth(client: TestClient, h: Any) -> None:
    names = [m["name"] for m in client.get("/models").json()]
    new = {
        "name": "newcomer",
        "cost": 0.0001,
        "rows": [{"prompt": f"What is {i} + {i}?", "correct": 1} for i in range(10)],
    }
    assert client.post("/models", json=new).status_code == 401
    assert client.post("/models", json=new, headers={"X-API-Key": "wrong"}).status_code == 401
    r = client.post("/models", json=new, headers=h.admin())
    assert r.status_code == 201 and r.json()["accuracy"] == 1.0
    assert client.post("/models", json=new, headers=h.admin()).status_code == 409
    assert [m["name"] for m in client.get("/models").json()] == [*names, "newcomer"]
    d = h.route(client, allowed=["newcomer"])
    assert d["model"] == "newcomer"
    r = client.patch("/models/newcomer", json={"cost": 0.5}, headers=h.admin())
    assert r.status_code == 200 and r.json()["cost"] == 0.5
    assert client.patch("/models/ghost", json={"cost": 1}, headers=h.admin()).status_code == 404
    assert client.patch("/models/newcomer", json={"cost": -1}, headers=h.admin()).status_code == 422
    assert client.delete("/models/newcomer", headers=h.admin()).status_code == 200
    assert client.delete("/models/newcomer", headers=h.admin()).status_code == 404
    late = client.post(
        "/feedback", json={"decision_id": d["decision_id"], "token": d["token"], "label": 1}
    )
    assert late.status_code == 201  # stored, though its model has left the pool
    for name in names[1:]:
        assert client.delete(f"/models/{name}", headers=h.admin()).status_code == 200
    assert client.delete(f"/models/{names[0]}", headers=h.admin()).status_code == 409


def test_lam_budget_reset_snapshot(client: TestClient, h: Any) -> None:
    initial = client.get("/admin/posterior", headers=h.admin()).json()
    assert client.put("/admin/lam", json={"lam": 0.7}).status_code == 401
    assert client.put("/admin/lam", json={"lam": 0.7}, headers=h.admin()).status_code == 200
    assert h.route(client)["lam"] == 0.7
    assert client.put("/admin/budget", json={"budget": 0.001}, headers=h.admin()).status_code == 200
    h.route(client)
    assert client.put("/admin/budget", json={}, headers=h.admin()).status_code == 200
    d = h.route(client)
    client.post(
        "/feedback", json={"decision_id": d["decision_id"], "token": d["token"], "label": 1}
    )
    assert client.post("/admin/snapshot", headers=h.admin()).status_code == 200
    post = client.get("/admin/posterior", headers=h.admin()).json()
    assert post["applied_feedback"] == 1 and post["alpha"] != initial["alpha"]
    assert client.post("/admin/reset", headers=h.admin()).status_code == 200
    post = client.get("/admin/posterior", headers=h.admin()).json()
    # back to the warm start: what the router believed before any feedback
    assert post["alpha"] == initial["alpha"] and post["beta"] == initial["beta"]


def test_healthz_and_openapi(client: TestClient) -> None:
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and health["models"] == 8
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/route", "/feedback", "/models", "/models/{name}", "/healthz"} <= set(paths)


def test_a_follow_up_in_a_conversation_keeps_its_model(client: TestClient, h: Any) -> None:
    prompts = generate_log(n_prompts=300, n_models=4, seed=1).prompts
    follow_ups = ("ok, now do it for {x}", "thanks, and for {x}?", "now try it with {x}")
    router = client.app.state.service.router  # type: ignore[attr-defined]
    kept = 0
    for i in range(30):
        first = h.route(client, prompts[i * 9], conversation_id=f"conv-{i}")
        if i % 2:  # as if another replica took the second turn: the database remembers
            router.conversations.load_state({})
        msgs = [
            {"role": "user", "content": prompts[i * 9]},
            {"role": "assistant", "content": "…"},
            {"role": "user", "content": follow_ups[i % 3].format(x=f"item {i}")},
        ]
        r = client.post("/route", json={"messages": msgs, "conversation_id": f"conv-{i}"})
        assert r.status_code == 200, r.text
        kept += r.json()["model"] == first["model"]
    assert kept >= 0.9 * 30
