"""The compiled replay kernel (numba): one stream of a Beta-posterior policy, request by request.

It runs the same per-request algorithm as :func:`simulator.sequential.replay` for Thompson
sampling, greedy and static UniRoute (leaf cells, prompt memory, tempered exploration,
label/score/thumbs feedback, discounting, the drift guard, budget pacing), with the learning
core's own formulas compiled (:mod:`simulator.compiled`, :mod:`simulator.kernel_learn`) and
without Python's per-call overhead. Greedy and static make the very same choices, and raise the
very same drift alarms, as the Python engine; Thompson draws from numba's own seeded generator,
so its choices differ draw by draw but not in distribution.

Thompson sampling on a request's cluster posteriors takes the *lazy pick*: models sorted by
posterior mean (less cost), each draw revealed only as far as the choice needs it (which part
of its Beta, lower tail, middle or upper tail, it falls in; see :mod:`simulator.samplers`), so
most requests draw one Beta value or none, and the choice has exactly the distribution of
drawing them all; models with evidence on the request's prompt are drawn in full from the
prompt's posterior. Requests on leaf cells draw every model.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from simulator.compiled import information_rate, pace, tempered, utility
from simulator.kernel_learn import (
    ALARMS,
    CHANNEL_A,
    CHANNEL_B,
    COST_SCALE,
    DECIDED,
    DRIFT,
    EVIDENCE,
    EXPLORE,
    GREEDY,
    KIND,
    LABEL,
    LAM_MAX,
    LAM_MIN,
    N_CFG,
    PACE_SCALE,
    RATE,
    RULE,
    SCORE,
    STALE_STRENGTH,
    STATIC,
    TARGET,
    TEMPERING,
    THOMPSON,
    THUMBS,
    UPDATES,
    cap_prior,
    cell,
    learn,
    watch,
)
from simulator.lazy_pick import keep_tails, lazy_pick, reorder
from simulator.samplers import beta_draw, lazy_state

__all__ = ["GREEDY", "LABEL", "N_CFG", "SCORE", "STATIC", "THOMPSON", "THUMBS", "beta_draw"]


@njit(cache=True, error_model="numpy")
def run_stream(  # noqa: PLR0913 - a kernel takes its state flat
    cells: np.ndarray,
    leaf_sf: np.ndarray,
    items: np.ndarray,
    guard_b: np.ndarray,
    guard_s: np.ndarray,
    cost: np.ndarray,
    cfg: np.ndarray,
    info: np.ndarray,
    lam: float,
    prompts: np.ndarray,
    clusters: np.ndarray,
    leaves: np.ndarray,
    given: np.ndarray,
    draws: np.ndarray,
    outcomes: np.ndarray,
    costs: np.ndarray,
    chosen: np.ndarray,
    lams: np.ndarray,
    alarms: np.ndarray,
    lv: np.ndarray,
    lv_rows: np.ndarray,
    lw: np.ndarray,
) -> float:
    """Replay ``prompts`` in order, updating the state arrays in place; fill ``chosen``,
    ``lams`` and the first ``info[ALARMS]`` rows of ``alarms``; return the final λ.

    ``cells`` is (α, β, α0, β0) per (cluster, model); ``leaf_sf`` the leaves' (successes,
    failures); ``items[p]`` prompt ``p``'s memory, (successes, failures, weight) per model (no
    rows: no memory); ``guard_b``/``guard_s`` each model's ADWIN (:mod:`policies.adwin`);
    ``cost`` the models' costs as the policy knows them, ``outcomes`` and ``costs`` each step's
    (T × M, after scenario events); ``cfg`` the settings (:mod:`simulator.kernel_learn`, a target
    below 0 is no budget); ``info`` (decisions, evidence, updates, alarms) is carried over.
    An alarm row is (update number, model, cluster), as the Python drift guard records it.
    ``lv`` is (α, β, α0, β0) per (level cell, model), every level's cells in one stack, and
    ``lv_rows[t]`` the rows of step ``t``'s cells in it (no columns: no levels), ``lw`` each
    row's level weight (:class:`policies.levels.Levels`).
    """
    m = cost.size
    alpha = cells[0]
    beta = cells[1]
    rule = int(cfg[RULE])
    kind = int(cfg[KIND])
    scale_cost = cfg[COST_SCALE]
    a = np.empty(m)
    b = np.empty(m)
    ca = np.empty(m)
    cb = np.empty(m)
    top = np.empty(m)
    # the lazy pick keeps its arm sets in 64-bit masks, and sorts the clusters' posteriors alone
    lazy = rule == THOMPSON and m <= 63 and lv_rows.shape[1] == 0
    # the lazy pick scores mean + scale·(x − mean) − per·cost with per = λ / cost scale
    tails, fresh, order = lazy_state(alpha, beta, lam / scale_cost, cost, lazy)
    info[ALARMS] = 0.0
    for t in range(prompts.size):
        k = clusters[t]
        leaf = leaves[t] if leaf_sf.shape[1] > 0 else -1
        p = prompts[t]
        lrow = lv_rows[t]
        rate = information_rate(info[DECIDED], info[EVIDENCE])
        scale = tempered(cfg[EXPLORE], rate, cfg[TEMPERING])
        if lazy and scale > 0.0 and leaf < 0:
            exact = 0  # bit i: model i has evidence on this prompt, drawn from its own posterior
            if items.shape[0] > 0:
                for i in range(m):
                    if items[p, 2, i] > 0.0:
                        ca[i], cb[i], a[i], b[i] = cell(
                            cells, leaf_sf, items, cfg, k, leaf, p, i, lv, lrow, lw
                        )
                        exact |= 1 << i
            per = lam / scale_cost
            j = lazy_pick(alpha, beta, tails, fresh, order, k, cost, per, scale, exact, a, b)
            if not exact & (1 << j):
                a[j] = ca[j] = alpha[k, j]
                b[j] = cb[j] = beta[k, j]
        else:
            for i in range(m):
                ca[i], cb[i], a[i], b[i] = cell(
                    cells, leaf_sf, items, cfg, k, leaf, p, i, lv, lrow, lw
                )
                mean = a[i] / (a[i] + b[i])
                top[i] = mean  # greedy: the score; Thompson: the best score a draw can give
                if rule == THOMPSON:
                    top[i] = mean + scale * (1.0 - mean)
                top[i] = utility(top[i], cost[i], lam, scale_cost)
            best = -np.inf
            j = 0
            if rule != THOMPSON:
                for i in range(m):
                    if top[i] > best:
                        best = top[i]
                        j = i
            else:  # draw the best case first, then only the models whose best case beats it
                first = 0
                for i in range(m):
                    if top[i] > top[first]:
                        first = i
                for n in range(m + 1):
                    i = first if n == 0 else n - 1
                    if (n > 0 and i == first) or top[i] < best:
                        continue  # a model whose best case is below the best draw cannot win
                    mean = a[i] / (a[i] + b[i])
                    score = utility(mean + scale * (beta_draw(a[i], b[i]) - mean), cost[i], lam,
                                    scale_cost)  # fmt: skip
                    if score > best:
                        best = score
                        j = i
        chosen[t] = j
        lams[t] = lam
        info[DECIDED] += 1.0
        if cfg[TARGET] >= 0.0:
            lam = pace(
                lam, costs[t, j], cfg[TARGET], cfg[PACE_SCALE], cfg[RATE], cfg[LAM_MIN],
                cfg[LAM_MAX],
            )  # fmt: skip
        if not given[t]:
            continue
        info[UPDATES] += 1.0
        y = outcomes[t, j]
        v = y
        if kind == LABEL:
            v = 1.0 if draws[t] < y else 0.0
        elif kind == THUMBS:
            v = 1.0 if draws[t] < cfg[CHANNEL_A] * y + cfg[CHANNEL_B] * (1.0 - y) else 0.0
        mean = a[j] / (a[j] + b[j])
        if cfg[DRIFT] > 0.0 and watch(cells, leaf_sf, items, guard_b, guard_s, cfg, j, v, mean, lv):
            n = int(info[ALARMS])
            alarms[n, 0], alarms[n, 1], alarms[n, 2] = int(info[UPDATES]), j, k
            info[ALARMS] += 1.0
            ca[j], cb[j], a[j], b[j] = cell(cells, leaf_sf, items, cfg, k, leaf, p, j, lv, lrow, lw)
            if lazy:
                for kk in range(alpha.shape[0]):
                    fresh[kk, j] = False
                    reorder(order, alpha, beta, cost, lam / scale_cost, kk, j)
        if rule == STATIC:
            continue
        if leaf >= 0 and cfg[STALE_STRENGTH] > 0.0:
            for r in lrow:  # the level cells are as stale (they refine nothing in a leaf)
                cap_prior(lv, r, cfg[STALE_STRENGTH])
        if leaf >= 0 and cfg[STALE_STRENGTH] > 0.0 and cap_prior(cells, k, cfg[STALE_STRENGTH]):
            ca[j], cb[j], a[j], b[j] = cell(cells, leaf_sf, items, cfg, k, leaf, p, j, lv, lrow, lw)
            if lazy:
                for i in range(m):
                    fresh[k, i] = False
                    reorder(order, alpha, beta, cost, lam / scale_cost, k, i)
        a0, b0, da, db = learn(
            cells, leaf_sf, items, cfg, k, leaf, p, j, v, ca[j], cb[j], a[j], b[j], lv, lrow
        )
        if lazy:
            keep_tails(alpha, beta, tails, fresh, k, j, a0, b0, da, db)
        alpha[k, j] = a0 + da
        beta[k, j] = b0 + db
        info[EVIDENCE] += da + db
        if lazy:
            reorder(order, alpha, beta, cost, lam / scale_cost, k, j)
    return lam


@njit(cache=True, error_model="numpy")
def seed(value: int) -> None:
    """Seed numba's generator (it is separate from numpy's)."""
    np.random.seed(value)
