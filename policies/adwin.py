"""ADWIN (Bifet & Gavaldà 2007) over plain arrays, so numba can run the very same update.

The exponential histogram keeps, per level ``i``, up to ``max_buckets`` buckets of ``2**i``
observations (their sum and their variance term); a level that overflows merges its two oldest
buckets into the next one. Every ``clock`` observations, once the window holds more than
``grace_period``, every split of the window into an older and a newer part, both at least
``min_window_length`` long, is tested; when their means differ by more than the Hoeffding-
Bernstein bound the oldest bucket is dropped, the test repeats, and a drift is reported. The
next observation after a drift starts a new window, as river's ``drift.ADWIN`` does: the
arithmetic follows river 0.26 (``rust_src/adwin.rs``) operation for operation, so the two report
the same drifts at the same observations (``tests/policies/test_adwin.py``).

A bank of detectors is ``buckets`` (detector × level × (max_buckets + 1) × (sum, variance)) and
``stats`` (per detector, the scalars below, then each level's bucket count), float64 arrays;
the functions here only index them (detector ``d``), so :mod:`simulator.kernel` compiles them
unchanged. :class:`ADWIN` is one detector, a bank of one.

>>> det = ADWIN(delta=0.002)
>>> rng = np.random.default_rng(1)
>>> [t for t in range(2000) if det.update(float(rng.random() < (0.8 if t < 1000 else 0.3)))]
[1055]
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

TOTAL, VARIANCE, WIDTH, LEVELS, TICK, DETECTED = range(6)
COUNT = 6  # stats[d, COUNT + i]: buckets in use at level i of detector d
N_LEVELS = 48  # room for 2**47 · max_buckets observations


def new_state(max_buckets: int, n: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(buckets, stats) of ``n`` empty detectors."""
    buckets = np.zeros((n, N_LEVELS, max_buckets + 1, 2))
    stats = np.zeros((n, COUNT + N_LEVELS))
    stats[:, LEVELS] = 1.0
    return buckets, stats


def update(
    buckets: np.ndarray,
    stats: np.ndarray,
    d: int,
    value: float,
    delta: float,
    clock: float,
    min_length: float,
    grace: float,
) -> bool:
    """Add one observation to detector ``d``; return whether a drift is detected with it."""
    if stats[d, DETECTED] != 0.0:  # the window after a drift starts afresh
        buckets[d] = 0.0
        stats[d] = 0.0
        stats[d, LEVELS] = 1.0
    _insert(buckets, stats, d, value)
    found = _detect(buckets, stats, d, delta, clock, min_length, grace)
    stats[d, DETECTED] = 1.0 if found else 0.0
    return found


def _insert(buckets: np.ndarray, stats: np.ndarray, d: int, value: float) -> None:
    c = int(stats[d, COUNT])
    buckets[d, 0, c, 0] = value
    buckets[d, 0, c, 1] = 0.0
    stats[d, COUNT] = c + 1.0
    width = stats[d, WIDTH] + 1.0
    stats[d, WIDTH] = width
    step = 0.0
    if width > 1.0:
        dv = value - stats[d, TOTAL] / (width - 1.0)
        step = (width - 1.0) * dv * dv / width
    stats[d, VARIANCE] += step
    stats[d, TOTAL] += value
    _merge(buckets, stats, d)


def _merge(buckets: np.ndarray, stats: np.ndarray, d: int) -> None:
    """Merge the two oldest buckets of each full level into the next level, bottom up."""
    full = buckets.shape[2]
    i = 0
    while int(stats[d, COUNT + i]) == full and i + 1 < buckets.shape[1]:
        n1 = float(1 << i)
        t0, t1 = buckets[d, i, 0, 0], buckets[d, i, 1, 0]
        mu1 = t0 / n1
        mu2 = t1 / n1
        v12 = buckets[d, i, 0, 1] + buckets[d, i, 1, 1] + n1 * 0.5 * (mu1 - mu2) * (mu1 - mu2)
        if i + 1 >= stats[d, LEVELS]:
            stats[d, LEVELS] = i + 2.0
        c = int(stats[d, COUNT + i + 1])
        buckets[d, i + 1, c, 0] = t0 + t1
        buckets[d, i + 1, c, 1] = v12
        stats[d, COUNT + i + 1] = c + 1.0
        _drop_oldest(buckets, stats, d, i, 2)
        if c + 1 < full:
            break
        i += 1


def _drop_oldest(buckets: np.ndarray, stats: np.ndarray, d: int, level: int, n: int) -> None:
    c = int(stats[d, COUNT + level])
    for r in range(c - n):
        buckets[d, level, r, 0] = buckets[d, level, r + n, 0]
        buckets[d, level, r, 1] = buckets[d, level, r + n, 1]
    for r in range(max(c - n, 0), c):
        buckets[d, level, r, 0] = 0.0
        buckets[d, level, r, 1] = 0.0
    stats[d, COUNT + level] = c - n


