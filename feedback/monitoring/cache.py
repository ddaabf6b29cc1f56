"""The monitoring report, built in a background thread and served from a short-lived cache."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from feedback.errors import Unavailable

logger = logging.getLogger(__name__)


@dataclass
class Report:
    """One built report: its JSON body and, rendered on first request, its HTML page."""

    data: dict[str, Any]
    render: Callable[[dict[str, Any]], str]
    _html: str | None = field(default=None, repr=False)

    def html(self) -> str:
        if self._html is None:
            self._html = self.render(self.data)
        return self._html


class ReportCache:
    """Serves the last report built by ``build`` (in its own thread, never on the event loop).

    A copy younger than ``ttl`` seconds is served as is. An older one is still served while a
    rebuild runs in the background (stale-while-revalidate); only the first request waits for
    the first build. A failed build raises :class:`~feedback.errors.Unavailable` (503) to a
    request with nothing to serve, and the next request starts a new build. ``builds`` counts
    the builds started.

    >>> cache = ReportCache(lambda: {"n": 1}, ttl=10.0, render=str)
    >>> asyncio.run(cache.get()).data, asyncio.run(cache.get()).data, cache.builds
    ({'n': 1}, {'n': 1}, 1)
    >>> cache.close()
    """

    def __init__(
        self,
        build: Callable[[], dict[str, Any]],
        *,
        ttl: float,
        render: Callable[[dict[str, Any]], str],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.clock = clock
        self.builds = 0
        self._build = build
        self._render = render
        self._lock = threading.Lock()
        self._report: Report | None = None
        self._built_at = -float("inf")
        self._pending: Future[Report] | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="report")

    def _run(self) -> Report:
        try:
            report = Report(self._build(), self._render)
        except Exception:
            logger.exception("building the monitoring report failed")
            raise
        report.html()  # the page too, here rather than on a request
        with self._lock:
            self._report, self._built_at = report, self.clock()
        return report

    def refresh(self) -> Future[Report]:
        """The build in flight, or a new one if none is."""
        with self._lock:
            if self._pending is None or self._pending.done():
                self.builds += 1
                self._pending = self._pool.submit(self._run)
            return self._pending

    async def get(self) -> Report:
        """The cached report (rebuilding it in the background once stale)."""
        with self._lock:
            report, age = self._report, self.clock() - self._built_at
        if report is not None and age < self.ttl:
            return report
        pending = self.refresh()
        if report is not None:
            return report
        try:
            return await asyncio.wrap_future(pending)
        except Exception as exc:
            raise Unavailable(f"the monitoring report could not be built: {exc}") from exc

    def join(self, timeout: float | None = None) -> None:
        """Wait for the build in flight, if any (its error stays with it)."""
        with self._lock:
            pending = self._pending
        if pending is not None:
            try:
                pending.result(timeout)
            except Exception:
                pass

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
