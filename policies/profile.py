"""UniRoute's model description Ψ: per-cluster (successes, trials) on labelled validation data."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ModelProfile:
    """A model as UniRoute sees it: how it did in each cluster of a small labelled set.

    ``successes`` and ``trials`` have one entry per cluster (fractional successes are fine, for
    graded scores). ``cost`` is the model's mean cost per answer in USD. ``levels`` holds the
    same (successes, trials) at the cells of extra levels (:mod:`policies.levels`), if any.

    >>> p = ModelProfile.from_rows("m", clusters=[0, 0, 1], correct=[1, 0, 1], cost=[1, 1, 1], k=3)
    >>> p.trials.tolist(), p.accuracy
    ([2.0, 1.0, 0.0], 0.6666666666666666)
    """

    name: str
    successes: np.ndarray
    trials: np.ndarray
    cost: float
    levels: tuple[tuple[np.ndarray, np.ndarray], ...] = ()

    def __post_init__(self) -> None:
        s = np.asarray(self.successes, dtype=np.float64)
        n = np.asarray(self.trials, dtype=np.float64)
        if s.shape != n.shape or s.ndim != 1:
            raise ValueError(f"{self.name}: successes and trials must be equal-length vectors")
        if np.any(n < 0) or np.any(s < 0) or np.any(s > n + 1e-9):
            raise ValueError(f"{self.name}: need 0 <= successes <= trials in every cluster")
        if not (np.isfinite(self.cost) and self.cost >= 0):
            raise ValueError(f"{self.name}: cost must be a finite number >= 0, got {self.cost}")
        object.__setattr__(self, "successes", s)
        object.__setattr__(self, "trials", n)
        object.__setattr__(self, "cost", float(self.cost))
        levels = []
        for ls, ln in self.levels:
            ls, ln = np.asarray(ls, dtype=np.float64), np.asarray(ln, dtype=np.float64)
            if ls.shape != ln.shape or ls.ndim != 1 or np.any(ln < 0) or np.any(ls < 0):
                raise ValueError(f"{self.name}: each level needs equal-length counts >= 0")
            if np.any(ls > ln + 1e-9):
                raise ValueError(f"{self.name}: need successes <= trials in every level cell")
            levels.append((ls, ln))
        object.__setattr__(self, "levels", tuple(levels))

    @property
    def k(self) -> int:
        return int(self.trials.size)

    @property
    def accuracy(self) -> float:
        """Global accuracy over all validation prompts (0.5 when there are none)."""
        total = self.trials.sum()
        return float(self.successes.sum() / total) if total > 0 else 0.5

    @property
    def error(self) -> np.ndarray:
        """Per-cluster error rate, the paper's Ψ (shrunk to the global rate where empty)."""
        n = self.trials
        with np.errstate(invalid="ignore", divide="ignore"):
            acc = np.where(n > 0, self.successes / np.maximum(n, 1e-12), self.accuracy)
        return 1.0 - acc

    @classmethod
    def from_rows(
        cls,
        name: str,
        *,
        clusters: Sequence[int] | np.ndarray,
        correct: Sequence[float] | np.ndarray,
        cost: Sequence[float] | np.ndarray,
        k: int,
        weights: np.ndarray | None = None,
        levels: Sequence[tuple[np.ndarray, int]] = (),
    ) -> ModelProfile:
        """Build a profile from labelled rows: a cluster id, a correctness in [0, 1], a cost.

        With ``weights`` (rows × K soft cluster weights) each row counts fractionally in every
        cluster instead of wholly in ``clusters``. ``levels`` gives, per extra resolution, each
        row's cell and the number of cells.
        """
        y = np.asarray(correct, dtype=np.float64)
        c = np.asarray(cost, dtype=np.float64)
        if y.size == 0:
            raise ValueError(f"{name}: a profile needs at least one labelled row")
        if np.any(~np.isfinite(y)) or np.any((y < 0) | (y > 1)):
            raise ValueError(f"{name}: correctness must lie in [0, 1]")
        if weights is None:
            ids = np.asarray(clusters, dtype=np.int64)
            if ids.shape != y.shape or np.any((ids < 0) | (ids >= k)):
                raise ValueError(f"{name}: cluster ids must be in 0..{k - 1}, one per row")
            s = np.bincount(ids, weights=y, minlength=k).astype(np.float64)
            n = np.bincount(ids, minlength=k).astype(np.float64)
        else:
            w = np.asarray(weights, dtype=np.float64)
            s, n = (w.T @ y).astype(np.float64), w.sum(axis=0).astype(np.float64)
        counts = []
        for ids, size in levels:
            cells = np.asarray(ids, dtype=np.int64)
            if cells.shape != y.shape or np.any((cells < 0) | (cells >= size)):
                raise ValueError(f"{name}: level cell ids must be in 0..{size - 1}, one per row")
            counts.append(
                (np.bincount(cells, weights=y, minlength=size), np.bincount(cells, minlength=size))
            )
        return cls(name, s, n, float(c.mean()), tuple(counts))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "successes": self.successes.tolist(),
            "trials": self.trials.tolist(),
            "cost": self.cost,
            **(
                {"levels": [[s.tolist(), n.tolist()] for s, n in self.levels]}
                if self.levels
                else {}
            ),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelProfile:
        levels = tuple((np.asarray(s), np.asarray(n)) for s, n in d.get("levels", ()))
        return cls(
            d["name"], np.asarray(d["successes"]), np.asarray(d["trials"]), d["cost"], levels
        )


