"""UniRoute's protocol for one seed: split prompts, fit clusters, profile models, plan a stream."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from agent.clusters import ClusterMap, LevelMap
from agent.level_maps import Level
from agent.logs import ReplayLog
from agent.shift import ShiftMeter
from agent.warm_start import fit_profiles
from policies import Context, ModelProfile
from simulator.splitting import Splits, divide

__all__ = ["Setup", "Splits", "prepare"]


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
    profiles: list[ModelProfile]
    #: The cost unit of utilities: the largest mean model cost on the profiled (validation)
    #: rows, as a Router warm-started from the same profiles has it (never the pool's rows).
    c_max: float
    fresh: bool = False  # stream each pool prompt at most once (no repeats)
    #: Prompts of the shifted datasets (empty without a shift); the stream draws a
    #: ``shift_share`` of its requests from them and the rest from the pool.
    shifted_idx: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.intp))
    shift_share: float = 1.0
    #: (N, L) every prompt's cell in each extra partition (the profiles' levels).
    cells: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.intp))
    #: The warm start's stacking weights (:func:`policies.stack_weights`).
    blend: tuple[float, ...] = ()
    #: The shift meter's reference: the fit prompts (:class:`agent.shift.ShiftMeter`).
    shift_ref: ShiftMeter | None = field(default=None, compare=False, repr=False)
    #: The fitted cluster map and every prompt's embedding (the shift meter reads them).
    cluster_map: ClusterMap | None = field(default=None, compare=False, repr=False)
    #: The fitted maps of the levels, one per column of ``cells``.
    level_maps: tuple[LevelMap, ...] = field(default=(), compare=False, repr=False)
    embeddings: np.ndarray | None = field(default=None, compare=False, repr=False)

    def contexts(self, rows: np.ndarray) -> list[Context]:
        """One context per row (prompt index); the row is also the prompt's key."""
        levels = self.cells.shape[1] > 0
        return [
            Context(
                self.weights[i],
                prompt_key=int(i),
                cells=tuple(int(c) for c in self.cells[i]) if levels else (),
            )
            for i in rows
        ]

    @property
    def fresh_steps(self) -> int:
        """How many requests a fresh stream can hold before it would repeat a prompt."""
        if not self.shifted_idx.size:
            return int(self.pool_idx.size)
        p = self.shift_share
        n = self.shifted_idx.size / p
        return int(min(n, self.pool_idx.size / (1.0 - p)) if p < 1.0 else n)

    def stream(self, steps: int, rng: np.random.Generator) -> np.ndarray:
        """The prompts (log rows) of a replay: ``steps`` draws from the pool with replacement,
        or, for a fresh setup, the pool in random order without repeats, cut at ``steps``.
        With a shift, each request comes from the shifted prompts with ``shift_share``."""
        if not self.shifted_idx.size:
            if self.fresh:
                return rng.permutation(self.pool_idx)[:steps]
            return self.pool_idx[rng.integers(self.pool_idx.size, size=steps)]
        if self.fresh:
            steps = min(steps, self.fresh_steps)
            k = int(round(self.shift_share * steps))
            out = np.empty(steps, dtype=np.intp)
            where = rng.permutation(steps)
            out[where[:k]] = rng.permutation(self.shifted_idx)[:k]
            out[where[k:]] = rng.permutation(self.pool_idx)[: steps - k]
            return out
        from_shift = rng.random(steps) < self.shift_share
        return np.where(
            from_shift,
            self.shifted_idx[rng.integers(self.shifted_idx.size, size=steps)],
            self.pool_idx[rng.integers(self.pool_idx.size, size=steps)],
        )

    def repeat_share(self, steps: int) -> float:
        """Share of a replay's requests whose prompt was already asked earlier in the stream
        (the replays draw their stream with this generator)."""
        stream = self.stream(steps, np.random.default_rng([self.seed, 7]))
        return 1.0 - np.unique(stream).size / max(stream.size, 1)


def prepare(
    log: ReplayLog,
    embeddings: np.ndarray,
    *,
    k: int = 16,
    seed: int = 0,
    splits: Splits | None = None,
    soft: bool = False,
    temperature: float = 0.1,
    fresh: bool = False,
    val_size: int | None = None,
    shift: Sequence[str] = (),
    shift_share: float = 1.0,
    levels: Sequence[Level] = (),
) -> Setup:
    """Split ``log`` with ``seed``, fit K-means on the fit share, profile on the validation share.

    ``fresh`` makes replays stream each pool prompt at most once (see :meth:`Setup.stream`).
    ``val_size``, ``shift`` and the log's own ``split`` column change which prompts go where
    (:func:`simulator.splitting.divide`); ``levels`` fits the extra levels the learning policies
    average in (:mod:`agent.level_maps`: K-means sizes, each cut to the fit prompts' number,
    or ``"task"``, a classifier of the fit prompts' tasks).
    """
    if embeddings.shape[0] != log.n_prompts:
        raise ValueError(f"{embeddings.shape[0]} embeddings for {log.n_prompts} prompts")
    if not 0.0 < shift_share <= 1.0:
        raise ValueError(f"--shift-share must be in (0, 1], got {shift_share}")
    rng = np.random.default_rng(seed)
    division = divide(log, rng, splits=splits or Splits(), val_size=val_size, shift=shift)
    fit_idx, val_idx, pool_idx = division.fit, division.val, division.pool
    if k > fit_idx.size:
        raise ValueError(f"--clusters {k} exceeds the {fit_idx.size} prompts fitted on")
    pool = fit_profiles(
        embeddings,
        log,
        fit_rows=fit_idx,
        val_rows=val_idx,
        k=k,
        seed=seed,
        soft=soft,
        temperature=temperature,
        levels=levels,
    )
    cmap, profiles = pool.cluster_map, pool.profiles
    weights = cmap.weights(embeddings, soft=soft)
    clusters = cmap.assign(embeddings)
    return Setup(
        log=log,
        seed=seed,
        k=k,
        fit_idx=fit_idx,
        val_idx=val_idx,
        pool_idx=pool_idx,
        weights=weights,
        clusters=clusters,
        profiles=profiles,
        c_max=max(p.cost for p in profiles),
        fresh=fresh,
        shifted_idx=division.shifted,
        shift_share=shift_share,
        cells=np.column_stack([lm.assign(embeddings) for lm in pool.level_maps])
        if pool.level_maps
        else np.zeros((log.n_prompts, 0), dtype=np.intp),
        blend=pool.blend,
        shift_ref=pool.shift,
        cluster_map=cmap,
        level_maps=pool.level_maps,
        embeddings=embeddings,
    )
