"""The micro-batching embedder: concurrent callers share batches and get their own rows."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from agent.batching import BatchingEmbedder, EncoderError
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


class GatedEmbedder(HashingEmbedder):
    """Blocks each call until the test releases it; records the texts of every call."""

    def __init__(self) -> None:
        super().__init__(dim=16)
        self.calls: list[list[str]] = []
        self.entered = threading.Event()
        self.release = threading.Event()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(sorted(texts))
        self.entered.set()
        self.release.wait(5)
        if "boom" in texts:
            raise RuntimeError("model failed")
        return super().encode(texts)


def test_a_cancelled_request_inside_a_batch_leaves_the_others_answered() -> None:
    inner = GatedEmbedder()
    emb = BatchingEmbedder(inner, max_wait=0.0, cache_size=0)

    async def main() -> tuple[list[np.ndarray], bool]:
        blocker = asyncio.ensure_future(emb.encode_async(["first"]))
        await asyncio.to_thread(inner.entered.wait, 5)  # the thread is busy with "first"
        tasks = [asyncio.ensure_future(emb.encode_async([f"t{i}"])) for i in range(4)]
        await asyncio.sleep(0.01)  # all four queued behind "first": they form the next batch
        tasks[1].cancel()
        inner.release.set()
        done = await asyncio.gather(blocker, *tasks, return_exceptions=True)
        return [d for d in done if isinstance(d, np.ndarray)], tasks[1].cancelled()

    rows, cancelled = asyncio.run(main())
    assert cancelled and len(rows) == 4  # "first" and the three others got their rows
    assert inner.calls[1] == ["t0", "t1", "t2", "t3"]  # one batch, the cancelled text in it
    np.testing.assert_array_equal(rows[3], HashingEmbedder(dim=16).encode(["t3"]))
    assert emb.encode(["after"]).shape == (1, 16)  # the thread still serves
    emb.close()


def test_an_encoder_error_fails_only_its_own_batch() -> None:
    inner = GatedEmbedder()
    emb = BatchingEmbedder(inner, max_wait=0.0, cache_size=0)
    seen: list[tuple[int, float]] = []
    emb.observe = lambda n, s: seen.append((n, s))

    async def main() -> list[Any]:
        first = asyncio.ensure_future(emb.encode_async(["first"]))
        await asyncio.to_thread(inner.entered.wait, 5)
        bad = [asyncio.ensure_future(emb.encode_async([t])) for t in ("boom", "mate")]
        await asyncio.sleep(0.01)
        inner.release.set()
        out = await asyncio.gather(first, *bad, return_exceptions=True)
        later = await emb.encode_async(["later"])  # a batch of its own, after the failure
        return [*out, later]

    first, boom, mate, later = asyncio.run(main())
    assert inner.calls[1] == ["boom", "mate"]
    for err in (boom, mate):  # both callers of the failed batch, with the cause named
        assert isinstance(err, EncoderError) and isinstance(err.__cause__, RuntimeError)
        assert "hashing-16-s0 failed on a batch of 2 text(s): model failed" in str(err)
    assert first.shape == later.shape == (1, 16)
    assert [n for n, _ in seen] == [1, 2, 1] and all(s >= 0 for _, s in seen)
    emb.close()


def test_async_route_shares_encoder_calls_between_concurrent_requests() -> None:
    import asyncio

    from agent.router import Router
    from agent.synthetic_log import generate_log

    log = generate_log(n_prompts=200, n_models=3, seed=5)
    inner = SlowEmbedder()
    router = Router.from_log(log, embedder=inner, k=4)
    batching = BatchingEmbedder(inner, max_wait=0.01, cache_size=0)
    router.embedder = batching

    async def many() -> list[Any]:
        return await asyncio.gather(
            *(router.aroute(f"fresh question {i}", tags={"app": "t"}) for i in range(16))
        )

    try:
        inner.calls.clear()
        decisions = asyncio.run(many())
    finally:
        batching.close()
    assert len({d.id for d in decisions}) == 16 and all(d.tags == ("app=t",) for d in decisions)
    assert sum(inner.calls) == 16 and len(inner.calls) < 16  # requests shared encoder calls
    plain = Router.from_log(log, embedder=inner, k=4)
    assert asyncio.run(plain.aroute("a question")).model in plain.models  # via a thread
