"""Which key guards which endpoint: each group open when its keys are unset, 401 (in its own
shape) when they are set and the key is missing or wrong, 200 with a right key; ``/healthz``
always open. And what the schema says of it, and ``Allow`` on a 405."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

READ_KEY = "rk-1"
CLIENT_KEY = "ck-1"
READS = [
    "/report",
    "/report.html",
    "/metrics",
    "/models",
    "/openapi.json",
    "/docs",
    "/docs-static/swagger-ui.css",
]


def _client(h: Any, **keys: str) -> Iterator[TestClient]:
    app, engine = h.memory_app(h.base_settings(**keys), time.time)
    with TestClient(app) as c:
        yield c
    engine.dispose()


@pytest.fixture(scope="module")
def open_client(h: Any) -> Iterator[TestClient]:
    yield from _client(h)


@pytest.fixture(scope="module")
def locked(h: Any) -> Iterator[TestClient]:
    yield from _client(h, read_keys=f"{READ_KEY}, rk-2", client_keys=CLIENT_KEY)


def _basic(password: str, user: str = "grafana") -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.mark.parametrize("path", [*READS, "/healthz"])
def test_reads_are_open_without_read_keys(open_client: TestClient, path: str) -> None:
    assert open_client.get(path).status_code == 200


@pytest.mark.parametrize("path", READS)
def test_read_keys_guard_every_read(locked: TestClient, path: str, h: Any) -> None:
    for refused in ({}, {"Authorization": "Bearer nope"}, _basic("nope"), {"X-API-Key": "no"}):
        r = locked.get(path, headers=refused)
        assert r.status_code == 401, (path, refused)
        assert r.json()["detail"].startswith("missing or wrong key")
        assert r.headers["WWW-Authenticate"].startswith("Basic realm=")
    for known in (
        {"Authorization": f"Bearer {READ_KEY}"},
        {"Authorization": "bearer rk-2"},
        {"Authorization": f"Bearer {CLIENT_KEY}"},
        {"Authorization": f"Bearer {h.api_key}"},
        _basic(READ_KEY),
        h.admin(),
    ):
        assert locked.get(path, headers=known).status_code == 200, (path, known)


def test_healthz_stays_open_with_every_key_set(locked: TestClient) -> None:
    assert locked.get("/healthz").status_code == 200


def test_a_read_key_opens_no_client_or_admin_endpoint(locked: TestClient) -> None:
    read = {"Authorization": f"Bearer {READ_KEY}"}
    r = locked.post("/route", json={"prompt": "hi"}, headers=read)
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    r = locked.put("/admin/lam", json={"lam": 0.1}, headers=read)
    assert r.status_code == 401 and r.json() == {"detail": "missing or wrong X-API-Key"}


def test_client_endpoints_open_without_client_keys(open_client: TestClient, h: Any) -> None:
    d = h.route(open_client)
    body = {"decision_id": d["decision_id"], "token": d["token"], "label": 1}
    assert open_client.post("/feedback", json=body).status_code == 201


def test_client_keys_guard_route_and_feedback_in_openai_shape(locked: TestClient) -> None:
    for path, body in (("/route", {"prompt": "hi"}), ("/feedback", {"decision_id": "x"})):
        for refused in ({}, {"Authorization": "Bearer nope"}, {"Authorization": CLIENT_KEY}):
            r = locked.post(path, json=body, headers=refused)
            assert r.status_code == 401, (path, refused)
            assert set(r.json()["error"]) == {"message", "type", "param", "code"}
    ok = locked.post(
        "/route", json={"prompt": "hi"}, headers={"Authorization": f"Bearer {CLIENT_KEY}"}
    )
    assert ok.status_code == 200


def _security(schema: dict[str, Any], path: str, method: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = schema["paths"][path][method].get("security", [])
    return found


def test_the_schema_says_which_key_each_operation_takes(
    open_client: TestClient, locked: TestClient, h: Any
) -> None:
    unset = open_client.get("/openapi.json").json()
    keyed = locked.get("/openapi.json", headers=h.admin()).json()
    assert set(keyed["components"]["securitySchemes"]) == {"clientKey", "adminKey", "readBasic"}
    assert _security(keyed, "/route", "post") == [{"clientKey": []}]
    assert _security(unset, "/route", "post") == [{"clientKey": []}, {}]
    assert {} not in _security(keyed, "/metrics", "get")
    assert {} in _security(unset, "/metrics", "get")
    admin = [{"adminKey": []}]
    assert _security(keyed, "/admin/lam", "put") == _security(unset, "/admin/lam", "put") == admin
    assert "security" not in keyed["paths"]["/healthz"]["get"]


def test_a_405_allows_every_method_of_the_path(open_client: TestClient) -> None:
    r = open_client.request("OPTIONS", "/models/openai/gpt-4o")
    assert r.status_code == 405 and r.headers["Allow"] == "DELETE, PATCH"
    r = open_client.put("/models")
    assert r.status_code == 405 and r.headers["Allow"] == "GET, POST"


def test_feedback_takes_source_or_user_not_both(open_client: TestClient, h: Any) -> None:
    d = h.route(open_client)
    body = {"decision_id": d["decision_id"], "token": d["token"], "label": 1}
    r = open_client.post("/feedback", json={**body, "source": "a", "user": "a"})
    assert r.status_code == 422 and "not both" in r.text
    assert open_client.post("/feedback", json={**body, "user": "a"}).status_code == 201
