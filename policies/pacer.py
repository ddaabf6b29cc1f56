"""Budget pacing: adjust λ online so realised mean cost converges to a target (primal–dual)."""

from __future__ import annotations

from typing import Any

from policies.updates import pace


class BudgetPacer:
    """Multiplicative dual ascent on the cost constraint ``mean cost = target``.

    After each routed request, ``λ ← λ · exp(rate · (cost − target) / cost_scale)``: spending
    above target raises the price of cost, spending below lowers it. Working in log λ makes the
    step scale-free, so λ reaches the right order of magnitude within a few hundred requests
    whatever it starts from, and the realised mean cost then tracks the target closely. λ stays
    within [``lam_min``, ``lam_max``]; a target the pool cannot reach (above what it spends at
    λ = ``lam_min``) is simply not binding.

    >>> pacer = BudgetPacer(target=1.0, cost_scale=2.0, start_lam=0.1)
    >>> for _ in range(3):
    ...     _ = pacer.observe(2.0)
    >>> pacer.lam > 0.1, pacer.mean_cost
    (True, 2.0)
    """

    def __init__(
        self,
        target: float,
        *,
        cost_scale: float,
        start_lam: float = 0.1,
        rate: float = 0.1,
        lam_min: float = 1e-4,
        lam_max: float = 1e3,
    ) -> None:
        if not target > 0 or not cost_scale > 0:
            raise ValueError("budget target and cost scale must be > 0")
        self.target = target
        self.cost_scale = cost_scale
        self.start_lam = start_lam
        self.rate = rate
        self.lam_min = lam_min
        self.lam_max = lam_max
        self._t = 0
        self._spent = 0.0
        self._lam = min(max(start_lam, lam_min), lam_max)

    @property
    def mean_cost(self) -> float:
        return self._spent / self._t if self._t else 0.0

    @property
    def lam(self) -> float:
        """The λ to use for the next request."""
        return self._lam

    def observe(self, cost: float) -> float:
        """Record one request's cost; return the λ for the next request."""
        self._t += 1
        self._spent += cost
        self._lam = pace(
            self._lam, cost, self.target, self.cost_scale, self.rate, self.lam_min, self.lam_max
        )
        return self._lam

    def correct(self, estimated: float, real: float) -> float:
        """Replace a cost :meth:`observe` recorded (an estimate) by the real one, known only
        later; return the λ for the next request. The same as having observed ``real``.

        >>> a, b = BudgetPacer(1.0, cost_scale=1.0), BudgetPacer(1.0, cost_scale=1.0)
        >>> _ = a.observe(3.0); _ = b.observe(1.0)
        >>> round(b.correct(1.0, 3.0), 12) == round(a.lam, 12), b.mean_cost
        (True, 3.0)
        """
        self._spent += real - estimated
        self._lam = pace(
            self._lam,
            self.target + real - estimated,
            self.target,
            self.cost_scale,
            self.rate,
            self.lam_min,
            self.lam_max,
        )
        return self._lam

    def to_state(self) -> dict[str, Any]:
        return {"lam": self._lam, "t": self._t, "spent": self._spent}

    def load_state(self, state: dict[str, Any]) -> None:
        self._lam, self._t, self._spent = state["lam"], state["t"], state["spent"]
