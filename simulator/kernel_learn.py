"""The compiled kernel's per-request pieces: a cell's posterior, the feedback update and the
drift guard, all from the learning core's own formulas (:mod:`simulator.compiled`).

Inlined into :func:`simulator.kernel.run_stream`; each mirrors a method of the Python policy:
:func:`cell` is ``BetaPosterior.params``, :func:`learn` is ``BetaPosterior.observe`` for a hard
context, :func:`watch` is ``DriftGuard.watch`` with ``BetaPosterior.forget`` on an alarm.
``cfg`` holds the run's settings at the indices below: THUMBS_A/B are the policy's thumbs
noise, CHANNEL_A/B the simulated users'.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from simulator.compiled import (
    adwin_update,
    discount_step,
    forget_step,
    outcome_step,
    prior_shrink,
    stack,
    thumbs_expectation,
    thumbs_likelihood,
    thumbs_step,
)

THOMPSON, GREEDY, STATIC = 0, 1, 2
LABEL, SCORE, THUMBS = 0, 1, 2
(
    RULE,
    EXPLORE,
    TEMPERING,
    LEAF_STRENGTH,
    ITEM_STRENGTH,
    COST_SCALE,
    TARGET,
    PACE_SCALE,
    RATE,
    LAM_MIN,
    LAM_MAX,
    KIND,
    THUMBS_A,
    THUMBS_B,
    CHANNEL_A,
    CHANNEL_B,
    DISCOUNT,
    DRIFT,
    DELTA,
    CLOCK,
    MIN_LENGTH,
    GRACE,
    KEEP,
    PRIOR_STRENGTH,
    STALE_STRENGTH,
) = range(25)
N_CFG = 25
DECIDED, EVIDENCE, UPDATES, ALARMS = range(4)  # info[...]


@njit(cache=True, error_model="numpy", inline="always")
def cell(
    cells: np.ndarray,
    leaf_sf: np.ndarray,
    items: np.ndarray,
    cfg: np.ndarray,
    k: int,
    leaf: int,
    p: int,
    i: int,
    lv: np.ndarray,
    lrow: np.ndarray,
    lw: np.ndarray,
) -> tuple[float, float, float, float]:
    """Model ``i``'s (α, β) in its cell (cluster, stacked with its leaf, or its mean averaged
    with its level cells' ``lrow`` of ``lv``, each row weighted ``lw[row]``) and for the prompt
    (the cell's, stacked with the prompt's evidence where it has some)."""
    a = cells[0, k, i]
    b = cells[1, k, i]
    if leaf >= 0 and leaf_sf.shape[1] > 0:
        a, b = stack(a, b, cfg[LEAF_STRENGTH], leaf_sf[0, leaf, i], leaf_sf[1, leaf, i])
    elif lrow.size > 0:  # Levels.combine, in its order of operations
        total = a / (a + b)
        weight = 1.0
        for r in lrow:
            total = total + lw[r] * (lv[0, r, i] / (lv[0, r, i] + lv[1, r, i]))
            weight += lw[r]
        mean = total / weight
        n = a + b
        a, b = mean * n, (1.0 - mean) * n
    pa, pb = a, b
    if items.shape[0] > 0 and items[p, 2, i] > 0.0:
        pa, pb = stack(a, b, cfg[ITEM_STRENGTH], items[p, 0, i], items[p, 1, i])
    return a, b, pa, pb


@njit(cache=True, error_model="numpy", inline="always")
def learn(
    cells: np.ndarray,
    leaf_sf: np.ndarray,
    items: np.ndarray,
    cfg: np.ndarray,
    k: int,
    leaf: int,
    p: int,
    j: int,
    v: float,
    ca: float,
    cb: float,
    pa: float,
    pb: float,
    lv: np.ndarray,
    lrow: np.ndarray,
) -> tuple[float, float, float, float]:
    """Fold feedback ``v`` on model ``j`` into its leaf, level and prompt evidence; return the
    cluster cell's (α, β) before the increment (discounted) and the increment (Δα, Δβ), which
    the caller adds. (ca, cb) and (pa, pb) are the cell's and the prompt's posteriors from
    :func:`cell`, before this feedback."""
    a = cells[0, k, j]
    b = cells[1, k, j]
    if cfg[DISCOUNT] < 1.0:
        a, b = discount_step(a, b, cells[2, k, j], cells[3, k, j], cfg[DISCOUNT])
    thumbs = cfg[KIND] == THUMBS
    c0, c1 = thumbs_likelihood(v >= 0.5, cfg[THUMBS_A], cfg[THUMBS_B])
    da, db = outcome_step(v)
    if thumbs:
        a2, b2 = thumbs_step(a, b, c0, c1)
        da, db = a2 - a, b2 - b
    if leaf >= 0 and leaf_sf.shape[1] > 0:
        la, lb = outcome_step(v)
        if thumbs:
            a2, b2 = thumbs_step(ca, cb, c0, c1)
            la, lb = a2 - ca, b2 - cb
        leaf_sf[0, leaf, j] += la
        leaf_sf[1, leaf, j] += lb
    if items.shape[0] > 0:
        if items[p, 2, j] == 0.0:
            pa, pb = stack(ca, cb, cfg[ITEM_STRENGTH], 0.0, 0.0)
        ia, ib = outcome_step(v)
        if thumbs:
            a2, b2 = thumbs_step(pa, pb, c0, c1)
            ia, ib = a2 - pa, b2 - pb
        items[p, 0, j] += ia
        items[p, 1, j] += ib
        items[p, 2, j] += 1.0
    for r in lrow:  # Levels.learn
        la, lb = lv[0, r, j], lv[1, r, j]
        if cfg[DISCOUNT] < 1.0:
            la, lb = discount_step(la, lb, lv[2, r, j], lv[3, r, j], cfg[DISCOUNT])
        ea, eb = outcome_step(v)
        if thumbs:
            a2, b2 = thumbs_step(la, lb, c0, c1)
            ea, eb = a2 - la, b2 - lb
        lv[0, r, j] = la + ea
        lv[1, r, j] = lb + eb
    return a, b, da, db


@njit(cache=True, error_model="numpy", inline="always")
def cap_prior(cells: np.ndarray, k: int, strength: float) -> bool:
    """``BetaPosterior.mark_stale``: cap cluster ``k``'s prior (or level row ``k`` of the
    level cells) at ``strength`` per model; return whether any model's changed."""
    changed = False
    for j in range(cells.shape[2]):
        shrink = prior_shrink(cells[2, k, j] + cells[3, k, j], strength)
        if shrink < 1.0:
            changed = True
            cells[0, k, j], cells[2, k, j] = forget_step(
                cells[0, k, j], cells[2, k, j], 1.0, shrink
            )
            cells[1, k, j], cells[3, k, j] = forget_step(
                cells[1, k, j], cells[3, k, j], 1.0, shrink
            )
    return changed


