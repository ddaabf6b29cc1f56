"""The compiled kernel's lazy Thompson pick, and the bookkeeping it needs after each update.

Inlined into :func:`simulator.kernel.run_stream` (numba pays per array argument on a real call).
``tails``, ``fresh`` and ``order`` come from :func:`simulator.samplers.lazy_state`: each cell's
tail points and masses, whether those are exact for its current posterior, and each cluster's
models by posterior mean less cost, best first (which decides only how much is drawn).
``price`` and ``lam`` make the cost penalty ``lam · price``: the kernel passes the models' costs
and λ / cost scale, the penalty of :func:`policies.updates.utility`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from simulator.samplers import (
    beta_above,
    beta_between,
    beta_draw,
    first_arm,
    tails_anchor,
    tails_carry,
)


@njit(cache=True, error_model="numpy", inline="always")
def lazy_pick(
    alpha: np.ndarray,
    beta: np.ndarray,
    tails: np.ndarray,
    fresh: np.ndarray,
    order: np.ndarray,
    k: int,
    price: np.ndarray,
    lam: float,
    scale: float,
    exact: int,
    ea: np.ndarray,
    eb: np.ndarray,
) -> int:
    """argmax_i mean_i + scale·(X_i − mean_i) − λ·price_i over cluster ``k``'s arms, X_i drawn
    from Beta(alpha[k, i], beta[k, i]) as far as the argmax needs (see the module docstring).

    The arms in the bit mask ``exact`` (bit i: arm i) draw from Beta(ea[i], eb[i]) instead, in
    full: a prompt's own posterior for the models with evidence on it."""
    m = price.size
    inv = 1.0 / scale
    # 0. The exact arms: `top` is their best score, `jx` its arm.
    top = -np.inf
    jx = -1
    for i in range(m):
        if exact & (1 << i):
            mean = ea[i] / (ea[i] + eb[i])
            score = mean + scale * (beta_draw(ea[i], eb[i]) - mean) - lam * price[i]
            if score > top:
                top = score
                jx = i
    r0 = 0
    while r0 < m and exact & (1 << order[k, r0]):
        r0 += 1
    if r0 == m:
        return jx
    # 1. The first other arm in order: `best` is its exact score, or a lower bound of it if
    #    lazy (then it is above every exact arm's, else it is drawn exactly now).
    i0 = order[k, r0]
    a0 = alpha[k, i0]
    b0 = beta[k, i0]
    mean0 = a0 / (a0 + b0)
    if fresh[k, i0]:
        x0, lazy = first_arm(
            a0, b0, tails[k, i0, 0], tails[k, i0, 1], tails[k, i0, 3], tails[k, i0, 4]
        )
    else:
        x0, lazy = beta_draw(a0, b0), False
    best = mean0 + scale * (x0 - mean0) - lam * price[i0]
    if lazy and best < top:
        x0 = beta_between(a0, b0, tails[k, i0, 0], tails[k, i0, 3])
        best = mean0 + scale * (x0 - mean0) - lam * price[i0]
        lazy = False
    j = i0
    if top > best:
        best = top
        j = jx
    # 2. Arm i wins only if X_i > thr_i. It is out if thr_i >= 1; if q_hi <= thr_i it is out
    #    unless X_i falls in its upper tail (one uniform settles all those events); else it
    #    stays open. `best` only grows, so what is out stays out.
    open_ = 0  # bit r: arm order[k, r] is open
    none = 1.0  # P(no upper-tail event among the arms put out on q_hi)
    for r in range(r0 + 1, m):
        i = order[k, r]
        if exact & (1 << i):
            continue
        mean = alpha[k, i] / (alpha[k, i] + beta[k, i])
        thr = mean + (best + lam * price[i] - mean) * inv
        if thr < 1.0:
            if not fresh[k, i]:
                anchor(alpha, beta, tails, k, i)
                fresh[k, i] = True
            if tails[k, i, 3] <= thr:
                none *= 1.0 - tails[k, i, 4]
            else:
                open_ |= 1 << r
    tail = 0  # bit r: arm order[k, r]'s draw is in its upper tail
    if none < 1.0:
        v = np.random.random()
        if v >= none:  # some event: find them, same arms, same order (a Bernoulli chain)
            left = 1.0
            for r in range(r0 + 1, m):
                i = order[k, r]
                if exact & (1 << i):
                    continue
                mean = alpha[k, i] / (alpha[k, i] + beta[k, i])
                thr = mean + (best + lam * price[i] - mean) * inv
                if thr < 1.0 and tails[k, i, 3] <= thr:
                    nxt = left * (1.0 - tails[k, i, 4])
                    if v < nxt:  # no event at i; v stays uniform on [0, nxt)
                        left = nxt
                    else:
                        tail |= 1 << r
                        v = np.random.random()
                        left = 1.0
    if open_ | tail:
        # 3. Another arm may win: make the first arm exact (a lazy one beats every exact
        #    arm), then settle the open and tail arms.
        if lazy:
            x0 = beta_between(a0, b0, tails[k, i0, 0], tails[k, i0, 3])
            best = mean0 + scale * (x0 - mean0) - lam * price[i0]
        for r in range(r0 + 1, m):
            if (open_ | tail) & (1 << r):
                i = order[k, r]
                ai = alpha[k, i]
                bi = beta[k, i]
                mean = ai / (ai + bi)
                q_hi = tails[k, i, 3]
                thr = mean + (best + lam * price[i] - mean) * inv
                if tail & (1 << r):
                    x = beta_above(ai, bi, q_hi)
                elif thr >= 1.0:
                    continue
                elif q_hi <= thr:  # as in 2., against the exact best, for this arm alone
                    if np.random.random() >= tails[k, i, 4]:
                        continue
                    x = beta_above(ai, bi, q_hi)
                else:
                    x = beta_draw(ai, bi)
                score = mean + scale * (x - mean) - lam * price[i]
                if score > best:
                    best = score
                    j = i
    return j


