"""Upstream health: the circuit breakers alone (a settable clock), the caller minding them, and
the proxy routing around an upstream that times out, with its gauge and its dashboard line."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from feedback.proxy.caller import AllUpstreamsFailed, UpstreamCaller
from feedback.proxy.clients import UpstreamClients
from feedback.proxy.health import Health
from feedback.proxy.upstreams import Upstreams
from feedback.settings import Settings
from tests.feedback.proxy_helpers import KEY_ENV, UPSTREAM_KEY, completion, proxy_client
from tests.feedback.proxy_helpers import write_upstreams as write_file


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _health(**rules: Any) -> tuple[Health, Clock]:
    """Breakers with the default rules but ``rules``, on a settable clock."""
    clock = Clock()
    return Health(replace(Settings().breaker_rules(), **rules), clock=clock), clock


def test_a_breaker_opens_after_failures_in_a_row_and_a_success_resets_the_count() -> None:
    health, _ = _health(failures=3, error_rate=0.0)
    for _ in range(2):
        health.failed("a")
    health.succeeded("a")
    health.failed("a")
    health.failed("a")
    assert health.state("a") == "closed"
    health.failed("a")
    assert health.state("a") == "open" and not health.admit("a")
    assert health.views()["a"]["reason"] == "3 failures in a row"


def test_a_breaker_opens_on_the_error_rate_over_its_window() -> None:
    health, clock = _health(failures=0, error_rate=0.5, window=60.0, min_calls=10)
    for i in range(9):  # 4 of 9 failed: too few calls to judge yet
        (health.failed if i % 2 else health.succeeded)("a")
        clock.now += 1
    assert health.state("a") == "closed"
    health.failed("a")  # 5 of 10
    assert health.state("a") == "open"
    assert health.views()["a"]["reason"] == "5 of 10 calls failed in 60 s"
    # Calls older than the window no longer count.
    other, clock = _health(failures=0, error_rate=0.5, window=60.0, min_calls=4)
    for _ in range(3):
        other.failed("b")
    clock.now += 61
    other.failed("b")
    other.succeeded("b")
    other.succeeded("b")
    other.succeeded("b")
    assert other.state("b") == "closed"


def test_half_open_lets_one_probe_through_and_its_outcome_decides() -> None:
    health, clock = _health(failures=1, cooldown=30.0)
    health.failed("a")
    clock.now += 29
    assert health.state("a") == "open" and health.routable(["a", "b"]) == ["b"]
    clock.now += 1
    assert health.state("a") == "half-open" and health.routable(["a"]) == ["a"]
    assert health.admit("a") and not health.admit("a")  # one probe at a time
    health.failed("a")  # a failed probe: another cool-down
    assert health.state("a") == "open"
    clock.now += 30
    assert health.admit("a")
    health.released("a")  # the probe was cancelled: another may go
    assert health.admit("a")
    health.succeeded("a")
    assert health.state("a") == "closed" and health.admit("a")


def test_a_lost_probe_is_given_up_after_a_cool_down() -> None:
    health, clock = _health(failures=1, cooldown=10.0)
    health.failed("a")
    clock.now += 10
    assert health.admit("a") and not health.admit("a")
    clock.now += 10
    assert health.admit("a")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BREAKER_ERROR_RATE", "1.5"),
        ("BREAKER_WINDOW", "0"),
        ("BREAKER_MIN_CALLS", "0"),
        ("BREAKER_COOLDOWN", "-1"),
        ("BREAKER_FAILURES", "-2"),
        ("UPSTREAM_CONNECTIONS", "0"),
    ],
)
def test_breaker_settings_out_of_range_are_refused(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name.lower()):
        Settings.from_env({f"ROUTING_AGENT_{name}": value})


def _caller(health: Health, handler: Any) -> UpstreamCaller:
    ups = Upstreams.from_dict({"default": {"base_url": "http://up.test/v1"}}, env={})
    return UpstreamCaller(
        ups, UpstreamClients(httpx.Limits(), transport=httpx.MockTransport(handler)), health
    )


def test_the_caller_skips_open_breakers_and_tries_the_best_when_all_are_open() -> None:
    health, _ = _health(failures=1, cooldown=60.0)
    tried: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        model = json.loads(request.content)["model"]
        tried.append(model)
        if model == "a":
            return httpx.Response(500)
        return httpx.Response(200, json=completion(model))

    caller = _caller(health, handler)
    health.failed("b")  # b is open
    answer = asyncio.run(caller.open(["a", "b", "c"], {"messages": []}))
    assert answer.model == "c" and tried == ["a", "c"]
    assert health.state("a") == "open"
    for name in ("a", "b", "c"):
        health.failed(name)
    tried.clear()
    with pytest.raises(AllUpstreamsFailed, match="skipped: circuit breaker open"):
        asyncio.run(caller.open(["a", "b", "c"], {"messages": []}))
    assert tried == ["a"]  # every breaker open: the best model is still tried, once


def test_resends_only_what_the_upstream_did_not_process() -> None:
    seen: list[str] = []
    outcomes = {
        "refused": lambda r: (_ for _ in ()).throw(httpx.ConnectError("refused", request=r)),
        "busy": lambda r: httpx.Response(503),
        "limited": lambda r: httpx.Response(429),
        "broken": lambda r: httpx.Response(500),
        "gateway": lambda r: httpx.Response(504),
        "slow": lambda r: (_ for _ in ()).throw(httpx.ReadTimeout("slow", request=r)),
        "dropped": lambda r: (_ for _ in ()).throw(
            httpx.RemoteProtocolError("Server disconnected", request=r)
        ),
    }

    def handler(request: httpx.Request) -> httpx.Response:
        model = json.loads(request.content)["model"]
        seen.append(model)
        return outcomes[model](request)  # type: ignore[no-untyped-call]

    health, _ = _health(failures=0, error_rate=0.0)
    ups = Upstreams.from_dict(
        {"default": {"base_url": "http://up.test/v1", "max_retries": 2}}, env={}
    )
    caller = UpstreamCaller(
        ups, UpstreamClients(httpx.Limits(), transport=httpx.MockTransport(handler)), health
    )
    with pytest.raises(AllUpstreamsFailed):
        asyncio.run(caller.open(list(outcomes), {"messages": []}))
    counts = {m: seen.count(m) for m in outcomes}
    assert counts == {
        "refused": 3, "busy": 3, "limited": 3,  # never processed: resent max_retries times
        "broken": 1, "gateway": 1, "slow": 1, "dropped": 1,  # written: never again
    }  # fmt: skip


@pytest.fixture
def dead_first(tmp_path: Path, h: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The proxy whose routed first choice times out; ``calls`` counts calls per model."""
    monkeypatch.setenv(KEY_ENV, UPSTREAM_KEY)
    calls: dict[str, int] = {}
    dead: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        model = json.loads(request.content)["model"]
        dead[:] = dead or [model]  # the first model ever asked is the one that times out
        calls[model] = calls.get(model, 0) + 1
        if model == dead[0]:
            raise httpx.ReadTimeout("timed out", request=request)
        return httpx.Response(200, json=completion(model))

    settings = h.base_settings(
        upstreams=str(write_file(tmp_path / "up.toml")), breaker_cooldown=3600.0
    )
    with proxy_client(settings, handler) as c:
        yield c, calls, dead


