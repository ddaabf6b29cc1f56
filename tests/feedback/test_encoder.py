"""The service's encoder: a failure answers 503 for its own batch only, the pool remembers
which encoder built it, and /metrics shows the encoder's time and batch sizes."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from agent.embedder import HashingEmbedder
from feedback.app import create_app


class FailingEmbedder(HashingEmbedder):
    """Hashing, except that a batch holding a text with "boom" in it fails."""

    def __init__(self, dim: int) -> None:
        super().__init__(dim=dim)
        self.failed: list[list[str]] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if any("boom" in t for t in texts):
            self.failed.append(list(texts))
            raise RuntimeError("the model ran out of memory")
        return super().encode(texts)


def test_an_encoder_failure_is_a_503_for_its_batch_only(h: Any, clock: Any) -> None:
    settings = h.base_settings(embed_wait_ms=0.0)
    engine_app, engine = h.memory_app(settings, clock)
    app = create_app(settings, engine=engine, embedder=FailingEmbedder(dim=64), clock=clock)
    app.dependency_overrides = engine_app.dependency_overrides
    with TestClient(app) as c:
        r = c.post("/route", json={"prompt": "boom: this prompt breaks the encoder"})
        assert r.status_code == 503
        assert "prompt encoder failed" in r.json()["detail"]
        assert "the model ran out of memory" in r.json()["detail"]
        assert h.route(c, "a later prompt is served")["model"]
        metrics = c.get("/metrics").text
    assert "routing_encoder_seconds_count 2.0" in metrics  # the failed call and the good one
    assert 'routing_encoder_batch_size_bucket{le="1.0"} 2.0' in metrics
    engine.dispose()


def test_concurrent_requests_outside_the_failed_batch_succeed(h: Any, clock: Any) -> None:
    settings = h.base_settings(embed_wait_ms=0.0, embed_batch=4)
    engine_app, engine = h.memory_app(settings, clock)
    inner = FailingEmbedder(dim=64)
    app = create_app(settings, engine=engine, embedder=inner, clock=clock)
    app.dependency_overrides = engine_app.dependency_overrides

    async def main() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://t") as c,
        ):
            prompts = ["boom"] + [f"question {i}" for i in range(12)]
            rs = await asyncio.gather(*(c.post("/route", json={"prompt": p}) for p in prompts))
            return [r.status_code for r in rs]

    codes = asyncio.run(main())
    (batch,) = inner.failed  # exactly the requests that shared the failed batch got 503
    assert codes[0] == 503 and codes.count(503) == len(batch) and "boom" in batch
    assert codes.count(200) == len(codes) - len(batch) > 0
    engine.dispose()


def test_a_pool_built_with_another_encoder_is_refused(h: Any, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ra.db'}"
    with TestClient(create_app(h.base_settings(database_url=url, embedder="hashing-64"))) as c:
        h.route(c)
    other = create_app(h.base_settings(database_url=url, embedder="hashing-32"))
    with (
        pytest.raises(ValueError, match="built with embedder 'hashing-64-s0'.*'hashing-32-s0'"),
        TestClient(other),
    ):
        pass
