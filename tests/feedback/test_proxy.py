"""The OpenAI-compatible proxy against a fake upstream (``httpx.MockTransport``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from agent.decision import Decision
from feedback.models import DecisionRow
from feedback.proxy.proxy import Proxy
from tests.feedback.proxy_helpers import (  # noqa: F401 - upstream and proxied are fixtures
    KEY_ENV,
    UPSTREAM_KEY,
    Upstream,
    completion,
    proxy_client,
    sse,
    write_upstreams,
)

CHAT = {"messages": [{"role": "user", "content": "What is 17 * 23?"}]}


def test_models_lists_router_and_the_pool(proxied: TestClient) -> None:
    body = proxied.get("/v1/models").json()
    ids = [m["id"] for m in body["data"]]
    assert body["object"] == "list" and ids[0] == "router"
    assert set(ids[1:]) == {m["name"] for m in proxied.get("/models").json()}


def test_router_forwards_untouched_and_feedback_goes_through_headers(
    proxied: TestClient, upstream: Upstream, h: Any
) -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    r = proxied.post(
        "/v1/chat/completions",
        json={"model": "router", **CHAT, "temperature": 0.3, "tools": tools, "lam": 0.0},
    )
    assert r.status_code == 200, r.text
    sent = upstream.requests[-1]
    assert sent["temperature"] == 0.3 and sent["tools"] == tools and "lam" not in sent
    assert upstream.auth[-1] == f"Bearer {UPSTREAM_KEY}"
    model = r.headers["x-routing-model"]
    assert r.json()["model"] == model and model in proxied.get("/v1/models").text
    assert sent["model"] == ("xl-upstream" if model == "xl-70b" else model)
    fb = proxied.post(
        "/feedback",
        json={
            "decision_id": r.headers["x-routing-decision-id"],
            "token": r.headers["x-routing-token"],
            "thumbs": "up",
        },
    )
    assert fb.status_code == 201, fb.text
    assert fb.json()["model"] == model


def test_pool_model_name_passes_through_and_is_logged(
    proxied: TestClient, upstream: Upstream
) -> None:
    r = proxied.post("/v1/chat/completions", json={"model": "xl-70b", **CHAT})
    assert r.status_code == 200, r.text
    assert upstream.requests[-1]["model"] == "xl-upstream"
    assert r.json()["model"] == "xl-70b" == r.headers["x-routing-model"]
    fb = proxied.post(
        "/feedback",
        json={
            "decision_id": r.headers["x-routing-decision-id"],
            "token": r.headers["x-routing-token"],
            "label": 1,
        },
    )
    assert fb.status_code == 201 and fb.json()["model"] == "xl-70b"


def test_unknown_model_is_an_openai_404(proxied: TestClient) -> None:
    r = proxied.post("/v1/chat/completions", json={"model": "gpt-nope", **CHAT})
    assert r.status_code == 404
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert err["code"] == "model_not_found" and "gpt-nope" in err["message"]


def test_bad_body_is_an_openai_400(proxied: TestClient) -> None:
    r = proxied.post("/v1/chat/completions", json={"model": "router", "messages": []})
    assert r.status_code == 400 and "messages" in r.json()["error"]["message"]
    r = proxied.post("/v1/chat/completions", content=b"{not json")
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"


def test_fallback_moves_to_the_next_best_and_is_counted(
    tmp_path: Path, upstream: Upstream, h: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, UPSTREAM_KEY)
    path = write_upstreams(tmp_path / "up.toml")
    settings = h.base_settings(upstreams=str(path), proxy_attempts=8)
    with proxy_client(settings, upstream) as c:
        pool = [m["name"] for m in c.get("/models").json()]
        upstream.fail = {"xl-upstream" if m == "xl-70b" else m for m in pool} - {"tiny-1b"}
        r = c.post("/v1/chat/completions", json={"model": "router", **CHAT})
        assert r.status_code == 200, r.text
        assert r.headers["x-routing-model"] == "tiny-1b" == r.json()["model"]
        tried = [b["model"] for b in upstream.requests]
        assert tried[-1] == "tiny-1b" and len(tried) == len(set(tried))
        fb = c.post(
            "/feedback",
            json={
                "decision_id": r.headers["x-routing-decision-id"],
                "token": r.headers["x-routing-token"],
                "thumbs": "down",
            },
        )
        assert fb.json()["model"] == "tiny-1b"
        with c.app.state.service.session() as s:  # type: ignore[attr-defined]
            row = s.get(DecisionRow, r.headers["x-routing-decision-id"])
        assert row is not None and row.model == "tiny-1b"  # what other replicas read
        metrics = c.get("/metrics").text
        failed = [
            line
            for line in metrics.splitlines()
            if line.startswith("routing_upstream_failures_total{")
        ]
        assert len(failed) == len(tried) - 1 and all(line.endswith(" 1.0") for line in failed)


def test_fallback_order_follows_the_decision_scores() -> None:
    scores = {"a": 0.2, "b": 0.9, "c": None, "d": 0.5, "e": 0.7}
    d = Decision("id", "d", scores, np.ones(1))
    assert Proxy.order(d, 3) == ["d", "b", "e"]
    assert Proxy.order(d, 10) == ["d", "b", "e", "a"]  # "c" was not eligible
    assert Proxy.order(d, 0) == ["d"]


def test_every_upstream_failing_is_an_openai_502(proxied: TestClient, upstream: Upstream) -> None:
    upstream.fail_all = True
    r = proxied.post("/v1/chat/completions", json={"model": "router", **CHAT})
    assert r.status_code == 502
    assert r.json()["error"]["code"] == "upstream_failed"
    assert len(upstream.requests) == proxied.app.state.service.settings.proxy_attempts  # type: ignore[attr-defined]
    # a pass-through request does not fall back to another model
    r = proxied.post("/v1/chat/completions", json={"model": "tiny-1b", **CHAT})
    assert r.status_code == 502 and upstream.requests[-1]["model"] == "tiny-1b"


def test_connection_errors_and_timeouts_fall_back(
    tmp_path: Path, h: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, UPSTREAM_KEY)
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        model = json.loads(request.content)["model"]
        seen.append(model)
        if len(seen) == 1:
            raise httpx.ConnectError("refused", request=request)
        if len(seen) == 2:
            raise httpx.ReadTimeout("slow", request=request)
        return httpx.Response(200, json=completion(model))

    settings = h.base_settings(upstreams=str(write_upstreams(tmp_path / "up.toml")))
    with proxy_client(settings, handler) as c:
        r = c.post("/v1/chat/completions", json={"model": "router", **CHAT})
        assert r.status_code == 200, r.text
        assert len(seen) == 3 and len(set(seen)) == 3


def test_upstream_4xx_comes_back_as_is(proxied: TestClient, upstream: Upstream) -> None:
    upstream.status = 400
    r = proxied.post("/v1/chat/completions", json={"model": "router", **CHAT})
    assert r.status_code == 400 and r.json()["error"]["message"] == "bad tools"
    assert "x-routing-decision-id" not in r.headers
