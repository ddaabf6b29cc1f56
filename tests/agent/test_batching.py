"""The micro-batching embedder: concurrent callers share batches and get their own rows."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import numpy as np
import pytest

from agent.batching import BatchingEmbedder
from agent.embedder import HashingEmbedder


class SlowEmbedder(HashingEmbedder):
    """A hashing embedder that takes a while per call and records its batch sizes."""

    def __init__(self) -> None:
        super().__init__(dim=32)
        self.calls: list[int] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(len(texts))
        threading.Event().wait(0.02)
        if "boom" in texts:
            raise RuntimeError("model failed")
        return super().encode(texts)


def test_concurrent_calls_are_batched_and_answered_in_order() -> None:
    inner = SlowEmbedder()
    emb = BatchingEmbedder(inner, max_wait=0.005, cache_size=0)
    texts = [[f"prompt {i}", f"other {i}"] for i in range(24)]
    out: dict[int, np.ndarray] = {}

    def call(i: int) -> None:
        out[i] = emb.encode(texts[i])

    threads = [threading.Thread(target=call, args=(i,)) for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    emb.close()
    reference = HashingEmbedder(dim=32)
    for i in range(24):
        np.testing.assert_array_equal(out[i], reference.encode(texts[i]))
    assert sum(inner.calls) == 48 and len(inner.calls) < 24  # fewer calls than callers


def test_async_callers_cache_and_errors() -> None:
    inner = SlowEmbedder()
    emb = BatchingEmbedder(inner, max_batch=4, cache_size=3)

    async def main() -> list[np.ndarray]:
        return list(await asyncio.gather(*(emb.encode_async([f"t{i % 3}"]) for i in range(9))))

    rows = asyncio.run(main())
    assert all(np.array_equal(rows[i], rows[i % 3]) for i in range(9))
    assert emb.texts == 3  # each distinct text embedded once
    emb.encode(["t2"])  # recent: served from the LRU without calling the model
    assert emb.texts == 3
    with pytest.raises(RuntimeError, match="model failed"):
        emb.encode(["boom"])
    assert emb.encode([]).shape == (0, 32)
    emb.close()
