"""Levels: Beta cells of other partitions of prompt space beside the clusters.

UniRoute describes a model by its error per cluster at one resolution K. A coarse K pools
more labels per cell and a fine K separates more kinds of prompt, and a partition by task
(the log's datasets, predicted from the embedding) separates what decides which model wins.
Each level here is a partition of prompt space with its own Beta(α, β) per (cell, model),
warm-started from the validation profile at that level and updated online by every piece of
feedback, as the clusters are. A context names its cell at each level (``Context.cells``).
Which partitions a pool gets is its builder's choice (:mod:`agent.level_maps`: the task
level where the log names tasks, else K-means at :data:`DEFAULT_LEVELS`).

:meth:`Levels.combine` turns the cluster's Beta into the decision's: its mean becomes the
weighted average of the cluster's mean (weight 1) and the levels' means (each level's
``weights`` entry, 1 unless its builder says otherwise), its strength (α + β) stays the
cluster's, so exploration keeps the spread it had.

>>> lv = Levels([(np.ones((2, 1)), np.ones((2, 1)))])
>>> a, b = lv.combine(np.array([3.0]), np.array([1.0]), (0,))
>>> float(a[0] / (a[0] + b[0])), float(a[0] + b[0])  # mean of 0.75 and 0.5; strength 4
(0.625, 4.0)
>>> a, b = Levels([(np.ones((2, 1)), np.ones((2, 1)))], weights=[3.0]).combine(a, b, (0,))
>>> float(a[0] / (a[0] + b[0]))  # (0.625 + 3 × 0.5) / 4
0.53125
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from policies.profile import ModelProfile, beta_prior
from policies.updates import discount_step, forget_step, prior_shrink

#: The K-means resolutions a pool without task names fits beside its clusters.
DEFAULT_LEVELS = (8, 32, 64)
#: Evidence (Δα, Δβ) one observation adds to a Beta(a, b) cell.
Delta = Callable[[Any, Any], tuple[Any, Any]]
#: (α, β, α0, β0), each (cells × models): the clusters', or one level's.
Grid = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def forget_model(grid: Grid, arm: int, keep: float, prior_strength: float | None) -> None:
    """Keep a ``keep`` share of model ``arm``'s learned evidence in every cell of ``grid``, its
    prior weakened to at most ``prior_strength`` pseudo-observations per cell when given."""
    alpha, beta, alpha0, beta0 = grid
    n0 = alpha0[:, arm] + beta0[:, arm]
    shrink = 1.0 if prior_strength is None else prior_shrink(n0, prior_strength)
    for post, prior in ((alpha, alpha0), (beta, beta0)):
        post[:, arm], prior[:, arm] = forget_step(post[:, arm], prior[:, arm], keep, shrink)


def cap_cell(grid: Grid, cell: int, strength: float) -> None:
    """Cap cell ``cell``'s prior at ``strength`` pseudo-observations per model (a stale
    profile), keeping what it learned; models under the cap stay untouched, bit for bit."""
    alpha, beta, alpha0, beta0 = grid
    shrink = prior_shrink(alpha0[cell] + beta0[cell], strength)
    j = np.flatnonzero(shrink < 1.0)
    for post, prior in ((alpha, alpha0), (beta, beta0)):
        post[cell, j], prior[cell, j] = forget_step(post[cell, j], prior[cell, j], 1.0, shrink[j])


class Levels:
    """Per-level Beta cells: ``alpha[l]`` and ``beta[l]`` are (K_l × M), priors ``alpha0[l]``,
    ``beta0[l]``."""

    def __init__(
        self,
        priors: Sequence[tuple[np.ndarray, np.ndarray]],
        weights: Sequence[float] | None = None,
    ) -> None:
        if not priors:
            raise ValueError("multi-resolution cells need at least one level")
        w = tuple(float(x) for x in weights) if weights is not None else (1.0,) * len(priors)
        if len(w) != len(priors) or not all(np.isfinite(x) and x > 0 for x in w):
            raise ValueError(f"need one finite weight > 0 per level, got {list(w)}")
        m = {a.shape[1] for a, _ in priors}
        if len(m) != 1 or any(a.shape != b.shape or a.ndim != 2 for a, b in priors):
            raise ValueError("every level's prior must be a (cells, models) pair of equal shape")
        if any(np.any(a <= 0) or np.any(b <= 0) for a, b in priors):
            raise ValueError("Beta prior parameters must be > 0")
        self.alpha0 = [np.array(a, dtype=np.float64) for a, _ in priors]
        self.beta0 = [np.array(b, dtype=np.float64) for _, b in priors]
        self.alpha = [a.copy() for a in self.alpha0]
        self.beta = [b.copy() for b in self.beta0]
        #: Each level's weight in :meth:`combine` (the cluster's is 1).
        self.weights = w

    @property
    def sizes(self) -> tuple[int, ...]:
        """The number of cells at each level."""
        return tuple(int(a.shape[0]) for a in self.alpha)

    def check(self, cells: Sequence[int]) -> None:
        """Raise ``ValueError`` unless ``cells`` names one valid cell per level (or none)."""
        if not cells:
            return
        if len(cells) != len(self.alpha):
            raise ValueError(f"context names {len(cells)} level cells, the pool has {self.sizes}")
        for c, k in zip(cells, self.sizes, strict=True):
            if not 0 <= c < k:
                raise ValueError(f"level cell {c} is outside 0..{k - 1}")

    def combine(
        self, a: np.ndarray, b: np.ndarray, cells: Sequence[int]
    ) -> tuple[np.ndarray, np.ndarray]:
        """The cluster's Beta(a, b) with its mean averaged with the levels' means, weighted
        (no cells: unchanged)."""
        if not cells:
            return a, b
        mean = self.mean(a, b, cells)
        n = a + b
        return mean * n, (1.0 - mean) * n

    def mean(
        self,
        a: np.ndarray,
        b: np.ndarray,
        cells: Sequence[int],
        moved: tuple[float, float] = (0, 0),
    ) -> np.ndarray:
        """The weighted average of the cluster's Beta(a, b) mean (weight 1) and ``cells``'
        means, every Beta first moved by ``moved`` more (successes, failures)."""
        da, db = moved
        total = (a + da) / (a + b + da + db)
        weight = 1.0
        for al, bl, c, w in zip(self.alpha, self.beta, cells, self.weights, strict=True):
            total = total + w * ((al[c] + da) / (al[c] + bl[c] + da + db))
            weight += w
        return np.asarray(total / weight)

    def learn(
        self, cells: Sequence[int], arm: int, delta: Delta, weight: float, keep: float
    ) -> None:
        """Fold one observation on ``arm`` into its cell at every level: ``delta`` gives the
        evidence on each cell's own Beta; ``keep < 1`` first discounts old evidence."""
        for al, bl, a0, b0, c in zip(
            self.alpha, self.beta, self.alpha0, self.beta0, cells, strict=True
        ):
            a, b = al[c, arm], bl[c, arm]
            if keep < 1.0:
                a, b = discount_step(a, b, a0[c, arm], b0[c, arm], keep)
            da, db = delta(a, b)
            al[c, arm] = a + weight * da
            bl[c, arm] = b + weight * db

    def grids(self) -> list[Grid]:
        """Every level's (α, β, α0, β0)."""
        return list(zip(self.alpha, self.beta, self.alpha0, self.beta0, strict=True))

    def forget(self, arm: int, keep: float, prior_strength: float | None) -> None:
        """As :meth:`policies.posterior.BetaPosterior.forget`, in every cell of every level."""
        for grid in self.grids():
            forget_model(grid, arm, keep, prior_strength)

    def cap_prior(self, cells: Sequence[int], strength: float) -> None:
        """:func:`cap_cell` for the named cell of each level."""
        for grid, c in zip(self.grids(), cells, strict=True):
            cap_cell(grid, c, strength)

    # -- the pool changes ----------------------------------------------------------------------
    def add_arm(self, priors: Sequence[tuple[np.ndarray, np.ndarray]]) -> None:
        """Append a model with one (α0, β0) column pair per level."""
        if len(priors) != len(self.alpha):
            raise ValueError(f"a new model needs a prior at each of {len(self.alpha)} levels")
        for i, (a0, b0) in enumerate(priors):
            for name, col in (("alpha0", a0), ("beta0", b0), ("alpha", a0), ("beta", b0)):
                getattr(self, name)[i] = np.column_stack([getattr(self, name)[i], col])

    def remove_arm(self, arm: int) -> None:
        for name in ("alpha0", "beta0", "alpha", "beta"):
            setattr(self, name, [np.delete(x, arm, axis=1) for x in getattr(self, name)])

    # -- state ---------------------------------------------------------------------------------
    def to_state(self) -> list[dict[str, Any]]:
        grids = zip(self.alpha0, self.beta0, self.alpha, self.beta, self.weights, strict=True)
        return [
            {
                "alpha0": a0.tolist(),
                "beta0": b0.tolist(),
                "alpha": a.tolist(),
                "beta": b.tolist(),
                "weight": w,
            }
            for a0, b0, a, b, w in grids
        ]

    @classmethod
    def from_state(cls, state: Sequence[dict[str, Any]]) -> Levels:
        """The levels :meth:`to_state` saved (a state saved before weights: all 1)."""
        out = cls(
            [(np.asarray(s["alpha0"], float), np.asarray(s["beta0"], float)) for s in state],
            [float(s.get("weight", 1.0)) for s in state],
        )
        out.alpha = [np.asarray(s["alpha"], dtype=np.float64) for s in state]
        out.beta = [np.asarray(s["beta"], dtype=np.float64) for s in state]
        return out


