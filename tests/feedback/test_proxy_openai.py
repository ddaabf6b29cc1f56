"""The official ``openai`` client, unchanged, against the proxy in front of a stub upstream
(both served by uvicorn on free local ports): chat, stream, fallback, disconnect, keys."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from sqlalchemy.pool import StaticPool
from sqlmodel import create_engine

from feedback.app import create_app
from tests.feedback.proxy_helpers import KEY_ENV, UPSTREAM_KEY, write_upstreams
from tests.feedback.stub_upstream import StubUpstream, served

CLIENT_KEY = "ck-test"
MESSAGES: Any = [{"role": "user", "content": "What is 17 * 23?"}]


@pytest.fixture(scope="module")
def stub() -> StubUpstream:
    return StubUpstream()


@pytest.fixture(scope="module")
def proxy_url(
    stub: StubUpstream, tmp_path_factory: pytest.TempPathFactory, h: Any
) -> Iterator[str]:
    mp = pytest.MonkeyPatch()
    mp.setenv(KEY_ENV, UPSTREAM_KEY)
    with served(stub.app) as upstream_url:
        path = write_upstreams(tmp_path_factory.mktemp("up") / "up.toml", f"{upstream_url}/v1")
        settings = h.base_settings(upstreams=str(path), client_keys=CLIENT_KEY, proxy_attempts=8)
        engine = create_engine(
            "sqlite://", connect_args={"check_same_thread": False}, poolclass=StaticPool
        )
        with served(create_app(settings, engine=engine)) as url:
            yield url
        engine.dispose()
    mp.undo()


@pytest.fixture
def client(proxy_url: str, stub: StubUpstream) -> Iterator[openai.OpenAI]:
    stub.fail, stub.slow = set(), False
    with openai.OpenAI(base_url=f"{proxy_url}/v1", api_key=CLIENT_KEY, max_retries=0) as c:
        yield c


def _feedback(proxy_url: str, headers: httpx.Headers, **value: Any) -> dict[str, Any]:
    r = httpx.post(
        f"{proxy_url}/feedback",
        json={
            "decision_id": headers["x-routing-decision-id"],
            "token": headers["x-routing-token"],
            **value,
        },
        headers={"Authorization": f"Bearer {CLIENT_KEY}"},
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def test_sync_chat_and_feedback_through_the_headers(
    client: openai.OpenAI, proxy_url: str, stub: StubUpstream
) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="router", messages=MESSAGES, temperature=0.1, extra_body={"lam": 0.0}
    )
    reply = raw.parse()
    model = raw.headers["x-routing-model"]
    assert reply.model == model and reply.choices[0].message.content == "echo: What is 17 * 23?"
    assert stub.seen[-1]["temperature"] == 0.1 and "lam" not in stub.seen[-1]
    assert _feedback(proxy_url, raw.headers, thumbs="up")["model"] == model
    assert "router" in [m.id for m in client.models.list()]


def test_pass_through_by_pool_model_name(client: openai.OpenAI, stub: StubUpstream) -> None:
    raw = client.chat.completions.with_raw_response.create(model="xl-70b", messages=MESSAGES)
    assert raw.parse().model == "xl-70b" and stub.seen[-1]["model"] == "xl-upstream"


def test_fallback_answers_from_another_model(
    client: openai.OpenAI, proxy_url: str, stub: StubUpstream
) -> None:
    pool = [m.id for m in client.models.list() if m.id != "router"]
    stub.fail = {"xl-upstream" if m == "xl-70b" else m for m in pool if m != "math-7b"}
    raw = client.chat.completions.with_raw_response.create(model="router", messages=MESSAGES)
    assert raw.headers["x-routing-model"] == "math-7b" == raw.parse().model
    assert _feedback(proxy_url, raw.headers, label=0)["model"] == "math-7b"
    stub.fail = {"xl-upstream" if m == "xl-70b" else m for m in pool}
    with pytest.raises(openai.APIStatusError) as err:
        client.chat.completions.create(model="router", messages=MESSAGES)
    assert err.value.status_code == 502


def test_stream_and_disconnect_mid_stream(client: openai.OpenAI, stub: StubUpstream) -> None:
    stream = client.chat.completions.create(model="router", messages=MESSAGES, stream=True)
    parts = [c.choices[0].delta.content for c in stream if c.choices]
    assert parts == ["one", "two", "three"]
    stub.slow = True
    stub.cancelled.clear()
    with client.chat.completions.create(model="medium-13b", messages=MESSAGES, stream=True) as slow:
        first = next(iter(slow))
        assert first.model == "medium-13b" and first.choices[0].delta.content == "one"
    assert stub.cancelled.wait(timeout=20), "the upstream call was not cancelled"


def test_wrong_or_missing_client_key(proxy_url: str) -> None:
    for key in ("wrong", ""):
        with openai.OpenAI(base_url=f"{proxy_url}/v1", api_key=key or "x", max_retries=0) as c:
            with pytest.raises(openai.AuthenticationError) as err:
                c.chat.completions.create(model="router", messages=MESSAGES)
            assert err.value.status_code == 401 and err.value.code == "invalid_api_key"


def test_unknown_model_is_not_found(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as err:
        client.chat.completions.create(model="gpt-nope", messages=MESSAGES)
    assert err.value.code == "model_not_found"


def test_async_client_chat_and_stream(proxy_url: str) -> None:
    async def run() -> tuple[str, list[str]]:
        async with openai.AsyncOpenAI(
            base_url=f"{proxy_url}/v1", api_key=CLIENT_KEY, max_retries=0
        ) as c:
            replies = await asyncio.gather(
                *(c.chat.completions.create(model="router", messages=MESSAGES) for _ in range(4))
            )
            stream = await c.chat.completions.create(
                model="tiny-1b", messages=MESSAGES, stream=True
            )
            parts = [ch.choices[0].delta.content or "" async for ch in stream if ch.choices]
            return replies[0].choices[0].message.content or "", parts

    text, parts = asyncio.run(run())
    assert text == "echo: What is 17 * 23?" and parts == ["one", "two", "three"]


def test_real_size_chats_get_200(client: openai.OpenAI, stub: StubUpstream) -> None:
    """A 40,000-character message, a 300-message conversation and a 1.2 MB base64 image."""
    long: Any = [{"role": "user", "content": "word " * 8_000}]
    many: Any = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i}"} for i in range(300)
    ]
    image = "data:image/png;base64," + base64.b64encode(bytes(900_000)).decode()
    picture: Any = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this picture?"},
                {"type": "image_url", "image_url": {"url": image}},
            ],
        }
    ]
    for messages in (long, many, picture):
        reply = client.chat.completions.create(model="router", messages=messages)
        assert reply.choices[0].message.content
    assert stub.seen[-1]["messages"][0]["content"][1]["image_url"]["url"] == image
    assert len(stub.seen[-2]["messages"]) == 300
