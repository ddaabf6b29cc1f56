"""Group commit: one thread writes the rows of concurrent requests in few statements.

Requests hand a :class:`Job` to :meth:`GroupCommitter.submit` and wait. The writer thread takes
every job queued at that moment (up to ``max_batch``) and lets each job class write its jobs,
typically with one multi-row ``INSERT`` that commits all their rows at once. Only then does it
let each job finish (fold into the posterior, look up duplicates) and answer the waiting
requests: an answer always follows the commit that made it durable. While one batch commits,
the next one gathers, so the batch size grows with the load by itself.

Each statement a job class runs must be complete on its own (atomic, and correct if the next
one never runs): the writer runs them in autocommit mode, so a batch costs one round trip and
one WAL flush per statement rather than BEGIN, statements and COMMIT. (On a single shared
connection, in-memory SQLite, it wraps the batch in one transaction instead.) If a batch fails,
the jobs whose statements committed are finished and the others run again one by one, so one
bad job fails only its own request.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, Self

from sqlalchemy import Connection, Engine
from sqlalchemy.pool import StaticPool

logger = logging.getLogger(__name__)


class Job(ABC):
    """One request's share of a batch. The jobs of a batch are grouped by class."""

    def __init__(self) -> None:
        self.result: Any = None
        self.error: BaseException | None = None
        #: True once the statement carrying this job's row has committed (or found it stored).
        self.written = False

    @classmethod
    @abstractmethod
    def run_batch(cls, conn: Connection, jobs: Sequence[Self]) -> None:
        """Write ``jobs``, each statement atomic on its own, and set ``written`` on the jobs a
        statement has settled. A job refused for a reason of its own sets ``error`` and writes
        nothing; an exception fails the jobs not yet written."""

    @classmethod
    @abstractmethod
    def finish_batch(cls, engine: Engine, jobs: Sequence[Self]) -> None:
        """After the commit: set each job's ``result`` (or ``error``)."""


_Waiter = tuple[Job, "asyncio.Future[Any] | concurrent.futures.Future[Any]"]


class GroupCommitter:
    """The writer thread. :meth:`start` it, :meth:`submit` jobs, :meth:`close` it."""

    def __init__(self, engine: Engine, *, max_batch: int = 512, name: str = "ra-writer") -> None:
        self.engine = engine
        shared = isinstance(engine.pool, StaticPool)  # one connection: keep others' transactions
        self._autocommit = not shared
        self.max_batch = max(1, max_batch)
        self.name = name
        self._queue: queue.SimpleQueue[_Waiter | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.batches = 0
        self.jobs = 0

    def start(self) -> None:
        """Start the writer thread (the first :meth:`submit` does it too)."""
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()

    def close(self, timeout: float = 30.0) -> None:
        """Finish the queued jobs, then stop the thread (a later submit starts it again)."""
        with self._start_lock:
            if self._thread is not None:
                self._queue.put(None)
                self._thread.join(timeout)
                self._thread = None

    async def submit(self, job: Job) -> Any:
        """Queue ``job`` and wait for its result (raises the job's error)."""
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self._thread is None:
            self.start()
        self._queue.put((job, fut))
        return await fut

    def submit_blocking(self, job: Job, timeout: float | None = None) -> Any:
        """:meth:`submit` for a caller on a plain thread."""
        return self.enqueue(job).result(timeout)

    def enqueue(self, job: Job) -> concurrent.futures.Future[Any]:
        """Queue ``job`` without waiting; the future settles after its commit (any thread)."""
        fut: concurrent.futures.Future[Any] = concurrent.futures.Future()
        if self._thread is None:
            self.start()
        self._queue.put((job, fut))
        return fut

    # -- the writer thread ---------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            self._process(batch)
            if stop:
                return

    def _process(self, batch: list[_Waiter]) -> None:
        jobs = [job for job, _ in batch]
        for job in jobs:
            job.result, job.error, job.written = None, None, False
        groups: dict[type[Job], list[Job]] = {}
        for job in jobs:
            groups.setdefault(type(job), []).append(job)
        failure: Exception | None = None
        try:
            self._write(groups)
        except Exception as exc:
            failure = exc
        for cls, members in groups.items():
            self._finish(cls, [j for j in members if failure is None or _settled(j)])
        self.batches += 1
        self.jobs += len(jobs)
        if failure is None:
            _deliver(batch)
            return
        _deliver([w for w in batch if _settled(w[0])])
        retry = [w for w in batch if not _settled(w[0])]
        if len(batch) == 1:
            for job, _ in retry:
                job.error = failure
            _deliver(retry)
            return
        logger.warning("a batch of %d writes failed (%s); retrying singly", len(jobs), failure)
        for waiter in retry:
            self._process([waiter])

    def _write(self, groups: dict[type[Job], list[Job]]) -> None:
        if self._autocommit:
            with self.engine.connect() as conn:
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                for cls, members in groups.items():
                    cls.run_batch(conn, members)
        else:
            try:
                with self.engine.begin() as conn:
                    for cls, members in groups.items():
                        cls.run_batch(conn, members)
            except Exception:
                for members in groups.values():  # rolled back: nothing was written
                    for job in members:
                        job.written = False
                raise

    def _finish(self, cls: type[Job], jobs: list[Job]) -> None:
        """Let committed jobs finish; a failure here cannot undo their writes, only report."""
        if not jobs:
            return
        try:
            cls.finish_batch(self.engine, jobs)
        except Exception as exc:
            logger.exception("finishing %d %s jobs failed", len(jobs), cls.__name__)
            for job in jobs:
                if job.result is None and job.error is None:
                    job.error = exc


def _settled(job: Job) -> bool:
    return job.written or job.error is not None


def _deliver(batch: list[_Waiter]) -> None:
    """Hand each waiter its job's outcome, with one call per event loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Waiter]] = {}
    for job, fut in batch:
        if isinstance(fut, asyncio.Future):
            by_loop.setdefault(fut.get_loop(), []).append((job, fut))
        else:
            _settle(job, fut)
    for loop, waiters in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle_all, waiters)
        except RuntimeError:  # the loop closed: nobody is waiting any more
            pass


def _settle_all(waiters: list[_Waiter]) -> None:
    for job, fut in waiters:
        _settle(job, fut)


def _settle(job: Job, fut: asyncio.Future[Any] | concurrent.futures.Future[Any]) -> None:
    if fut.done():
        return
    if job.error is not None:
        fut.set_exception(job.error)
    else:
        fut.set_result(job.result)