def level_priors(
    profile: ModelProfile, sizes: Sequence[int], *, scale: float, shrink: float
) -> list[tuple[np.ndarray, np.ndarray]]:
    """One Beta prior per level from a profile, as :func:`policies.profile.prior_counts` makes
    the clusters'. A profile without levels (a model profiled on the clusters alone) starts
    every level cell at its global accuracy, with ``shrink`` pseudo-observations."""
    if profile.levels and tuple(s.size for s, _ in profile.levels) != tuple(sizes):
        sizes_ = tuple(s.size for s, _ in profile.levels)
        raise ValueError(f"{profile.name}: profile levels have {sizes_} cells, pool has {sizes}")
    counts = profile.levels or [(np.zeros(k), np.zeros(k)) for k in sizes]
    g = profile.accuracy
    return [beta_prior(s, n, g, scale=scale, shrink=shrink) for s, n in counts]


def levels_from_profiles(
    profiles: Sequence[ModelProfile],
    *,
    scale: float,
    shrink: float,
    weights: Sequence[float] | None = None,
) -> Levels | None:
    """The pool's level cells from its models' profiles, each level with its ``weights``
    entry (default 1); ``None`` when no profile has levels."""
    with_levels = [p for p in profiles if p.levels]
    if not with_levels:
        return None
    sizes = tuple(s.size for s, _ in with_levels[0].levels)
    per_model = [level_priors(p, sizes, scale=scale, shrink=shrink) for p in profiles]
    return Levels(
        [
            (
                np.column_stack([pm[i][0] for pm in per_model]),
                np.column_stack([pm[i][1] for pm in per_model]),
            )  # fmt: skip
            for i in range(len(sizes))
        ],
        weights,
    )
