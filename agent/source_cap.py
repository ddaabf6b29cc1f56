"""How much one client's feedback may weigh: the influence caps every decision store applies.

Two rules, each bounding what spamming feedback can buy:

- **per source**: a source's first ``source_limit`` pieces of feedback in a ``source_window``
  count fully; after that piece ``n`` weighs ``limit / n`` (:func:`capped_weight`);
- **per identity**: the service attributes feedback to an *identity* (the client key that
  matched, else the client's address; see :mod:`feedback.identity`), and a claimed source is
  scoped under it, so inventing sources buys nothing. One identity's total weight on any
  (cluster, model) cell within ``identity_window`` is at most ``identity_budget``: the piece
  that would pass it gets what is left, later ones weigh 0 until older ones leave the window;
- **shared corrections per identity**: a policy may also learn parts shared by every model
  (``default``'s difficulty corrections, :mod:`policies.corrections`), which every piece of
  feedback on any (cluster, model) moves. One identity's total weight on them within the
  window is at most ``shared_budget`` (a quarter of one label), so that however its feedback is
  spread over clusters it cannot move what the router thinks of every model at once. How hard
  the traffic is, is learnt from many identities.

A decision whose ``allowed`` narrowed the choice also carries its *teach* factor (see
:func:`agent.propensity.teach_factor`), which scales its feedback's weight before the
identity's budget is charged. An in-process caller (the embedded Router, identity ``""``) and
``identity_budget = 0`` skip the identity rules.

>>> limits = Limits(source_limit=2, identity_budget=1.5, shared_budget=0.75)
>>> influence("addr:10.0.0.1", 1.0, Seen(source_count=0), limits)
Influence(weight=1.0, shared=0.75)
>>> influence("addr:10.0.0.1", 1.0, Seen(source_count=3, identity_weight=1.0), limits)
Influence(weight=0.5, shared=0.5)
>>> influence("addr:10.0.0.1", 1.0, Seen(identity_weight=1.5), limits)
Influence(weight=0.0, shared=0.0)
>>> influence("addr:10.0.0.1", 1.0, Seen(shared_weight=0.75), limits)
Influence(weight=1.0, shared=0.0)
>>> influence("", 0.25, Seen(identity_weight=9.0, shared_weight=9.0), limits)
Influence(weight=0.25, shared=0.25)
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass


def capped_weight(count: int, limit: int) -> float:
    """The weight of a source's ``count``-th piece of feedback in a window (1-based).

    The first ``limit`` pieces count fully; after that piece ``n`` counts ``limit / n``, so a
    source's total influence per window grows only logarithmically with its volume.

    >>> [round(capped_weight(n, 2), 3) for n in (1, 2, 3, 4)]
    [1.0, 1.0, 0.667, 0.5]
    """
    if limit < 1:
        raise ValueError(f"source limit must be >= 1, got {limit}")
    return 1.0 if count <= limit else limit / count


@dataclass(frozen=True)
class Limits:
    """The caps' settings (see the module's docstring); ``identity_budget = 0`` turns the
    identity rules (both budgets) off."""

    source_limit: int = 50
    source_window: float = 3600.0
    identity_budget: float = 10.0
    identity_window: float = 86400.0
    shared_budget: float = 0.25

    def __post_init__(self) -> None:
        if self.source_limit < 1 or not self.source_window > 0:
            raise ValueError(
                f"need source_limit >= 1 and source_window > 0, got {self.source_limit} and "
                f"{self.source_window}"
            )
        if not self.identity_budget >= 0 or not self.identity_window > 0:
            raise ValueError(
                f"need identity_budget >= 0 and identity_window > 0, got "
                f"{self.identity_budget} and {self.identity_window}"
            )
        if not self.shared_budget >= 0:
            raise ValueError(f"need shared_budget >= 0, got {self.shared_budget}")


@dataclass(frozen=True)
class Seen:
    """What the windows hold before a piece of feedback: its (scoped) source's count, its
    identity's weight on the decision's (cluster, model) and on the shared corrections."""

    source_count: int = 0
    identity_weight: float = 0.0
    shared_weight: float = 0.0


@dataclass(frozen=True)
class Influence:
    """What one piece of feedback may do: move the posterior's parts of its model by
    ``weight`` (0: not at all), and the parts shared by every model by ``shared``
    (at most ``weight``)."""

    weight: float
    shared: float


def influence(identity: str, teach: float, seen: Seen, limits: Limits) -> Influence:
    """The influence of one new piece of feedback from ``identity`` on a decision with
    ``teach`` factor, given what the windows have ``seen`` (see the module's docstring)."""
    weight = teach * capped_weight(seen.source_count + 1, limits.source_limit)
    if not identity or limits.identity_budget == 0:
        return Influence(weight, weight)
    weight = max(0.0, min(weight, limits.identity_budget - seen.identity_weight))
    return Influence(weight, max(0.0, min(weight, limits.shared_budget - seen.shared_weight)))


#: (time, amount) entries per key, oldest first.
Windows = dict[Hashable, deque[tuple[float, float]]]


class InfluenceCap:
    """The windows of :func:`influence`, in memory (the embedded Router's store; the SQL
    store reads them from its rows instead): :meth:`weigh` records one piece of feedback and
    returns its influence.

    >>> now = [0.0]
    >>> cap = InfluenceCap(Limits(source_limit=1, source_window=60), clock=lambda: now[0])
    >>> cap.weigh("", "u", 0, "m", 1.0).weight, cap.weigh("", "u", 0, "m", 1.0).weight
    (1.0, 0.5)
    >>> now[0] = 61.0
    >>> cap.weigh("", "u", 0, "m", 1.0).weight
    1.0
    """

    def __init__(self, limits: Limits, clock: Callable[[], float] = time.time) -> None:
        self.limits = limits
        self.clock = clock
        self._sources: Windows = {}
        self._cells: Windows = {}
        self._shared: Windows = {}
        self._lock = threading.Lock()

    def weigh(self, identity: str, source: str, cell: int, model: str, teach: float) -> Influence:
        """Record one piece of feedback from ``source`` (scoped; ``""``: anonymous, uncapped
        by source) of ``identity`` on ``model`` in ``cell`` and return its influence."""
        lim, now = self.limits, self.clock()
        with self._lock:
            count = len(_window(self._sources, source, now - lim.source_window)) if source else 0
            cell_key = (identity, cell, model)
            since = now - lim.identity_window
            used = sum(w for _, w in _window(self._cells, cell_key, since))
            shared = sum(w for _, w in _window(self._shared, identity, since))
            out = influence(identity, teach, Seen(count, used, shared), lim)
            if source:
                self._sources[source].append((now, 1.0))
            if identity:
                self._cells[cell_key].append((now, out.weight))
                self._shared[identity].append((now, out.shared))
            return out


def _window(windows: Windows, key: Hashable, since: float) -> deque[tuple[float, float]]:
    """``key``'s (time, amount) entries after ``since`` (older ones dropped)."""
    q = windows.setdefault(key, deque())
    while q and q[0][0] <= since:
        q.popleft()
    return q
