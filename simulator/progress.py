"""Progress on stderr: a live bar on a terminal, a plain line every few seconds otherwise.

A bar redrawn with carriage returns is unreadable in a CI log or a file, and tqdm draws
nothing at all when stderr is not a terminal; a long replay must still show it is alive.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, TextIO

from tqdm import tqdm

#: Seconds between two progress lines when stderr is not a terminal.
EVERY = 10.0


class LineProgress:
    """tqdm's ``update``/``n`` for a stream that is not a terminal: one line at most every
    ``every`` seconds, and one when done.

    >>> import io
    >>> now = iter([0.0, 4.0, 11.0, 20.0, 30.0]).__next__
    >>> out = io.StringIO()
    >>> with LineProgress(200, "replaying", stream=out, clock=now) as bar:
    ...     bar.update(50)
    ...     bar.update(50)
    ...     bar.update(100)
    >>> print(out.getvalue(), end="")
    replaying: 100/200 steps (50%), 11 s
    replaying: 200/200 steps, done in 30 s
    """

    def __init__(
        self,
        total: int,
        desc: str,
        *,
        unit: str = "steps",
        every: float = EVERY,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total, self.desc, self.unit, self.every = total, desc, unit, every
        self.stream = stream if stream is not None else sys.stderr
        self.clock = clock
        self.n = 0
        self.start = self.last = clock()

    def update(self, k: int = 1) -> None:
        self.n += k
        now = self.clock()
        if now - self.last >= self.every and self.n < self.total:
            self.last = now
            share = f" ({self.n / self.total:.0%})" if self.total else ""
            self._line(f"{self.n:,}/{self.total:,} {self.unit}{share}, {now - self.start:.0f} s")

    def _line(self, text: str) -> None:
        print(f"{self.desc}: {text}", file=self.stream, flush=True)

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        err: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        took = f"{self.clock() - self.start:.0f} s"
        end = f"done in {took}" if kind is None else f"stopped after {took}"
        self._line(f"{self.n:,}/{self.total:,} {self.unit}, {end}")


def progress_bar(total: int, desc: str, *, unit: str = "steps") -> Any:
    """A tqdm bar on a terminal; :class:`LineProgress` lines otherwise."""
    if sys.stderr.isatty():
        return tqdm(
            total=total, desc=desc, unit=unit[:-1], unit_scale=True, file=sys.stderr, leave=False
        )
    return LineProgress(total, desc, unit=unit)


def stage(message: str) -> None:
    """One line on stderr naming the step that starts now (which may take a while)."""
    print(f"{message}...", file=sys.stderr, flush=True)
