"""The service behind a real uvicorn on a free port (SQLite and PostgreSQL): error answers keep
the keep-alive connection usable, the body cap holds on the wire, ``/docs`` needs no CDN and
``/metrics`` has per-route latency and error counts."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy.pool import StaticPool
from sqlmodel import create_engine

from feedback.app import create_app

JSON = {"content-type": "application/json"}


@pytest.fixture(params=["sqlite", "postgresql"])
def server(request: pytest.FixtureRequest, h: Any) -> Iterator[str]:
    settings = h.base_settings(max_body_bytes=4_000)
    if request.param == "sqlite":
        engine = create_engine(
            "sqlite://", connect_args={"check_same_thread": False}, poolclass=StaticPool
        )
        app = create_app(settings, engine=engine)
    else:
        schema = request.getfixturevalue("pg_schema")
        app = create_app(settings.with_values({"database_url": h.pg_url, "db_schema": schema}))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not srv.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=30)
    sock.close()


def _local_port(r: httpx.Response) -> int:
    """The client side's port of the connection that carried ``r`` (-1: since closed)."""
    try:
        return int(r.extensions["network_stream"].get_extra_info("client_addr")[1])
    except OSError:
        return -1


def test_errors_keep_the_connection_alive(server: str, h: Any) -> None:
    with httpx.Client(base_url=server, timeout=30) as c:
        first = c.post("/route", json={"prompt": "warm up"})
        d = first.json()
        port = _local_port(first)
        fb = {"decision_id": d["decision_id"], "token": d["token"], "source": "s"}
        assert c.post("/feedback", json={**fb, "label": 1}).status_code == 201
        sid, tok = d["decision_id"], d["token"]
        bad: list[tuple[str, str, Any, int]] = [
            ("POST", "/route", b'{"prompt": "hi", "lam": NaN}', 422),
            ("POST", "/route", b'{"prompt": "hi", "budget": 1e999}', 422),
            ("POST", "/route", b'{"prompt": "\\ud800"}', 422),
            ("POST", "/route", b'{"prompt": "hi", "conversation_id": "a\\u0000b"}', 422),
            ("POST", "/route", b'{"prompt": "   "}', 422),
            ("POST", "/route", b'{"prompt": "\xff\xfe"}', 400),
            ("POST", "/route", b"{not json", 422),
            (
                "POST",
                "/feedback",
                f'{{"decision_id": "{sid}", "token": "{tok}", "label": true}}',
                422,
            ),
            ("POST", "/feedback", f'{{"decision_id": "{sid}", "token": "x", "label": 1}}', 403),
            (
                "POST",
                "/feedback",
                f'{{"decision_id": "{sid}", "token": "{tok}", "source": "s\\u0000", "label": 1}}',
                422,
            ),
            (
                "POST",
                "/feedback",
                f'{{"decision_id": "{sid}", "token": "{tok}", "source": "s", "label": 0}}',
                409,
            ),
            ("POST", "/models", b"{}", 401),
            ("DELETE", "/models/openai/none", b"", 401),
            ("GET", "/no/such/page", b"", 404),
            ("PUT", "/route", b"{}", 405),
        ]
        for method, url, body, code in bad:
            r = c.request(method, url, content=body, headers=JSON)
            assert r.status_code == code, (url, body, r.text)
            r.json()  # every error answer is JSON
            assert _local_port(r) == port, (url, body, "the connection was closed")
        good = c.post("/route", json={"prompt": "and now a good one"})
        assert good.status_code == 200 and _local_port(good) == port


def test_body_cap_on_the_wire(server: str) -> None:
    big = b'{"prompt": "' + b"x" * 10_000 + b'"}'

    def chunks() -> Iterator[bytes]:  # sent chunked, without a Content-Length
        for i in range(0, len(big), 1_000):
            yield big[i : i + 1_000]

    with httpx.Client(base_url=server, timeout=30) as c:
        r = c.post("/route", content=big, headers=JSON)
        assert r.status_code == 413 and "4000 bytes" in r.json()["detail"]
        assert _local_port(r) == -1 and r.headers["connection"] == "close"
        r = c.post("/route", content=chunks(), headers=JSON)
        assert "content-length" not in r.request.headers
        assert r.status_code == 413 and "MAX_BODY_BYTES" in r.json()["detail"]
        # The 413 closed that connection on purpose (its body was left unread); the client
        # carries on with a new one.
        assert c.post("/route", json={"prompt": "small"}).status_code == 200


def test_docs_need_no_cdn(server: str) -> None:
    with httpx.Client(base_url=server, timeout=30) as c:
        page = c.get("/docs")
        assert page.status_code == 200 and "swagger-ui" in page.text
        assert not re.findall(r"https?://", page.text), "the docs page loads from outside"
        for asset in re.findall(r'(?:src|href)="([^"]+)"', page.text):
            r = c.get(asset)
            assert r.status_code == 200 and len(r.content) > 1_000, asset
        assert c.get("/openapi.json").json()["paths"]["/models/{name}"]


def test_metrics_latency_and_errors_by_route_template(server: str, h: Any) -> None:
    with httpx.Client(base_url=server, timeout=30) as c:
        c.post("/route", json={"prompt": "hi"})
        c.post("/route", json={"prompt": "hi", "lam": -1})
        c.patch("/models/openai/gpt-4o", json={"cost": 1}, headers=h.admin())
        c.get("/no/such/page")
        text = c.get("/metrics").text
    timed = 'http_request_duration_seconds_count{method="POST",route="/route"} 2.0'
    assert timed in text  # two requests counted (a count, not a time)
    assert 'http_request_errors_total{method="POST",route="/route",status="422"} 1.0' in text
    assert (
        'http_request_errors_total{method="PATCH",route="/models/{name}",status="404"} 1.0' in text
    )
    assert 'route="<unmatched>",status="404"' in text
    assert "openai/gpt-4o" not in text  # raw paths never become labels
