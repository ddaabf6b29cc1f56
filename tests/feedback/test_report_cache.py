"""The monitoring report is built off the request path and served from a short-lived cache."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fastapi.testclient import TestClient

from feedback.errors import Unavailable
from feedback.monitoring.cache import ReportCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Builds:
    """A build seam: numbered reports, or an error while ``fail`` is set."""

    def __init__(self) -> None:
        self.n = 0
        self.fail = False

    def __call__(self) -> dict[str, Any]:
        if self.fail:
            raise RuntimeError("database is down")
        self.n += 1
        return {"n": self.n}


def make(ttl: float = 10.0) -> tuple[ReportCache, Builds, Clock]:
    builds, clock = Builds(), Clock()
    return (
        ReportCache(builds, ttl=ttl, render=lambda d: f"<p>{d['n']}</p>", clock=clock),
        builds,
        clock,
    )


def get(cache: ReportCache) -> dict[str, Any]:
    return asyncio.run(cache.get()).data


def test_two_quick_requests_build_once() -> None:
    cache, builds, clock = make()
    assert get(cache) == {"n": 1}
    clock.now += 9.0
    assert get(cache) == {"n": 1} and cache.builds == 1 and builds.n == 1
    assert asyncio.run(cache.get()).html() == "<p>1</p>"


def test_a_stale_copy_is_served_while_it_is_rebuilt() -> None:
    cache, builds, clock = make()
    get(cache)
    clock.now += 10.0
    assert get(cache) == {"n": 1}  # stale, served at once; the rebuild runs behind it
    cache.join()
    assert cache.builds == 2 and get(cache) == {"n": 2}


def test_a_failed_build_is_a_503_and_the_next_one_is_tried_again() -> None:
    cache, builds, clock = make()
    builds.fail = True
    with pytest.raises(Unavailable, match="could not be built: database is down") as err:
        get(cache)
    assert err.value.status == 503
    builds.fail = False
    assert get(cache) == {"n": 1} and cache.builds == 2


def test_a_failed_rebuild_keeps_serving_the_last_report() -> None:
    cache, builds, clock = make(ttl=1.0)
    get(cache)
    builds.fail, clock.now = True, 5.0
    assert get(cache) == {"n": 1}
    cache.join()
    builds.fail = False
    assert get(cache) == {"n": 1}  # still stale: this request starts another rebuild
    cache.join()
    assert get(cache) == {"n": 2} and cache.builds == 3


def test_the_service_builds_the_report_once_per_ttl(client: TestClient, h: Any) -> None:
    h.route(client, "What is 2 + 2?")
    first = client.get("/report")
    assert first.status_code == 200, first.text
    page = client.get("/report.html")
    assert page.status_code == 200 and "<html" in page.text.lower()
    assert client.app.state.report_cache.builds == 1  # type: ignore[attr-defined]


def test_the_service_answers_503_when_the_report_cannot_be_built(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import feedback.api.monitoring as api

    def broken(*args: Any) -> dict[str, Any]:
        raise RuntimeError("no report today")

    monkeypatch.setattr(api, "build_report", broken)
    r = client.get("/report")
    assert r.status_code == 503 and "no report today" in r.text
    monkeypatch.undo()
    assert client.get("/report").status_code == 200
