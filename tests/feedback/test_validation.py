"""Hostile input on real SQLite and real PostgreSQL: non-finite numbers, unsafe text, coerced
types, blank prompts and oversized conversations get a 4xx with a reason, never a 5xx."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from fastapi.testclient import TestClient

BAD_NUMBERS = ("NaN", "Infinity", "-Infinity", "1e999", "-1e999")
BAD_TEXT = ("\\ud800", "a\\udfffb", "nul\\u0000byte")


def _post_raw(c: TestClient, url: str, raw: str, **kw: Any) -> Any:
    return c.request(
        kw.pop("method", "POST"),
        url,
        content=raw.encode(),
        headers={"content-type": "application/json", **kw.pop("headers", {})},
    )


def _refused(r: Any, field: str) -> None:
    """A 422 whose JSON body names ``field``."""
    assert r.status_code == 422, r.text
    body = r.json()  # the echo of the bad input must itself be valid JSON
    assert field in json.dumps(body), body


def _feedback_base(c: TestClient, h: Any) -> str:
    d = h.route(c)
    return f'"decision_id": "{d["decision_id"]}", "token": "{d["token"]}"'


def _model(name: str, rows: str = "") -> str:
    rows = rows or ", ".join(
        json.dumps({"prompt": f"What is {i} + 1?", "correct": 1}) for i in range(8)
    )
    return f'{{"name": {name}, "cost": 0.001, "rows": [{rows}]}}'


def test_non_finite_numbers_are_422_everywhere(client: TestClient, h: Any) -> None:
    admin = h.admin()
    base = _feedback_base(client, h)
    name = client.get("/models").json()[0]["name"]
    for bad in BAD_NUMBERS:
        cases = [
            ("/route", f'{{"prompt": "hi", "lam": {bad}}}', "lam", "POST"),
            ("/route", f'{{"prompt": "hi", "budget": {bad}}}', "budget", "POST"),
            ("/feedback", f'{{{base}, "score": {bad}}}', "score", "POST"),
            ("/feedback", f'{{{base}, "label": {bad}}}', "label", "POST"),
            ("/admin/lam", f'{{"lam": {bad}}}', "lam", "PUT"),
            ("/admin/budget", f'{{"budget": {bad}}}', "budget", "PUT"),
            (f"/models/{name}", f'{{"cost": {bad}}}', "cost", "PATCH"),
            ("/models", _model('"m1"').replace('"cost": 0.001', f'"cost": {bad}'), "cost", "POST"),
            ("/models", _model('"m1"', f'{{"prompt": "x", "correct": {bad}}}'), "correct", "POST"),
            (
                "/models",
                _model('"m1"', f'{{"prompt": "x", "correct": 1, "cost": {bad}}}'),
                "cost",
                "POST",
            ),
        ]
        for url, raw, field, method in cases:
            _refused(_post_raw(client, url, raw, method=method, headers=admin), field)
    assert [m["name"] for m in client.get("/models").json()].count("m1") == 0


def test_unsafe_text_is_422_in_every_string_field(client: TestClient, h: Any) -> None:
    admin = h.admin()
    for bad in BAD_TEXT:
        s = f'"{bad}"'
        base = _feedback_base(client, h)
        cases = [
            ("/route", f'{{"prompt": {s}}}', "prompt"),
            ("/route", f'{{"messages": [{{"role": "user", "content": {s}}}]}}', "content"),
            ("/route", f'{{"prompt": "hi", "conversation_id": {s}}}', "conversation_id"),
            ("/route", f'{{"prompt": "hi", "allowed": [{s}]}}', "allowed"),
            ("/feedback", f'{{{base}, "label": 1, "source": {s}}}', "source"),
            ("/feedback", f'{{{base}, "label": 1, "user": {s}}}', "user"),
            ("/feedback", f'{{"decision_id": {s}, "token": "t", "label": 1}}', "decision_id"),
            ("/feedback", f'{{"decision_id": "d", "token": {s}, "label": 1}}', "token"),
            ("/models", _model(s), "name"),
            ("/models", _model('"m2"', f'{{"prompt": {s}, "correct": 1}}'), "prompt"),
        ]
        for url, raw, field in cases:
            _refused(_post_raw(client, url, raw, headers=admin), field)
    # Bytes that are not UTF-8, and an integer too long to read: 400 saying why.
    r = client.post(
        "/route", content=b'{"prompt": "\xff"}', headers={"content-type": "application/json"}
    )
    assert r.status_code == 400 and "utf-8" in r.json()["detail"]
    r = _post_raw(client, "/route", '{"prompt": "hi", "lam": 1' + "0" * 5000 + "}")
    assert r.status_code == 400 and "digits" in r.json()["detail"]
    # A key (JSON object name) with a lone surrogate is refused too.
    assert _post_raw(client, "/route", '{"prompt": "hi", "\\ud800": 1}').status_code == 422
    r = client.patch("/models/a%00b", json={"cost": 1.0}, headers=admin)
    _refused(r, "name")
    ok = h.route(client, "naïve café 🚀 — ünïcode is fine")
    assert ok["model"]


def test_no_coercion_a_boolean_is_not_a_label(client: TestClient, h: Any) -> None:
    d = h.route(client)
    base = {"decision_id": d["decision_id"], "token": d["token"]}
    for body, field in [
        ({**base, "label": True}, "label"),
        ({**base, "label": False}, "label"),
        ({**base, "label": "1"}, "label"),
        ({**base, "score": True}, "score"),
        ({**base, "score": "0.5"}, "score"),
        ({**base, "thumbs": True}, "thumbs"),
        ({**base, "label": 1, "source": 7}, "source"),
    ]:
        _refused(client.post("/feedback", json=body), field)
    _refused(client.post("/route", json={"prompt": "hi", "lam": "0.5"}), "lam")
    _refused(client.post("/route", json={"prompt": 42}), "prompt")
    _refused(client.post("/route", json={"prompt": "hi", "conversation_id": 5}), "conversation_id")
    _refused(client.put("/admin/lam", json={"lam": True}, headers=h.admin()), "lam")
    name = client.get("/models").json()[0]["name"]
    _refused(client.patch(f"/models/{name}", json={"cost": "1"}, headers=h.admin()), "cost")
    # Integers stay fine for float fields.
    assert client.post("/route", json={"prompt": "hi", "lam": 1}).status_code == 200
    assert client.post("/feedback", json={**base, "score": 1}).status_code == 201


@pytest.mark.parametrize("prompt", ["", " ", "\n\t  \r\n"])
def test_blank_prompt_is_422(client: TestClient, prompt: str) -> None:
    _refused(client.post("/route", json={"prompt": prompt}), "prompt")
    msgs = [{"role": "user", "content": prompt}, {"role": "assistant", "content": "hello"}]
    _refused(client.post("/route", json={"messages": msgs}), "blank")
    # One blank turn among real ones is fine: the conversation has text to route on.
    msgs.append({"role": "user", "content": "and now in Rust?"})
    assert client.post("/route", json={"messages": msgs}).status_code == 200


def test_message_count_and_size_limits(client: TestClient, h: Any) -> None:
    service = client.app.state.service  # type: ignore[attr-defined]
    service.settings = replace(service.settings, max_messages=3, max_message_chars=50)
    many = [{"role": "user", "content": f"turn {i}"} for i in range(4)]
    r = client.post("/route", json={"messages": many})
    assert r.status_code == 422 and "4 messages; at most 3" in r.json()["detail"]
    long = [{"role": "user", "content": "x" * 51}]
    r = client.post("/route", json={"messages": long})
    assert r.status_code == 422 and "message 0 holds 51 characters" in r.json()["detail"]
    r = client.post("/route", json={"prompt": "y" * 51})
    assert r.status_code == 422 and "MAX_MESSAGE_CHARS" in r.json()["detail"]
    assert client.post("/route", json={"messages": many[:3]}).status_code == 200


def test_route_takes_chats_up_to_the_settings_defaults_and_its_schema_says_so(
    client: TestClient,
) -> None:
    """The settings are the only size limits: 2,048 messages and a 200,000-character prompt
    (both above what an earlier schema hard-coded) route; the schema states the settings."""
    chat = [{"role": "user", "content": f"turn {i} about sorting"} for i in range(2048)]
    assert client.post("/route", json={"messages": chat}).status_code == 200
    r = client.post("/route", json={"messages": [*chat, chat[0]]})
    assert r.status_code == 422 and "2049 messages; at most 2048" in r.json()["detail"]
    assert client.post("/route", json={"prompt": "why? " * 40_000}).status_code == 200
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    route, content = schemas["RouteRequest"]["properties"], schemas["Message"]["properties"]
    strings = [b for b in route["prompt"]["anyOf"] if b.get("type") == "string"]
    arrays = [b for b in route["messages"]["anyOf"] if b.get("type") == "array"]
    assert strings[0]["maxLength"] == content["content"]["maxLength"] == 1_048_576
    assert arrays[0]["maxItems"] == 2048


def test_body_limit_is_413_before_parsing(client: TestClient, h: Any) -> None:
    service = client.app.state.service  # type: ignore[attr-defined]
    service.settings = replace(service.settings, max_body_bytes=2_000)
    big = json.dumps({"prompt": "z" * 3_000})
    r = client.post("/route", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "2000 bytes" in r.json()["detail"]

    def chunks() -> Any:  # no Content-Length: counted as it streams
        for part in range(0, len(big), 500):
            yield big[part : part + 500].encode()

    r = client.post("/route", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and "MAX_BODY_BYTES" in r.json()["detail"]
    # Not JSON at all, but too big: refused for its size, not parsed.
    r = client.post("/feedback", content=b"\xff" * 5_000, headers={"content-type": "text/plain"})
    assert r.status_code == 413
    assert h.route(client)["model"]


def test_model_names_with_slashes_and_any_printable_character(client: TestClient, h: Any) -> None:
    admin = h.admin()
    rows = [{"prompt": f"What is {i} * 2?", "correct": 1} for i in range(8)]
    for name, quoted in [
        ("openai/gpt-4o", "openai%2Fgpt-4o"),
        ("org/team/model:v1 (beta) #2?", "org%2Fteam%2Fmodel%3Av1%20%28beta%29%20%232%3F"),
        ("modèle ünïcode ✓", "mod%C3%A8le%20%C3%BCn%C3%AFcode%20%E2%9C%93"),
    ]:
        r = client.post("/models", json={"name": name, "cost": 0.001, "rows": rows}, headers=admin)
        assert r.status_code == 201, r.text
        assert h.route(client, allowed=[name])["model"] == name
        raw = name.replace("#", "%23").replace("?", "%3F")  # the rest goes as typed
        r = client.patch(f"/models/{raw}", json={"cost": 0.25}, headers=admin)
        assert r.status_code == 200 and r.json() == {**r.json(), "name": name, "cost": 0.25}
        r = client.patch(f"/models/{quoted}", json={"cost": 0.5}, headers=admin)
        assert r.status_code == 200 and r.json()["cost"] == 0.5
        assert client.delete(f"/models/{quoted}", headers=admin).status_code == 200
        r = client.delete(f"/models/{raw}", headers=admin)
        assert r.status_code == 404 and name in r.json()["detail"]
    assert client.patch("/models/a/ghost", json={"cost": 1}, headers=admin).status_code == 404
    for bad in ("tab\there", "new\nline", " ", ""):
        r = client.post("/models", json={"name": bad, "cost": 0.001, "rows": rows}, headers=admin)
        _refused(r, "name")


def test_changed_feedback_value_is_409_showing_the_stored_one(client: TestClient, h: Any) -> None:
    for source in ({"source": "app-1"}, {}):
        d = h.route(client)
        body = {"decision_id": d["decision_id"], "token": d["token"], **source}
        first = client.post("/feedback", json={**body, "label": 1})
        assert first.status_code == 201, first.text
        same = client.post("/feedback", json={**body, "label": 1})
        assert same.status_code == 200 and same.json()["duplicate"] is True
        changed = client.post("/feedback", json={**body, "label": 0})
        assert changed.status_code == 409, changed.text
        stored = changed.json()["stored"]
        assert stored["value"] == 1.0 and stored["kind"] == "label"
        assert stored["feedback_id"] == first.json()["feedback_id"]
        assert stored["source"] == source.get("source")
        assert "value 1" in changed.json()["detail"]
        # Another kind from the same source is its own feedback, not a change.
        assert client.post("/feedback", json={**body, "score": 0.3}).status_code == 201
        r = client.post("/feedback", json={**body, "score": 0.7}, headers={"Idempotency-Key": "x"})
        assert r.status_code == 409 and r.json()["stored"]["value"] == 0.3
    post = client.get("/admin/posterior", headers=h.admin()).json()
    assert post["applied_feedback"] == 4