def _delete_oldest(buckets: np.ndarray, stats: np.ndarray, d: int) -> None:
    """Drop the window's oldest bucket."""
    last = int(stats[d, LEVELS]) - 1
    n = float(1 << last)
    u = buckets[d, last, 0, 0]
    v = buckets[d, last, 0, 1]
    mu = u / n
    stats[d, WIDTH] -= n
    stats[d, TOTAL] -= u
    width = stats[d, WIDTH]
    mu_window = stats[d, TOTAL] / width
    stats[d, VARIANCE] -= v + n * width * (mu - mu_window) * (mu - mu_window) / (n + width)
    _drop_oldest(buckets, stats, d, last, 1)
    if stats[d, COUNT + last] == 0.0 and last > 0:
        stats[d, LEVELS] = float(last)


def _detect(
    buckets: np.ndarray,
    stats: np.ndarray,
    d: int,
    delta: float,
    clock: float,
    min_length: float,
    grace: float,
) -> bool:
    found = False
    stats[d, TICK] += 1.0
    if stats[d, TICK] % clock != 0.0 or not stats[d, WIDTH] > grace:
        return False
    again = True
    while again:
        again = False
        n0, n1 = 0.0, stats[d, WIDTH]
        u0, u1 = 0.0, stats[d, TOTAL]
        delta_prime = 0.0  # the bound's window terms, worked out at the first split tested
        spread = 0.0
        for i in range(int(stats[d, LEVELS]) - 1, -1, -1):
            size = float(1 << i)
            c = int(stats[d, COUNT + i])
            for r in range(c):
                n0 += size
                n1 -= size
                t = buckets[d, i, r, 0]
                u0 += t
                u1 -= t
                if i == 0 and r == c - 1:
                    break
                if n1 >= min_length and n0 >= min_length:
                    if delta_prime == 0.0:
                        delta_prime = math.log(2.0 * math.log(stats[d, WIDTH]) / delta)
                        spread = stats[d, VARIANCE] / stats[d, WIDTH]
                    if _cut(n0, n1, u0 / n0 - u1 / n1, delta_prime, spread, min_length):
                        again = found = True
                        if stats[d, WIDTH] > 0.0:
                            _delete_oldest(buckets, stats, d)
                            break
            if again:
                break
    return found


def _cut(
    n0: float, n1: float, diff: float, delta_prime: float, spread: float, min_length: float
) -> bool:
    """Whether the means of the older ``n0`` and newer ``n1`` observations differ by more
    than the bound; ``spread`` is the window's variance per observation."""
    m_recip = 1.0 / (n0 - min_length + 1.0) + 1.0 / (n1 - min_length + 1.0)
    root = 2.0 * m_recip * spread * delta_prime
    if not root >= 0.0:  # rounding can leave the variance a hair below 0: river's sqrt is NaN
        return False
    return abs(diff) > math.sqrt(root) + 2.0 / 3.0 * delta_prime * m_recip


class ADWIN:
    """One detector with river's parameters and semantics; its state is two numpy arrays."""

    def __init__(
        self,
        delta: float = 0.002,
        clock: int = 32,
        max_buckets: int = 5,
        min_window_length: int = 5,
        grace_period: int = 10,
    ) -> None:
        if not 0.0 < delta < 1.0:
            raise ValueError(f"ADWIN delta must be in (0, 1), got {delta}")
        if clock < 1 or max_buckets < 1 or min_window_length < 1:
            raise ValueError("ADWIN clock, max_buckets and min_window_length must be >= 1")
        self.delta = delta
        self.clock = clock
        self.max_buckets = max_buckets
        self.min_window_length = min_window_length
        self.grace_period = grace_period
        self.buckets, self.stats = new_state(max_buckets)

    @property
    def settings(self) -> tuple[float, float, float, float]:
        """(delta, clock, min_window_length, grace_period) as :func:`update` takes them."""
        return self.delta, self.clock, self.min_window_length, self.grace_period

    def update(self, value: float) -> bool:
        return update(self.buckets, self.stats, 0, float(value), *self.settings)

    @property
    def drift_detected(self) -> bool:
        return bool(self.stats[0, DETECTED])

    @property
    def width(self) -> int:
        return int(self.stats[0, WIDTH])

    @property
    def total(self) -> float:
        return float(self.stats[0, TOTAL])

    @property
    def variance(self) -> float:
        return float(self.stats[0, VARIANCE])

    @property
    def estimation(self) -> float:
        return self.total / self.width if self.width else 0.0

    def to_state(self) -> dict[str, Any]:
        """JSON-safe: the scalars and the buckets in use, level by level."""
        levels = int(self.stats[0, LEVELS])
        counts = self.stats[0, COUNT : COUNT + levels].astype(int)
        return {
            "stats": self.stats[0, :COUNT].tolist(),
            "buckets": [self.buckets[0, i, : counts[i]].tolist() for i in range(levels)],
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.buckets, self.stats = new_state(self.max_buckets)
        self.stats[0, :COUNT] = state["stats"]
        for i, level in enumerate(state["buckets"]):
            rows = np.asarray(level, dtype=np.float64).reshape(-1, 2)
            self.buckets[0, i, : len(rows)] = rows
            self.stats[0, COUNT + i] = len(rows)
