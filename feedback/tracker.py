"""Which feedback rows this replica has folded into its posterior, in bounded memory."""

from __future__ import annotations

from typing import Any


class AppliedIds:
    """Exactly-once bookkeeping over database ids that may commit out of order.

    ``hwm`` is the largest applied id. Every smaller id not yet applied is a *gap* (an id whose
    transaction has not committed yet, or never will); gaps are re-polled until ``gap_timeout``
    seconds after they were first noticed.

    >>> ids = AppliedIds()
    >>> ids.claim(1, now=0), ids.claim(3, now=0), ids.claim(3, now=0), sorted(ids.gaps)
    (True, True, False, [2])
    >>> ids.claim(2, now=1), ids.gaps, ids.count
    (True, {}, 3)
    """

    def __init__(self, hwm: int = 0, gaps: dict[int, float] | None = None, count: int = 0) -> None:
        self.hwm = hwm
        self.gaps: dict[int, float] = dict(gaps or {})
        self.count = count

    def claim(self, row_id: int, *, now: float) -> bool:
        """Mark ``row_id`` applied; False if it already was (then do not apply it again)."""
        if row_id > self.hwm:
            for missing in range(self.hwm + 1, row_id):
                self.gaps[missing] = now
            self.hwm = row_id
        elif self.gaps.pop(row_id, None) is None:
            return False
        self.count += 1
        return True

    def expire(self, *, before: float) -> None:
        """Forget gaps noticed before ``before``: those ids will never commit."""
        self.gaps = {i: t for i, t in self.gaps.items() if t >= before}

    def to_state(self) -> dict[str, Any]:
        return {"hwm": self.hwm, "gaps": sorted(self.gaps), "count": self.count}

    @classmethod
    def from_state(cls, state: dict[str, Any], *, now: float) -> AppliedIds:
        return cls(int(state["hwm"]), dict.fromkeys(state["gaps"], now), int(state["count"]))