def build_profiles(
    models: Sequence[str],
    clusters: np.ndarray,
    correct: np.ndarray,
    cost: np.ndarray,
    *,
    k: int,
) -> list[ModelProfile]:
    """One profile per model from aligned ``correct[N, M]`` and ``cost[N, M]`` arrays."""
    if correct.shape != cost.shape or correct.shape[1] != len(models):
        raise ValueError("correct and cost must be (N, M) with one column per model")
    return [
        ModelProfile.from_rows(m, clusters=clusters, correct=correct[:, j], cost=cost[:, j], k=k)
        for j, m in enumerate(models)
    ]


def prior_counts(
    profile: ModelProfile, *, scale: float = 1.0, shrink: float = 4.0, floor: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """Beta prior (α0, β0) per cluster from a profile.

    Each cluster's rate is shrunk toward the model's global accuracy by ``shrink`` pseudo-trials,
    so a cluster the validation set barely saw borrows strength from the rest. The prior then
    carries ``scale × (trials + shrink)`` pseudo-observations on top of a ``floor`` Beta(0.5, 0.5);
    ``scale = 0`` is a cold start.

    >>> p = ModelProfile("m", np.array([9.0, 0.0]), np.array([10.0, 0.0]), 1.0)
    >>> a, b = prior_counts(p, shrink=0.0)
    >>> a.round(6).tolist(), b.round(6).tolist()
    ([9.5, 0.5], [1.5, 0.5])
    """
    return beta_prior(
        profile.successes, profile.trials, profile.accuracy, scale=scale, shrink=shrink, floor=floor
    )


def beta_prior(
    successes: np.ndarray,
    trials: np.ndarray,
    g: float,
    *,
    scale: float = 1.0,
    shrink: float = 4.0,
    floor: float = 0.5,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`prior_counts` for per-cell counts and a global rate ``g`` to shrink toward."""
    if scale < 0 or shrink < 0 or floor <= 0:
        raise ValueError("need scale >= 0, shrink >= 0 and floor > 0")
    n = trials
    denom = n + shrink
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(denom > 0, (successes + shrink * g) / np.maximum(denom, 1e-12), g)
    strength = scale * denom
    return floor + strength * p, floor + strength * (1.0 - p)
