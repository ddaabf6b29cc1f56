"""The compiled replay kernel (numba): one stream of a Beta-posterior policy, request by request.

It runs the same per-request algorithm as :func:`simulator.replay.replay` for Thompson
sampling, greedy and static UniRoute (leaf cells, prompt memory, tempered exploration,
label/score/thumbs feedback, budget pacing), without Python's per-call overhead. Greedy and
static make the very same choices as the Python engines; Thompson draws from numba's own
seeded generator, so its choices differ draw by draw but not in distribution.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

THOMPSON, GREEDY, STATIC = 0, 1, 2
LABEL, SCORE, THUMBS = 0, 1, 2


@njit(cache=True, error_model="numpy")
def beta_draw(a: float, b: float) -> float:
    """One Beta(a, b) draw: Cheng's (1978) algorithm BB when both exceed 1 (about 1.5× faster
    than numba's gamma-ratio sampler), else that sampler."""
    if a <= 1.0 or b <= 1.0:
        return float(np.random.beta(a, b))
    a0, b0 = min(a, b), max(a, b)
    total = a0 + b0
    scale = math.sqrt((total - 2.0) / (2.0 * a0 * b0 - total))
    shift = a0 + 1.0 / scale
    while True:
        u1 = np.random.random()
        u2 = np.random.random()
        if u1 <= 0.0 or u1 >= 1.0:
            continue
        v = scale * math.log(u1 / (1.0 - u1))
        w = a0 * math.exp(v)
        z = u1 * u1 * u2
        r = shift * v - 1.3862943611198906  # log 4
        s = a0 + r - w
        if s + 2.6094379124341003 >= 5.0 * z:  # 1 + log 5
            break
        t = math.log(z)
        if s > t or r + total * math.log(total / (b0 + w)) >= t:
            break
    return w / (b0 + w) if a0 == a else b0 / (b0 + w)


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
    for t in range(prompts.size):
        k = clusters[t]
        leaf = leaves[t]
        best = -np.inf
        j = 0
        scale = explore
        if tempering > 0.0:
            rate = (info[1] + 20.0) / (info[0] + 20.0)
            scale = explore * min(1.0, rate) ** tempering
        p = prompts[t]
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
            step = math.exp(pace[0] * (cost[prompts[t], j] / c_max - target))
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
        alpha[k, j] += da
        beta[k, j] += db
        info[1] += da + db
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
