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
    graded scores). ``cost`` is the model's mean cost per answer in USD.

    >>> p = ModelProfile.from_rows("m", clusters=[0, 0, 1], correct=[1, 0, 1], cost=[1, 1, 1], k=3)
    >>> p.trials.tolist(), p.accuracy
    ([2.0, 1.0, 0.0], 0.6666666666666666)
    """

    name: str
    successes: np.ndarray
    trials: np.ndarray
    cost: float

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
    ) -> ModelProfile:
        """Build a profile from labelled rows: a cluster id, a correctness in [0, 1], a cost.

        With ``weights`` (rows × K soft cluster weights) each row counts fractionally in every
        cluster instead of wholly in ``clusters``.
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
        return cls(name, s, n, float(c.mean()))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "successes": self.successes.tolist(),
            "trials": self.trials.tolist(),
            "cost": self.cost,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelProfile:
        return cls(d["name"], np.asarray(d["successes"]), np.asarray(d["trials"]), d["cost"])


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
    if scale < 0 or shrink < 0 or floor <= 0:
        raise ValueError("need scale >= 0, shrink >= 0 and floor > 0")
    g = profile.accuracy
    n = profile.trials
    denom = n + shrink
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(denom > 0, (profile.successes + shrink * g) / np.maximum(denom, 1e-12), g)
    strength = scale * denom
    return floor + strength * p, floor + strength * (1.0 - p)
