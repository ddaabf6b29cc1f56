"""The compiled replay kernel (numba): one stream of a Beta-posterior policy, request by request.

It runs the same per-request algorithm as :func:`simulator.sequential.replay` for Thompson
sampling, greedy and static UniRoute (leaf cells, prompt memory, tempered exploration,
label/score/thumbs feedback, budget pacing), without Python's per-call overhead. Greedy and
static make the very same choices as the Python engines; Thompson draws from numba's own
seeded generator, so its choices differ draw by draw but not in distribution.

Thompson sampling on a request's cluster posteriors takes the *lazy pick*: models sorted by
posterior mean (less cost), each draw revealed only as far as the choice needs it (which part
of its Beta, lower tail, middle or upper tail, it falls in; see :mod:`simulator.samplers`), so
most requests draw one Beta value or none, and the choice has exactly the distribution of
drawing them all. Requests on leaf cells or with prompt-memory evidence draw every model.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from simulator.lazy_pick import keep_tails, lazy_pick, reorder
from simulator.samplers import beta_draw, lazy_state

THOMPSON, GREEDY, STATIC = 0, 1, 2
LABEL, SCORE, THUMBS = 0, 1, 2


@njit(cache=True, error_model="numpy")
def _thumbs(a: float, b: float, c0: float, c1: float) -> tuple[float, float]:
    n = a + b
    m1 = a / n
    m2 = m1 * (a + 1.0) / (n + 1.0)
    m3 = m2 * (a + 2.0) / (n + 2.0)
    z = c0 + c1 * m1
    mean = (c0 * m1 + c1 * m2) / z
    var = max((c0 * m2 + c1 * m3) / z - mean * mean, 1e-9)
    size = max(mean * (1.0 - mean) / var - 1.0, 1e-9)
    return max(mean * size, 1e-9) - a, max((1.0 - mean) * size, 1e-9) - b


@njit(cache=True, error_model="numpy")
def _stack(a: float, b: float, strength: float, s: float, f: float) -> tuple[float, float]:
    """``policies.posterior._stack``: evidence on top of Beta(a, b) capped at ``strength``."""
    shrink = min(a + b, strength) / (a + b)
    return max(a * shrink + s, 1e-3), max(b * shrink + f, 1e-3)


@njit(cache=True, error_model="numpy")
def run_stream(  # noqa: PLR0913 - a kernel takes its state flat
    alpha: np.ndarray,
    beta: np.ndarray,
    leaf_s: np.ndarray,
    leaf_f: np.ndarray,
    strength: float,
    rule: int,
    explore: float,
    tempering: float,
    info: np.ndarray,
    price: np.ndarray,
    lam: float,
    target: float,
    pace: np.ndarray,
    prompts: np.ndarray,
    clusters: np.ndarray,
    leaves: np.ndarray,
    correct: np.ndarray,
    cost: np.ndarray,
    c_max: float,
    given: np.ndarray,
    draws: np.ndarray,
    kind: int,
    thumbs_a: float,
    thumbs_b: float,
    chosen: np.ndarray,
    lams: np.ndarray,
    item_strength: float,
    items: np.ndarray,
) -> float:
    """Replay ``prompts`` in order, updating ``alpha``/``beta``/leaf/item arrays in place; fill
    ``chosen`` and ``lams``; return the final λ. ``target < 0`` means no budget.

    ``info`` holds (decisions, evidence) for information tempering and is updated in place.
    ``pace`` holds the budget pacer's (rate, lam_min, lam_max). ``items[p]`` is prompt ``p``'s
    memory, (successes, failures, weight) per model, used when ``item_strength > 0``.
    """
    m = price.size
    use_leaves = leaf_s.shape[0] > 0
    use_items = item_strength > 0.0
    a = np.empty(m)
    b = np.empty(m)
    ca = np.empty(m)
    cb = np.empty(m)
    lazy = rule == THOMPSON and m <= 63  # the lazy pick keeps its arm sets in 64-bit masks
    tails, fresh, order = lazy_state(alpha, beta, lam, price, lazy)
    for t in range(prompts.size):
        k = clusters[t]
        leaf = leaves[t]
        p = prompts[t]
        scale = explore
        if tempering > 0.0:
            rate = (info[1] + 20.0) / (info[0] + 20.0)
            scale = explore * min(1.0, rate) ** tempering
        pick = lazy and scale > 0.0 and not (use_leaves and leaf >= 0)
        if pick and use_items:
            for i in range(m):
                if items[p, 2, i] > 0.0:
                    pick = False
        if pick:
            j = lazy_pick(alpha, beta, tails, fresh, order, k, price, lam, scale)
            a[j] = ca[j] = alpha[k, j]
            b[j] = cb[j] = beta[k, j]
        else:
            best = -np.inf
            j = 0
            for i in range(m):
                ai = alpha[k, i]
                bi = beta[k, i]
                if use_leaves and leaf >= 0:
                    ai, bi = _stack(ai, bi, strength, leaf_s[leaf, i], leaf_f[leaf, i])
                ca[i] = ai
                cb[i] = bi
                if use_items and items[p, 2, i] > 0.0:
                    ai, bi = _stack(ai, bi, item_strength, items[p, 0, i], items[p, 1, i])
                a[i] = ai
                b[i] = bi
                mean = ai / (ai + bi)
                if rule == THOMPSON:
                    est = mean + scale * (beta_draw(ai, bi) - mean)
                else:
                    est = mean
                score = est - lam * price[i]
                if score > best:
                    best = score
                    j = i
        chosen[t] = j
        lams[t] = lam
        info[0] += 1.0
        if target >= 0.0:  # policies.pacer.pace, inlined; pace = (rate, lam_min, lam_max)
            step = math.exp(pace[0] * (cost[p, j] / c_max - target))
            lam = min(max(lam * step, pace[1]), pace[2])
        if rule == STATIC or not given[t]:
            continue
        y = correct[p, j]
        if kind == SCORE:
            v = y
        elif kind == LABEL:
            v = 1.0 if draws[t] < y else 0.0
        else:
            v = 1.0 if draws[t] < thumbs_a * y + thumbs_b * (1.0 - y) else 0.0
        if kind == THUMBS:
            c0 = thumbs_b if v > 0.5 else 1.0 - thumbs_b
            c1 = thumbs_a - thumbs_b if v > 0.5 else thumbs_b - thumbs_a
            da, db = _thumbs(alpha[k, j], beta[k, j], c0, c1)
            la, lb = _thumbs(ca[j], cb[j], c0, c1)
            ia, ib = a[j], b[j]
            if use_items and items[p, 2, j] == 0.0:
                ia, ib = _stack(ca[j], cb[j], item_strength, 0.0, 0.0)
            ia, ib = _thumbs(ia, ib, c0, c1)
        else:
            da, db = v, 1.0 - v
            la, lb = da, db
            ia, ib = da, db
        if lazy:
            keep_tails(alpha, beta, tails, fresh, k, j, da, db)
        alpha[k, j] += da
        beta[k, j] += db
        info[1] += da + db
        if lazy:
            reorder(order, alpha, beta, price, lam, k, j)
        if use_leaves and leaf >= 0:
            leaf_s[leaf, j] += la
            leaf_f[leaf, j] += lb
        if use_items:
            items[p, 0, j] += ia
            items[p, 1, j] += ib
            items[p, 2, j] += 1.0
    return lam


@njit(cache=True, error_model="numpy")
def seed(value: int) -> None:
    """Seed numba's generator (it is separate from numpy's)."""
    np.random.seed(value)
