"""Upstream health: a circuit breaker per pool model.

A breaker is **closed** while its upstream answers. It **opens** after ``failures`` failed calls
in a row, or when at least ``min_calls`` calls in the last ``window`` seconds failed at a share
of ``error_rate`` or more. Open, it keeps routed requests away for ``cooldown`` seconds; then it
is **half-open**: one routed call at a time goes through as a probe, and the probe's outcome
closes the breaker or opens it for another cool-down. Any call that succeeds closes it (a
request that names the model is sent even while its breaker is open).

>>> t = [0.0]
>>> rules = BreakerRules(failures=2, error_rate=0.5, window=60.0, min_calls=10, cooldown=10.0)
>>> health = Health(rules, clock=lambda: t[0])
>>> health.failed("a"); health.failed("a")
>>> health.state("a"), health.routable(["a", "b"]), health.admit("a")
('open', ['b'], False)
>>> t[0] = 10.0  # the cool-down is over: one probe at a time
>>> health.state("a"), health.admit("a"), health.admit("a")
('half-open', True, False)
>>> health.succeeded("a"); health.state("a")
'closed'
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

CLOSED, HALF_OPEN, OPEN = "closed", "half-open", "open"
#: A breaker's state as a number (the ``routing_upstream_breaker_state`` gauge).
STATE_VALUES = {CLOSED: 0, HALF_OPEN: 1, OPEN: 2}


@dataclass(frozen=True)
class BreakerRules:
    """When a breaker opens and how long it stays open (0 turns a rule off): the service's
    ``breaker_*`` settings (:meth:`feedback.settings.Settings.breaker_rules`)."""

    #: Failed calls in a row that open it.
    failures: int
    #: Share of failed calls in the window that opens it, once it holds ``min_calls`` calls.
    error_rate: float
    window: float
    min_calls: int
    #: Seconds open before a probe may go through.
    cooldown: float

    def __post_init__(self) -> None:
        checks = {
            "failures": self.failures >= 0,
            "error_rate": 0.0 <= self.error_rate <= 1.0,
            "window": math.isfinite(self.window) and self.window > 0,
            "min_calls": self.min_calls >= 1,
            "cooldown": math.isfinite(self.cooldown) and self.cooldown >= 0,
        }
        bad = [f"breaker_{name}" for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(
                f"setting(s) out of range: {', '.join(bad)} (need breaker_failures >= 0, "
                "0 <= breaker_error_rate <= 1, breaker_window > 0, breaker_min_calls >= 1, "
                "breaker_cooldown >= 0)"
            )


class Breaker:
    """One model's breaker (see the module). Runs on one event loop: no locks."""

    def __init__(self, rules: BreakerRules, clock: Callable[[], float]) -> None:
        self.rules = rules
        self.clock = clock
        self._opened_at: float | None = None
        self._reason = ""
        self._streak = 0
        self._probe_at: float | None = None
        #: Calls per whole second of the window: ``[second, calls, failures]``, oldest first.
        self._seconds: deque[list[int]] = deque()

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return CLOSED
        return OPEN if self.clock() - self._opened_at < self.rules.cooldown else HALF_OPEN

    def admit(self) -> bool:
        """Whether a routed call may go to the upstream now: always when closed, never when
        open, and when half-open, if no other probe is under way (one whose outcome never came
        is given up after a cool-down)."""
        state = self.state
        if state != HALF_OPEN:
            return state == CLOSED
        now = self.clock()
        if self._probe_at is not None and now - self._probe_at < self.rules.cooldown:
            return False
        self._probe_at = now
        return True

    def succeeded(self) -> None:
        self._count(failed=False)
        self._streak = 0
        if self._opened_at is not None:
            self._opened_at = self._probe_at = None
            self._seconds.clear()

    def failed(self) -> None:
        self._count(failed=True)
        self._streak += 1
        self._probe_at = None
        if self._opened_at is not None:  # a failed probe: another cool-down
            self._opened_at = self.clock()
            return
        reason = self._trips()
        if reason is not None:
            self._opened_at, self._reason = self.clock(), reason

    def released(self) -> None:
        """A probe ended without an outcome (the request was cancelled)."""
        self._probe_at = None

    def view(self) -> dict[str, Any]:
        """The state, why it opened, and the seconds until a probe may go (when not closed)."""
        state = self.state
        if state == CLOSED:
            return {"state": state}
        assert self._opened_at is not None
        wait = max(0.0, self._opened_at + self.rules.cooldown - self.clock())
        return {"state": state, "reason": self._reason, "probe_in_s": round(wait, 1)}

    def _count(self, *, failed: bool) -> None:
        second = int(self.clock())
        while self._seconds and self._seconds[0][0] <= second - self.rules.window:
            self._seconds.popleft()
        if not self._seconds or self._seconds[-1][0] != second:
            self._seconds.append([second, 0, 0])
        self._seconds[-1][1] += 1
        self._seconds[-1][2] += int(failed)

    def _trips(self) -> str | None:
        rules = self.rules
        if rules.failures and self._streak >= rules.failures:
            return f"{self._streak} failures in a row"
        calls = sum(s[1] for s in self._seconds)
        fails = sum(s[2] for s in self._seconds)
        if rules.error_rate and calls >= rules.min_calls and fails >= rules.error_rate * calls:
            return f"{fails} of {calls} calls failed in {rules.window:g} s"
        return None


class Health:
    """The breakers of the pool's models, made on first use."""

    def __init__(self, rules: BreakerRules, *, clock: Callable[[], float] = time.monotonic):
        self.rules = rules
        self.clock = clock
        self._breakers: dict[str, Breaker] = {}

    def breaker(self, model: str) -> Breaker:
        b = self._breakers.get(model)
        if b is None:
            b = self._breakers[model] = Breaker(self.rules, self.clock)
        return b

    def state(self, model: str) -> str:
        return self.breaker(model).state

    def routable(self, models: Iterable[str]) -> list[str]:
        """``models`` whose breaker is not open (closed or half-open), in order."""
        return [m for m in models if self.state(m) != OPEN]

    def admit(self, model: str) -> bool:
        return self.breaker(model).admit()

    def succeeded(self, model: str) -> None:
        self.breaker(model).succeeded()

    def failed(self, model: str) -> None:
        self.breaker(model).failed()

    def released(self, model: str) -> None:
        self.breaker(model).released()

    def views(self) -> dict[str, dict[str, Any]]:
        """Each model's :meth:`Breaker.view`, by name."""
        return {m: b.view() for m, b in sorted(self._breakers.items())}
