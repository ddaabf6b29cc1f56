"""Real-size chats through the proxy: long messages, long conversations and images pass whole to
the upstream while the encoder reads a bounded slice; past a limit, a clear error in OpenAI's
shape, as is every other ``/v1`` error."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from agent.embedder import HashingEmbedder
from tests.feedback.proxy_helpers import KEY_ENV, UPSTREAM_KEY, Upstream, proxy_client
from tests.feedback.proxy_helpers import write_upstreams as write_file

#: What the encoder was asked to read: the texts of each call.
Reads = list[list[str]]


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Reads:
    seen: Reads = []
    encode = HashingEmbedder.encode

    def spy(self: HashingEmbedder, texts: Sequence[str]) -> np.ndarray:
        seen.append(list(texts))
        return encode(self, texts)

    monkeypatch.setattr(HashingEmbedder, "encode", spy)
    return seen


@pytest.fixture
def sized(
    tmp_path: Path, h: Any, monkeypatch: pytest.MonkeyPatch, upstream: Upstream
) -> Iterator[TestClient]:
    """The proxy with small limits, to pass them cheaply."""
    monkeypatch.setenv(KEY_ENV, UPSTREAM_KEY)
    settings = h.base_settings(
        upstreams=str(write_file(tmp_path / "up.toml")),
        max_messages=10,
        max_message_chars=100,
        max_body_bytes=5_000,
        rate_limit=0.001,
        rate_burst=100,
    )
    with proxy_client(settings, upstream) as c:
        yield c


def _error(r: Any) -> dict[str, Any]:
    body: dict[str, Any] = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


def test_a_40k_character_message_passes_whole_and_the_encoder_reads_its_tail(
    proxied: TestClient, upstream: Upstream, reads: Reads
) -> None:
    text = "word " * 7_999 + "question?"
    chat = {"model": "router", "messages": [{"role": "user", "content": text}]}
    r = proxied.post("/v1/chat/completions", json=chat)
    assert r.status_code == 200, r.text
    assert upstream.requests[-1]["messages"][0]["content"] == text
    cap = proxied.app.state.service.settings.embed_turn_chars  # type: ignore[attr-defined]
    assert reads[-1][-1].endswith("question?") and len(reads[-1][-1]) <= cap


def test_a_300_message_conversation_passes_whole_and_the_encoder_reads_the_last_turns(
    proxied: TestClient, upstream: Upstream, reads: Reads
) -> None:
    messages = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"turn {i} about sorting"}
        for i in range(300)
    ]
    r = proxied.post("/v1/chat/completions", json={"model": "router", "messages": messages})
    assert r.status_code == 200, r.text
    assert len(upstream.requests[-1]["messages"]) == 300
    router = proxied.app.state.service.router  # type: ignore[attr-defined]
    last = range(300 - 2 * router.max_turns, 300, 2)  # the last user turns, and no others
    assert sorted(reads[-1]) == [f"turn {i} about sorting" for i in last]


def test_a_1_2_mb_image_passes_whole(proxied: TestClient, upstream: Upstream) -> None:
    image = "data:image/png;base64," + base64.b64encode(bytes(900_000)).decode()
    assert len(image) > 1_200_000
    content = [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": {"url": image}},
    ]
    chat = {"model": "router", "messages": [{"role": "user", "content": content}]}
    r = proxied.post("/v1/chat/completions", json=chat)
    assert r.status_code == 200, r.text
    assert upstream.requests[-1]["messages"][0]["content"][1]["image_url"]["url"] == image


def test_route_reads_the_same_bounded_slice(proxied: TestClient, reads: Reads) -> None:
    r = proxied.post("/route", json={"prompt": "x " * 40_000 + "sort this"})
    assert r.status_code == 200, r.text
    cap = proxied.app.state.service.settings.embed_turn_chars  # type: ignore[attr-defined]
    assert reads[-1][0].endswith("sort this") and len(reads[-1][0]) <= cap


def test_past_the_message_limits_a_400_names_the_limit(sized: TestClient) -> None:
    many = [{"role": "user", "content": "hi"}] * 11
    r = sized.post("/v1/chat/completions", json={"model": "router", "messages": many})
    assert r.status_code == 400
    err = _error(r)
    assert "11 messages; at most 10" in err["message"] and "MAX_MESSAGES" in err["message"]
    assert err["param"] == "messages"
    # An early message too long is refused too, though the encoder would never read it.
    long = [{"role": "user", "content": "x" * 101}, {"role": "user", "content": "hi"}]
    r = sized.post("/v1/chat/completions", json={"model": "router", "messages": long})
    assert r.status_code == 400 and "MAX_MESSAGE_CHARS" in _error(r)["message"]


def test_past_the_body_limit_a_413_in_openai_shape(sized: TestClient) -> None:
    big = json.dumps(
        {"model": "router", "messages": [{"role": "user", "content": [{"type": "text"}] * 900}]}
    )
    headers = {"content-type": "application/json"}
    r = sized.post("/v1/chat/completions", content=big, headers=headers)
    assert r.status_code == 413 and "MAX_BODY_BYTES" in _error(r)["message"]
    assert _error(r)["code"] == "request_too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams in
        for at in range(0, len(big), 1_000):
            yield big[at : at + 1_000].encode()

    r = sized.post("/v1/chat/completions", content=chunks(), headers=headers)
    assert r.status_code == 413 and _error(r)["code"] == "request_too_large"
    # Elsewhere the service's own shape stays.
    r = sized.post("/route", content=big, headers=headers)
    assert r.status_code == 413 and "detail" in r.json()


def test_every_v1_error_is_openai_shaped(sized: TestClient) -> None:
    assert _error(sized.get("/v1/nowhere"))["code"] == "not_found"
    r = sized.delete("/v1/chat/completions")
    assert r.status_code == 405 and _error(r)["code"] == "method_not_allowed"
    assert "POST" in r.headers["allow"]
    codes = [sized.get("/v1/models").status_code for _ in range(101)]
    assert codes[-1] == 429
    r = sized.get("/v1/models")
    assert r.status_code == 429 and _error(r)["type"] == "rate_limit_error"
