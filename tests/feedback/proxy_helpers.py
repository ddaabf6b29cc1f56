"""Shared pieces of the proxy tests: an upstreams file, the app with a fake upstream, and a
canned chat completion."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, create_engine

from feedback.app import create_app
from feedback.deps import get_db
from feedback.settings import Settings

KEY_ENV = "RA_TEST_UPSTREAM_KEY"
UPSTREAM_KEY = "sk-upstream-secret"


def write_upstreams(path: Path, base_url: str = "http://up.test/v1", extra: str = "") -> Path:
    path.write_text(
        f'[default]\nbase_url = "{base_url}"\napi_key_env = "{KEY_ENV}"\ntimeout_s = 5\n'
        '[models."xl-70b"]\nmodel = "xl-upstream"\n'
        "input_usd_per_mtok = 1.0\noutput_usd_per_mtok = 2.0\n" + extra
    )
    return path


def completion(
    model: str, text: str = "hello", usage: dict[str, int] | None = None
) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": usage or {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500},
    }


def sse(model: str, words: list[str]) -> bytes:
    events = [
        {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": model,
            "choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}],
        }
        for w in words
    ]
    body = "".join(f"data: {json.dumps(e)}\n\n" for e in events)
    return (body + "data: [DONE]\n\n").encode()


@contextmanager
def proxy_client(
    settings: Settings, handler: Callable[[httpx.Request], httpx.Response] | None
) -> Iterator[TestClient]:
    """The app on in-memory SQLite whose upstream calls go to ``handler`` (None: over the
    network, through the proxy's own HTTP clients)."""
    engine = create_engine(
        "sqlite://", connect_args={"check_same_thread": False}, poolclass=StaticPool
    )
    transport = httpx.MockTransport(handler) if handler is not None else None
    app = create_app(settings, engine=engine, upstream_transport=transport)

    def _db() -> Iterator[Session]:
        with Session(engine, expire_on_commit=False) as session:
            yield session

    app.dependency_overrides[get_db] = _db
    with TestClient(app) as client:
        yield client
    engine.dispose()


class Upstream:
    """A fake upstream (an ``httpx.MockTransport`` handler): records requests; ``fail`` lists
    upstream model names answering 500."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.auth: list[str | None] = []
        self.fail: set[str] = set()
        self.fail_all = False
        self.status = 200

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.requests.append(body)
        self.auth.append(request.headers.get("authorization"))
        if self.fail_all or body["model"] in self.fail:
            return httpx.Response(503, json={"error": {"message": "overloaded"}})
        if self.status != 200:
            return httpx.Response(self.status, json={"error": {"message": "bad tools"}})
        if body.get("stream"):
            return httpx.Response(
                200,
                content=sse(body["model"], ["he", "llo"]),
                headers={"content-type": "text/event-stream"},
            )
        return httpx.Response(200, json=completion(body["model"]))