@njit(cache=True, error_model="numpy", inline="always")
def anchor(alpha: np.ndarray, beta: np.ndarray, tails: np.ndarray, k: int, i: int) -> None:
    """Recompute cell (k, i)'s tail points and masses from its posterior."""
    q = tails_anchor(alpha[k, i], beta[k, i])
    for c in range(6):
        tails[k, i, c] = q[c]


@njit(cache=True, error_model="numpy", inline="always")
def keep_tails(
    alpha: np.ndarray,
    beta: np.ndarray,
    tails: np.ndarray,
    fresh: np.ndarray,
    k: int,
    j: int,
    a0: float,
    b0: float,
    da: float,
    db: float,
) -> None:
    """Before cell (k, j) becomes (a0 + da, b0 + db), as the update computed it: carry its
    tail masses exactly when that is one step of a unit count from the cell as it stands (a 0/1
    label), else mark them stale (re-anchored when next needed): a discounted base, a graded
    score or a thumb."""
    same = a0 == alpha[k, j] and b0 == beta[k, j]
    unit = (da == 1.0 and db == 0.0) or (da == 0.0 and db == 1.0)
    if not (fresh[k, j] and same and unit):
        fresh[k, j] = False
        return
    t = tails[k, j]
    e_lo, d_lo, e_hi, d_hi, keep = tails_carry(a0, b0, da, db, t[0], t[1], t[2], t[3], t[4], t[5])
    t[1], t[2], t[4], t[5] = e_lo, d_lo, e_hi, d_hi
    if not keep:  # the points drifted away from mean ± Z·sd: re-anchor on the new posterior
        q = tails_anchor(a0 + da, b0 + db)
        for c in range(6):
            t[c] = q[c]


@njit(cache=True, error_model="numpy", inline="always")
def reorder(
    order: np.ndarray,
    alpha: np.ndarray,
    beta: np.ndarray,
    price: np.ndarray,
    lam: float,
    k: int,
    j: int,
) -> None:
    """Move arm ``j`` to its place in ``order[k]`` (by mean − λ·price, best first); the order
    only decides how much the lazy pick has to draw, never what it chooses."""
    m = price.size
    r = 0
    while order[k, r] != j:
        r += 1
    key = alpha[k, j] / (alpha[k, j] + beta[k, j]) - lam * price[j]
    while r > 0:
        o = order[k, r - 1]
        if alpha[k, o] / (alpha[k, o] + beta[k, o]) - lam * price[o] >= key:
            break
        order[k, r] = o
        r -= 1
    while r < m - 1:
        o = order[k, r + 1]
        if alpha[k, o] / (alpha[k, o] + beta[k, o]) - lam * price[o] <= key:
            break
        order[k, r] = o
        r += 1
    order[k, r] = j
