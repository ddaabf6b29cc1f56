"""Budget pacing: adjust λ online so realised mean cost converges to a target (primal–dual)."""

from __future__ import annotations

from typing import Any


class BudgetPacer:
    """Dual ascent on the cost constraint ``mean cost <= target``.

    After each routed request, λ moves by ``rate · (cost − target) / cost_scale`` and stays
    non-negative: spending above target raises the price of cost, spending below lowers it.
    The step shrinks as 1/√t toward ``min_rate`` so λ settles instead of oscillating.

    >>> pacer = BudgetPacer(target=1.0, cost_scale=2.0, lam=0.0)
    >>> for _ in range(3):
    ...     _ = pacer.observe(2.0)
    >>> round(pacer.lam, 3) > 0
    True
    """

    def __init__(
        self,
        target: float,
        *,
        cost_scale: float,
        lam: float = 0.1,
        rate: float = 0.5,
        min_rate: float = 0.02,
    ) -> None:
        if not target > 0 or not cost_scale > 0:
            raise ValueError("budget target and cost scale must be > 0")
        self.target = target
        self.cost_scale = cost_scale
        self.lam = lam
        self.rate = rate
        self.min_rate = min_rate
        self._t = 0
        self._spent = 0.0

    @property
    def mean_cost(self) -> float:
        return self._spent / self._t if self._t else 0.0

    def observe(self, cost: float) -> float:
        """Record one request's cost; return the λ for the next request."""
        self._t += 1
        self._spent += cost
        step = max(self.rate / self._t**0.5, self.min_rate)
        self.lam = max(0.0, self.lam + step * (cost - self.target) / self.cost_scale)
        return self.lam

    def to_state(self) -> dict[str, Any]:
        return {"lam": self.lam, "t": self._t, "spent": self._spent}

    def load_state(self, state: dict[str, Any]) -> None:
        self.lam, self._t, self._spent = state["lam"], state["t"], state["spent"]
