"""UniRoute's protocol for one seed: split prompts, fit clusters, profile models, plan a stream."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agent.clusters import ClusterMap
from agent.logs import ReplayLog
from policies import Context, ModelProfile, build_profiles


@dataclass(frozen=True)
class Splits:
    """Shares of prompts for the cluster fit, the labelled validation set and the replay pool."""

    fit: float = 0.6
    validation: float = 0.1
    pool: float = 0.3

    def __post_init__(self) -> None:
        shares = (self.fit, self.validation, self.pool)
        if min(shares) <= 0 or abs(sum(shares) - 1.0) > 1e-9:
            raise ValueError(f"splits must be positive shares summing to 1, got {shares}")

    def sizes(self, n: int) -> tuple[int, int, int]:
        """How many of ``n`` prompts go to the fit, validation and pool shares."""
        a = int(round(self.fit * n))
        b = max(1, int(round(self.validation * n)))
        if a < 1 or a + b >= n:
            raise ValueError(f"{n} prompts are too few to split {self}")
        return a, b, n - a - b

    def draw(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        """Disjoint index arrays (fit, validation, pool) over ``n`` prompts."""
        a, b, _ = self.sizes(n)
        order = rng.permutation(n)
        return order[:a], order[a : a + b], order[a + b :]


@dataclass(frozen=True)
class Setup:
    """Everything one seed of a replay needs, computed once and shared by every policy."""

    log: ReplayLog
    seed: int
    k: int
    fit_idx: np.ndarray
    val_idx: np.ndarray
    pool_idx: np.ndarray
    weights: np.ndarray  # (N, K) cluster weights of every prompt
    clusters: np.ndarray  # (N,) hard cluster of every prompt
    leaves: np.ndarray  # (N,) leaf cell of every prompt, -1 without a leaf level
    n_leaves: int
    profiles: list[ModelProfile]
    c_max: float  # the largest mean model cost: the cost unit of utilities
    fresh: bool = False  # stream each pool prompt at most once (no repeats)

    def contexts(self, rows: np.ndarray) -> list[Context]:
        """One context per row (prompt index); the row is also the prompt's memory key."""
        return [Context(self.weights[i], int(self.leaves[i]), int(i)) for i in rows]

    def stream(self, steps: int, rng: np.random.Generator) -> np.ndarray:
        """The prompts (log rows) of a replay: ``steps`` draws from the pool with replacement,
        or, for a fresh setup, the pool in random order without repeats, cut at ``steps``."""
        if self.fresh:
            return rng.permutation(self.pool_idx)[:steps]
        return self.pool_idx[rng.integers(self.pool_idx.size, size=steps)]


def prepare(
    log: ReplayLog,
    embeddings: np.ndarray,
    *,
    k: int = 16,
    seed: int = 0,
    splits: Splits | None = None,
    n_leaves: int = 0,
    soft: bool = False,
    temperature: float = 0.1,
    fresh: bool = False,
) -> Setup:
    """Split ``log`` with ``seed``, fit K-means on the fit share, profile on the validation share.

    ``n_leaves > 0`` fits a second, finer K-means whose cells the hierarchical policies learn on.
    ``fresh`` makes replays stream each pool prompt at most once (see :meth:`Setup.stream`).
    """
    if embeddings.shape[0] != log.n_prompts:
        raise ValueError(f"{embeddings.shape[0]} embeddings for {log.n_prompts} prompts")
    rng = np.random.default_rng(seed)
    fit_idx, val_idx, pool_idx = (splits or Splits()).draw(log.n_prompts, rng)
    if k > fit_idx.size:
        raise ValueError(f"--clusters {k} exceeds the {fit_idx.size} prompts fitted on")
    cmap = ClusterMap(k, temperature=temperature, seed=seed).fit(embeddings[fit_idx])
    weights = cmap.weights(embeddings, soft=soft)
    clusters = cmap.assign(embeddings)
    leaves = np.full(log.n_prompts, -1, dtype=np.int64)
    if n_leaves > 0:
        n_leaves = min(n_leaves, fit_idx.size)
        fine = ClusterMap(n_leaves, seed=seed + 1, n_init=1).fit(embeddings[fit_idx])
        leaves = fine.assign(embeddings).astype(np.int64)
    if soft:
        profiles = [
            ModelProfile.from_rows(
                m,
                clusters=clusters[val_idx],
                correct=log.correct[val_idx, j],
                cost=log.cost[val_idx, j],
                k=k,
                weights=weights[val_idx],
            )
            for j, m in enumerate(log.models)
        ]
    else:
        profiles = build_profiles(
            log.models, clusters[val_idx], log.correct[val_idx], log.cost[val_idx], k=k
        )
    return Setup(
        log=log,
        seed=seed,
        k=k,
        fit_idx=fit_idx,
        val_idx=val_idx,
        pool_idx=pool_idx,
        weights=weights,
        clusters=clusters,
        leaves=leaves,
        n_leaves=n_leaves,
        profiles=profiles,
        c_max=float(log.mean_cost.max()),
        fresh=fresh,
    )
