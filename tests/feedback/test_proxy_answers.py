"""The proxy's answers against a fake upstream: streams, real cost, regenerates and tags."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

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


def test_stream_passes_chunks_with_the_pool_model(proxied: TestClient) -> None:
    body = {"model": "xl-70b", **CHAT, "stream": True}
    with proxied.stream("POST", "/v1/chat/completions", json=body) as r:
        assert r.status_code == 200
        assert r.headers["x-routing-model"] == "xl-70b"
        assert r.headers["content-type"].startswith("text/event-stream")
        events = [line for line in r.iter_lines() if line.startswith("data:")]
    chunks = [json.loads(e[5:]) for e in events[:-1]]
    assert [c["choices"][0]["delta"]["content"] for c in chunks] == ["he", "llo"]
    assert {c["model"] for c in chunks} == {"xl-70b"} and events[-1] == "data: [DONE]"


def test_real_cost_from_usage_and_prices(proxied: TestClient) -> None:
    r = proxied.post("/v1/chat/completions", json={"model": "xl-70b", **CHAT})
    assert r.status_code == 200
    # 1000 input tokens at 1 USD/Mtok + 500 output tokens at 2 USD/Mtok
    assert 'routing_cost_usd_total{model="xl-70b"} 0.002' in proxied.get("/metrics").text
    proxied.post("/v1/chat/completions", json={"model": "tiny-1b", **CHAT})
    pool = {m["name"]: m["cost"] for m in proxied.get("/models").json()}
    line = f'routing_cost_usd_total{{model="tiny-1b"}} {pool["tiny-1b"]}'
    assert line in proxied.get("/metrics").text


def test_real_cost_reaches_the_budget_pacer(proxied: TestClient) -> None:
    body = {"model": "xl-70b", **CHAT, "budget": 0.01}
    assert proxied.post("/v1/chat/completions", json=body).status_code == 200
    pacer = proxied.app.state.service.router._pacers[0.01]  # type: ignore[attr-defined]
    assert pacer.mean_cost == pytest.approx(0.002)  # the usage's cost, not the profile's
    proxied.post("/v1/chat/completions", json={**body, "model": "tiny-1b"})  # no prices
    tiny = {m["name"]: m["cost"] for m in proxied.get("/models").json()}["tiny-1b"]
    assert pacer.mean_cost == pytest.approx((0.002 + tiny) / 2)


def test_route_accepts_an_openai_shaped_body(proxied: TestClient) -> None:
    body = {
        "model": "gpt-4o",
        "temperature": 0.2,
        "messages": [
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "name": "ann", "content": [{"type": "text", "text": "Sort a list"}]},
        ],
    }
    r = proxied.post("/route", json=body)
    assert r.status_code == 200, r.text
    assert proxied.post("/route", json={**body, "bogus": 1}).status_code == 422


def test_a_regenerate_through_the_proxy_thumbs_down_the_replaced_answer(
    proxied: TestClient,
) -> None:
    body = {"model": "router", **CHAT, "conversation_id": "chat-9"}
    first = proxied.post("/v1/chat/completions", json=body)
    again = proxied.post("/v1/chat/completions", json=body)
    assert first.status_code == again.status_code == 200
    # The replaced answer was judged already: the same thumbs-down from that source again is
    # a duplicate.
    judged = proxied.post(
        "/feedback",
        json={
            "decision_id": first.headers["x-routing-decision-id"],
            "token": first.headers["x-routing-token"],
            "thumbs": "down",
            "source": "implicit-regenerate",
        },
    )
    assert judged.status_code == 200 and judged.json()["duplicate"] is True, judged.text


def test_tags_in_extra_body_reach_the_report(
    proxied: TestClient, upstream: Upstream, h: Any
) -> None:
    """App tags are report-only: the decision keeps them, and the report's per-tag tables
    count its request and its feedback."""
    r = proxied.post("/v1/chat/completions", json={"model": "router", **CHAT, "tags": {"app": "x"}})
    assert r.status_code == 200 and "tags" not in upstream.requests[-1]
    fb = proxied.post(
        "/feedback",
        json={
            "decision_id": r.headers["x-routing-decision-id"],
            "token": r.headers["x-routing-token"],
            "label": 1,
        },
    )
    assert fb.status_code == 201, fb.text
    tags = proxied.get("/report").json()["tags"]
    assert tags["decisions_with_tags"] == 1
    assert tags["keys"]["app"]["values"]["x"]["requests"] == 1
    assert tags["keys"]["app"]["values"]["x"]["feedback"] == 1
