"""Which prompts of a log fit the clusters, profile the models and feed the stream, per seed.

Three ways to divide them: random shares (:class:`Splits`), the log's own ``split`` column
(``fit``, ``val``, ``pool``), or a *shift*: the stream comes from some datasets while the
clusters and profiles come only from the others. A label budget (``val_size``) then keeps only
that many labelled validation prompts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from agent.log_checks import SPLIT_VALUES
from agent.logs import ReplayLog

#: How far from 1 the shares of a :class:`Splits` may sum (``--split`` is typed by hand).
SUM_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Splits:
    """Shares of prompts for the cluster fit, the labelled validation set and the replay pool."""

    fit: float = 0.6
    validation: float = 0.1
    pool: float = 0.3

    def __post_init__(self) -> None:
        shares = self.shares
        if min(shares) <= 0 or abs(sum(shares) - 1.0) > SUM_TOLERANCE:
            raise ValueError(f"--split: shares must be positive and sum to 1, got {self.text}")

    @property
    def shares(self) -> tuple[float, float, float]:
        return self.fit, self.validation, self.pool

    @property
    def text(self) -> str:
        """The shares as ``--split`` spells them.

        >>> Splits().text
        '0.6,0.1,0.3'
        """
        return ",".join(f"{x:g}" for x in self.shares)

    def sizes(self, n: int) -> tuple[int, int, int]:
        """How many of ``n`` prompts go to the fit, validation and pool shares.

        >>> Splits().sizes(100)
        (60, 10, 30)
        >>> Splits(0.5, 0.25, 0.25).sizes(2)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: --split 0.5,0.25,0.25: 2 prompts leave 1 to fit, 1 to validate and 0 to ...
        """
        a = int(round(self.fit * n))
        b = max(1, int(round(self.validation * n)))
        if a < 1 or a + b >= n:
            raise ValueError(
                f"--split {self.text}: {n} prompts leave {a} to fit, {b} to validate and "
                f"{max(n - a - b, 0)} to replay; each needs at least one"
            )
        return a, b, n - a - b

    def draw(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        """Disjoint index arrays (fit, validation, pool) over ``n`` prompts."""
        return self.draw_from(np.arange(n), rng)

    def draw_from(self, rows: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        """Disjoint (fit, validation, pool) arrays of the prompts ``rows``, shuffled."""
        a, b, _ = self.sizes(rows.size)
        order = rng.permutation(rows)
        return order[:a], order[a : a + b], order[a + b :]


@dataclass(frozen=True)
class Division:
    """One seed's prompts (log rows): ``shifted`` is empty unless the stream is shifted."""

    fit: np.ndarray
    val: np.ndarray
    pool: np.ndarray
    shifted: np.ndarray


def datasets(log: ReplayLog) -> np.ndarray:
    """Each prompt's dataset (the log's ``dataset`` column); an error if the log has none."""
    tasks = np.asarray(log.tasks, dtype=object)
    if not any(tasks):
        raise ValueError(f"{log.name}: --shift needs a 'dataset' column, and this log has none")
    return tasks


def check_shift(log: ReplayLog, shift: Sequence[str]) -> None:
    """Raise ``ValueError`` naming the available datasets if ``shift`` names others."""
    names = sorted(set(datasets(log)) - {""})
    unknown = [s for s in shift if s not in names]
    if unknown:
        raise ValueError(
            f"--shift: unknown dataset(s) {', '.join(unknown)}; {log.name} has {', '.join(names)}"
        )
    if len(set(shift)) == len(names):
        raise ValueError("--shift names every dataset: none is left to fit the profiles on")


def own_split(log: ReplayLog) -> np.ndarray | None:
    """The log's ``split`` column when it divides the prompts into fit, val and pool.

    A column holding other values (the shared logs' ``train``/``test``) is not a protocol and
    is left alone; one mixing the two is an error naming the first stray value.
    """
    values = log.columns.get("split")
    if values is None:
        return None
    col = np.asarray(values, dtype=object)
    ours = np.isin(col, SPLIT_VALUES)
    if not ours.any():
        return None
    if not ours.all():
        i = int(np.flatnonzero(~ours)[0])
        raise ValueError(
            f"{log.name}: column 'split' mixes {'/'.join(SPLIT_VALUES)} with {col[i]!r} "
            f"(prompt_id {log.prompt_ids[i]!r}); use only {', '.join(SPLIT_VALUES)}"
        )
    for v in SPLIT_VALUES:
        if not (col == v).any():
            raise ValueError(f"{log.name}: column 'split' has no {v!r} prompts")
    return col


def divide(
    log: ReplayLog,
    rng: np.random.Generator,
    *,
    splits: Splits,
    val_size: int | None = None,
    shift: Sequence[str] = (),
) -> Division:
    """Divide ``log``'s prompts for one seed (see the module docstring)."""
    own = own_split(log)
    shifted = np.zeros(0, dtype=np.intp)
    if shift:
        if own is not None:
            raise ValueError("--shift and the log's own split column do not combine; drop one")
        check_shift(log, shift)
        mask = np.isin(datasets(log), list(shift))
        fit, val, pool = splits.draw_from(np.flatnonzero(~mask), rng)
        shifted = rng.permutation(np.flatnonzero(mask))
    elif own is not None:
        fit, val, pool = (rng.permutation(np.flatnonzero(own == v)) for v in SPLIT_VALUES)
    else:
        fit, val, pool = splits.draw(log.n_prompts, rng)
    if val_size is not None:
        if not 1 <= val_size <= val.size:
            raise ValueError(
                f"--val-size must be between 1 and the {val.size} labelled validation prompts, "
                f"got {val_size}"
            )
        val = val[:val_size]
    return Division(fit, val, pool, shifted)