@njit(cache=True, error_model="numpy", inline="always")
def watch(
    cells: np.ndarray,
    leaf_sf: np.ndarray,
    items: np.ndarray,
    guard_b: np.ndarray,
    guard_s: np.ndarray,
    cfg: np.ndarray,
    j: int,
    v: float,
    mean: float,
    lv: np.ndarray,
) -> bool:
    """Feed model ``j``'s surprise (``v`` less what the posterior mean ``mean`` expected of it)
    to its ADWIN; on a drift, forget the model's learned evidence everywhere and return True."""
    expected = mean
    if cfg[KIND] == THUMBS:
        expected = thumbs_expectation(mean, cfg[THUMBS_A], cfg[THUMBS_B])
    found = adwin_update(
        guard_b, guard_s, j, v - expected, cfg[DELTA], cfg[CLOCK], cfg[MIN_LENGTH], cfg[GRACE]
    )
    if not found:
        return False
    keep = cfg[KEEP]
    for grid in (cells, lv):  # the clusters, then every level cell (Levels.forget)
        for k in range(grid.shape[1]):
            shrink = prior_shrink(grid[2, k, j] + grid[3, k, j], cfg[PRIOR_STRENGTH])
            grid[0, k, j], grid[2, k, j] = forget_step(grid[0, k, j], grid[2, k, j], keep, shrink)
            grid[1, k, j], grid[3, k, j] = forget_step(grid[1, k, j], grid[3, k, j], keep, shrink)
    for leaf in range(leaf_sf.shape[1]):
        leaf_sf[0, leaf, j] *= keep
        leaf_sf[1, leaf, j] *= keep
    for p in range(items.shape[0]):
        for r in range(3):
            items[p, r, j] *= keep
    return True
