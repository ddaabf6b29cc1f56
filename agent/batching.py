"""Micro-batching of concurrent embedding calls, with an LRU cache of prompt embeddings.

A transformer embeds 16 prompts in one call much faster than in 16 calls, and concurrent calls
from many threads fight over the same cores. :class:`BatchingEmbedder` gives the wrapped
embedder one thread of its own: callers queue their texts and wait; the thread takes every
request queued at that moment (waiting up to ``max_wait`` seconds for more once it has one,
until ``max_batch`` texts), embeds the texts no cached row covers in one call, and answers each
caller with its rows. It waits only while requests come concurrently (the last batch held
more than one), so a lone caller never waits, a busy service embeds in batches as large as the
load, and a request waits at most ``max_wait`` for company. A failed encoder call fails the
callers of that batch only, each with an :class:`EncoderError`; a caller that has gone away
(a cancelled coroutine) is skipped when its batch is answered.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from agent.embedder import Embedder

_Request = tuple[list[str], "asyncio.Future[np.ndarray] | concurrent.futures.Future[np.ndarray]"]


class EncoderError(RuntimeError):
    """The encoder failed on the batch holding this request (the cause is chained)."""


class BatchingEmbedder:
    """An :class:`~agent.embedder.Embedder` that batches concurrent calls to ``inner``.

    ``cache_size`` rows of recent texts are kept (0 disables the cache); ``hits`` counts
    texts served from it, ``batches`` and ``texts`` the calls made to ``inner`` and their size.
    ``observe`` (if set) is called after each call to ``inner`` with the number of texts and
    the seconds it took, from the embedding thread; it must not raise.

    >>> from agent.embedder import HashingEmbedder
    >>> emb = BatchingEmbedder(HashingEmbedder(dim=16), max_wait=0.0)
    >>> x = emb.encode(["a b", "c d", "a b"])
    >>> x.shape, bool((x[0] == x[2]).all()), emb.texts, emb.id
    ((3, 16), True, 2, 'hashing-16-s0')
    >>> emb.close()
    """

    def __init__(
        self,
        inner: Embedder,
        *,
        max_batch: int = 64,
        max_wait: float = 0.002,
        cache_size: int = 10_000,
    ) -> None:
        self.inner = inner
        self.max_batch = max(1, max_batch)
        self.max_wait = max(0.0, max_wait)
        self.cache_size = max(0, cache_size)
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.hits = self.batches = self.texts = 0
        self.observe: Callable[[int, float], None] | None = None
        self._last_requests = 0

    @property
    def id(self) -> str:
        return self.inner.id

    @property
    def dim(self) -> int:
        return self.inner.dim

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` (blocking), batched with whatever other callers want meanwhile."""
        fut: concurrent.futures.Future[np.ndarray] = concurrent.futures.Future()
        self._submit(list(texts), fut)
        return fut.result()

    async def encode_async(self, texts: Sequence[str]) -> np.ndarray:
        """:meth:`encode` for a coroutine: the event loop runs on while the batch embeds."""
        fut: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        self._submit(list(texts), fut)
        return await fut

    def close(self) -> None:
        """Stop the thread after the queued requests (a later call starts it again)."""
        with self._start_lock:
            if self._thread is not None:
                self._queue.put(None)
                self._thread.join()
                self._thread = None

    def _submit(self, texts: list[str], fut: Any) -> None:
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name="ra-embedder", daemon=True
                    )
                    self._thread.start()
        self._queue.put((texts, fut))

    # -- the embedding thread ------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch, stop = self._gather(first)
            self._embed(batch)
            if stop:
                return

    def _gather(self, first: _Request) -> tuple[list[_Request], bool]:
        """``first`` and the requests that arrive within ``max_wait`` (up to ``max_batch``)."""
        batch, size = [first], len(first[0])
        wait = self.max_wait if self._last_requests > 1 else 0.0
        deadline = time.monotonic() + wait
        while size < self.max_batch:
            try:
                left = deadline - time.monotonic()
                nxt = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if nxt is None:
                return batch, True
            batch.append(nxt)
            size += len(nxt[0])
        self._last_requests = len(batch)
        return batch, False

    def _embed(self, batch: list[_Request]) -> None:
        try:
            rows = self._rows({t for texts, _ in batch for t in texts})
        except Exception as exc:
            n = sum(len(texts) for texts, _ in batch)
            err = EncoderError(f"encoder {self.id} failed on a batch of {n} text(s): {exc}")
            err.__cause__ = exc
            for _, fut in batch:
                _resolve(fut, err)
            return
        dim = self.dim
        for texts, fut in batch:
            out = np.stack([rows[t] for t in texts]) if texts else np.zeros((0, dim), np.float32)
            _resolve(fut, out)

    def _rows(self, wanted: set[str]) -> dict[str, np.ndarray]:
        """A row for every text in ``wanted``: from the cache, else from one ``inner`` call."""
        rows: dict[str, np.ndarray] = {}
        todo: list[str] = []
        for t in wanted:
            vec = self._cache.get(t)
            if vec is None:
                todo.append(t)
            else:
                self._cache.move_to_end(t)
                rows[t] = vec
        self.hits += len(rows)
        if todo:
            t0 = time.perf_counter()
            try:
                vecs = np.asarray(self.inner.encode(todo), dtype=np.float32)
            finally:
                if self.observe is not None:
                    self.observe(len(todo), time.perf_counter() - t0)
            if vecs.shape != (len(todo), self.dim):
                raise ValueError(f"returned shape {vecs.shape}, expected {(len(todo), self.dim)}")
            self.batches += 1
            self.texts += len(todo)
            for t, v in zip(todo, vecs, strict=True):
                rows[t] = v
                if self.cache_size:
                    self._cache[t] = v
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return rows


def _resolve(fut: Any, value: np.ndarray | BaseException) -> None:
    """Settle a waiter from the embedding thread (thread-safely for an asyncio future)."""
    if isinstance(fut, asyncio.Future):
        try:
            fut.get_loop().call_soon_threadsafe(_settle, fut, value)
        except RuntimeError:  # its event loop has closed: nobody waits any more
            pass
    else:
        _settle(fut, value)


def _settle(fut: Any, value: np.ndarray | BaseException) -> None:
    if fut.done():
        return
    if isinstance(value, BaseException):
        fut.set_exception(value)
    else:
        fut.set_result(value)
