"""UniRoute's warm start from a replay log: cluster the prompts, profile every model (Ψ)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from agent.clusters import ClusterMap, LevelMap
from agent.embedder import Embedder
from agent.level_maps import Level, fit_level_maps
from agent.logs import ReplayLog
from agent.shift import ShiftMeter
from policies import Blend, ModelProfile, stack_weights


class FittedPool(NamedTuple):
    """What :func:`fit_pool` fits: the cluster map, one profile per model, the maps of the
    extra partitions (the profiles' levels: :mod:`agent.level_maps`), the warm start's
    stacking weights (:func:`policies.stack_weights`: all prompts, the clusters, then each
    level) and the shift meter's reference (:class:`agent.shift.ShiftMeter`)."""

    cluster_map: ClusterMap
    profiles: list[ModelProfile]
    level_maps: tuple[LevelMap, ...]
    blend: tuple[float, ...]
    shift: ShiftMeter


def fit_pool(
    log: ReplayLog,
    *,
    embedder: Embedder,
    k: int = 16,
    seed: int = 0,
    val_share: float = 1.0,
    soft: bool = False,
    levels: Sequence[Level] = (),
) -> FittedPool:
    """Fit a :class:`ClusterMap` on all of the log's prompts and one profile per model on a
    seeded ``val_share`` of its labelled rows. ``levels`` fits a map per extra partition
    (K-means cells, or ``"task"``: the log's tasks), and profiles at each
    (:mod:`agent.level_maps`).
    """
    if not 0.0 < val_share <= 1.0:
        raise ValueError(f"val_share must be in (0, 1], got {val_share}")
    X = embedder.encode(log.prompts)
    n = log.n_prompts
    rows = np.arange(n)
    if val_share < 1.0:
        size = min(n, max(k, int(round(val_share * n))))
        rows = np.sort(np.random.default_rng(seed).permutation(n)[:size])
    return fit_profiles(
        X,
        log,
        fit_rows=np.arange(n),
        val_rows=rows,
        k=k,
        seed=seed,
        soft=soft,
        levels=levels,
    )


def fit_profiles(
    X: np.ndarray,
    log: ReplayLog,
    *,
    fit_rows: np.ndarray,
    val_rows: np.ndarray,
    k: int,
    seed: int = 0,
    soft: bool = False,
    temperature: float = 0.1,
    levels: Sequence[Level] = (),
) -> FittedPool:
    """The warm start on embeddings ``X`` of the log's prompts: K-means on the ``fit_rows``,
    one profile per model on the ``val_rows`` (weighted by soft cluster weights when ``soft``).
    ``levels`` adds a map per extra partition, fitted on the fit rows (a K-means size is cut
    to their number; ``"task"`` learns the fit rows' tasks, no outcome needed), and profiles
    at each; the validation rows then stack the partitions (:func:`policies.stack_weights`).
    The embedded Router (:func:`fit_pool`) and the simulator's protocol both use it.
    """
    cmap = ClusterMap(k, temperature=temperature, seed=seed).fit(X[fit_rows])
    weights = cmap.weights(X[val_rows], soft=soft)
    clusters = weights.argmax(axis=1)
    tasks = [log.tasks[i] for i in fit_rows]
    level_maps = fit_level_maps(X[fit_rows], tasks, levels, seed=seed)
    cells = [(lm.assign(X[val_rows]), lm.k_) for lm in level_maps]
    profiles = [
        ModelProfile.from_rows(
            m,
            clusters=clusters,
            correct=log.correct[val_rows, j],
            cost=log.cost[val_rows, j],
            k=cmap.k_,
            weights=weights if soft else None,
            levels=cells,
        )
        for j, m in enumerate(log.models)
    ]
    val_cells = np.column_stack([clusters, *(c for c, _ in cells)])
    weights = stack_weights(Blend.from_profiles(profiles), val_cells, log.correct[val_rows])
    shift = ShiftMeter.fit(X[fit_rows])
    return FittedPool(cmap, profiles, level_maps, tuple(weights.tolist()), shift)


def profile_from_rows(
    name: str,
    rows: Sequence[Sequence[Any] | Mapping[str, Any]],
    *,
    embedder: Embedder,
    cluster_map: ClusterMap,
    cost: float | None = None,
    soft: bool = False,
    level_maps: Sequence[LevelMap] = (),
) -> ModelProfile:
    """A new model's profile from labelled validation rows ``(prompt, correct, cost)`` (tuples
    or mappings with those keys); ``cost`` overrides the rows' mean cost as its price. With
    ``level_maps``, it also counts the rows in each resolution level's cells."""
    if not rows:
        raise ValueError(f"{name}: onboarding needs at least one labelled validation row")
    prompts: list[str] = []
    correct: list[float] = []
    costs: list[float] = []
    for i, row in enumerate(rows):
        p: Any
        y: Any
        c: Any
        if isinstance(row, Mapping):
            p, y, c = row.get("prompt"), row.get("correct"), row.get("cost", cost or 0.0)
        else:
            if len(row) not in (2, 3):
                raise ValueError(f"{name}: row {i} must be (prompt, correct[, cost])")
            p, y, c = row[0], row[1], row[2] if len(row) == 3 else (cost or 0.0)
        if not isinstance(p, str) or y is None or c is None:
            raise ValueError(f"{name}: row {i} needs a prompt string and a correctness")
        prompts.append(p)
        correct.append(float(y))
        costs.append(float(c))
    X = embedder.encode(prompts)
    weights = cluster_map.weights(X, soft=soft)
    profile = ModelProfile.from_rows(
        name,
        clusters=weights.argmax(axis=1),
        correct=correct,
        cost=costs,
        k=cluster_map.k_,
        weights=weights if soft else None,
        levels=[(m.assign(X), m.k_) for m in level_maps],
    )
    if cost is not None:
        profile = ModelProfile(name, profile.successes, profile.trials, cost, profile.levels)
    return profile