def test_router_requests_route_around_an_upstream_that_times_out(dead_first: Any) -> None:
    c, calls, dead = dead_first
    answered = []
    for i in range(60):
        body = {"model": "router", "messages": [{"role": "user", "content": f"Sort list {i}"}]}
        r = c.post("/v1/chat/completions", json=body)
        assert r.status_code == 200, r.text
        answered.append(r.headers["x-routing-model"])
    name = dead[0].replace("xl-upstream", "xl-70b")
    assert calls[dead[0]] == 3  # the breaker opened after 3 in a row (of 60 requests)
    assert name not in answered
    metrics = c.get("/metrics").text
    assert f'routing_upstream_breaker_state{{model="{name}"}} 2.0' in metrics
    closed = [m for m in c.get("/v1/models").json()["data"] if m["id"] not in ("router", name)]
    for m in closed:
        assert f'routing_upstream_breaker_state{{model="{m["id"]}"}} 0.0' in metrics
    assert c.get("/report").json()["upstreams"][name]["state"] == "open"
    page = c.get("/report.html").text
    assert 'id="upstreams"' in page and f"{name} open (3 failures in a row" in page


def test_a_pass_through_request_still_tries_an_open_model(dead_first: Any) -> None:
    c, calls, dead = dead_first
    body = {"model": "router", "messages": [{"role": "user", "content": "Sort a list"}]}
    for _ in range(3):
        c.post("/v1/chat/completions", json=body)
    name = dead[0].replace("xl-upstream", "xl-70b")
    before = calls[dead[0]]
    r = c.post("/v1/chat/completions", json={**body, "model": name})
    assert r.status_code == 502 and calls[dead[0]] == before + 1
    assert "timed out" in r.json()["error"]["message"]
