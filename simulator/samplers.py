"""Exact Beta sampling for the compiled replay kernel, and what lets it skip most draws.

Thompson sampling needs one Beta draw per model per request, which is almost all of a compiled
replay's time. Most of those draws cannot change the choice, and the kernel avoids them without
changing the distribution of its choices (:mod:`simulator.kernel`, the *lazy pick*). For that,
each (cluster, model) cell keeps two points of its Beta(a, b) posterior, ``q_lo = mean − Z_LO·sd``
and ``q_hi = mean + Z_HI·sd``, with their exact masses ``eps_lo = P(X < q_lo)`` and
``eps_hi = P(X > q_hi)``: a draw is a mixture of a lower tail, a middle and an upper tail, and a
request first reveals only which part a model's draw is in (one uniform), drawing the value
itself, exactly within that part, when the choice depends on it.

``tails[k, i] = (q_lo, eps_lo, d_lo, q_hi, eps_hi, d_hi)`` with ``d = q^a (1 − q)^b / B(a, b)``,
which carries the masses exactly through a label's unit step (:func:`tails_carry`). An unused tail
(too close to 0 or 1, or a < 1 or b < 1, where the tail sampler's log-concavity fails) has
``q_lo = 0`` / ``q_hi = 1`` and zero mass.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

Z_LO = 1.5
Z_HI = 2.0
DRIFT = (0.75, 1.5)  # re-anchor a tail once (mean − q) / sd leaves DRIFT × Z (in sd units)


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
def beta_above(a: float, b: float, q: float) -> float:
    """Beta(a, b) given X > q, a, b >= 1: rejection from the exponential tangent to the
    (concave) log density at q, truncated to (q, 1)."""
    span = 1.0 - q
    s = (a - 1.0) / q - (b - 1.0) / span
    em = math.expm1(s * span)
    while True:
        u = np.random.random()
        y = u * span if abs(s * span) < 1e-9 else math.log1p(u * em) / s
        if y <= 0.0 or y >= span:
            continue
        lim = -s * y  # log f(q + y) - log f(q) - s*y <= 0
        if a != 1.0:
            lim += (a - 1.0) * math.log1p(y / q)
        if b != 1.0:
            lim += (b - 1.0) * math.log1p(-y / span)
        if math.log(1.0 - np.random.random()) <= lim:
            return q + y


@njit(cache=True, error_model="numpy")
def beta_between(a: float, b: float, lo: float, hi: float) -> float:
    """Beta(a, b) given lo <= X <= hi, by rejection (that mass is >= ~0.9 here)."""
    while True:
        x = beta_draw(a, b)
        if lo <= x <= hi:
            return x


@njit(cache=True, error_model="numpy")
def lower_mass(a: float, b: float, x: float) -> tuple[float, float]:
    """(I_x(a, b), x^a (1-x)^b / B(a, b)) for x below the mean: continued fraction (Lentz)."""
    d = math.exp(
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    tiny = 1e-300
    c = 1.0
    e = 1.0 - (a + b) * x / (a + 1.0)
    e = 1.0 / (e if abs(e) > tiny else tiny)
    h = e
    for m in range(1, 2000):
        for aa in (
            m * (b - m) * x / ((a + 2.0 * m - 1.0) * (a + 2.0 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2.0 * m) * (a + 2.0 * m + 1.0)),
        ):
            e = 1.0 + aa * e
            e = 1.0 / (e if abs(e) > tiny else tiny)
            c = 1.0 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= e * c
        if abs(e * c - 1.0) < 3e-16:
            break
    return d * h / a, d


@njit(cache=True, error_model="numpy")
def tails_anchor(a: float, b: float) -> tuple[float, float, float, float, float, float]:
    """(q_lo, eps_lo, d_lo, q_hi, eps_hi, d_hi) of Beta(a, b), points at mean -/+ Z sd."""
    q_lo, e_lo, d_lo, q_hi, e_hi, d_hi = 0.0, 0.0, 0.0, 1.0, 0.0, 0.0
    if a >= 1.0 and b >= 1.0:  # else unused: the tail sampler needs a log-concave density
        n = a + b
        sd = math.sqrt(a * b / (n * n * (n + 1.0)))
        if a / n - Z_LO * sd > 0.0:
            q_lo = a / n - Z_LO * sd
            e_lo, d_lo = lower_mass(a, b, q_lo)
        if a / n + Z_HI * sd < 1.0:
            q_hi = a / n + Z_HI * sd
            e_hi, d_hi = lower_mass(b, a, 1.0 - q_hi)  # P(X > q) = I_{1-q}(b, a)
    return q_lo, e_lo, d_lo, q_hi, e_hi, d_hi


@njit(cache=True, error_model="numpy")
def tails_carry(
    a: float,
    b: float,
    da: float,
    db: float,
    q_lo: float,
    e_lo: float,
    d_lo: float,
    q_hi: float,
    e_hi: float,
    d_hi: float,
) -> tuple[float, float, float, float, bool]:
    """Carry the masses exactly from Beta(a, b) to Beta(a + da, b + db), points fixed, for the
    increments a label gives, (1, 0) or (0, 1): I_q(a+1, b) = I_q(a, b) - d/a and
    I_q(a, b+1) = I_q(a, b) + d/b, with d = q^a (1-q)^b / B(a, b). Returns (e_lo, d_lo, e_hi,
    d_hi, keep); keep is False when the points have drifted (in sd units) and should be
    re-anchored, and for any other increment (the masses are then returned unchanged)."""
    success = da == 1.0 and db == 0.0
    if not (success or (da == 0.0 and db == 1.0)):
        return e_lo, d_lo, e_hi, d_hi, False
    n = a + b
    if success:
        if q_lo > 0.0:
            e_lo -= d_lo / a
            d_lo *= q_lo * n / a
        if q_hi < 1.0:
            e_hi += d_hi / a
            d_hi *= q_hi * n / a
        a += 1.0
    else:
        if q_lo > 0.0:
            e_lo += d_lo / b
            d_lo *= (1.0 - q_lo) * n / b
        if q_hi < 1.0:
            e_hi -= d_hi / b
            d_hi *= (1.0 - q_hi) * n / b
        b += 1.0
    keep = True
    if a >= 1.0 and b >= 1.0:
        n = a + b
        mean = a / n
        sd = math.sqrt(a * b / (n * n * (n + 1.0)))
        if q_lo > 0.0:
            keep = DRIFT[0] * Z_LO <= (mean - q_lo) / sd <= DRIFT[1] * Z_LO
        else:
            keep = mean - Z_LO * sd <= 0.0  # still unusable
        if q_hi < 1.0:
            keep = keep and DRIFT[0] * Z_HI <= (q_hi - mean) / sd <= DRIFT[1] * Z_HI
        else:
            keep = keep and mean + Z_HI * sd >= 1.0
    return e_lo, d_lo, e_hi, d_hi, keep


@njit(cache=True, error_model="numpy")
def first_arm(
    a: float, b: float, q_lo: float, e_lo: float, q_hi: float, e_hi: float
) -> tuple[float, bool]:
    """Reveal which part of its mixture the first arm's X is in: (x, lazy). lazy: X is in the
    middle [q_lo, q_hi], not drawn yet, x = q_lo; else x is an exact draw."""
    if q_lo <= 0.0:
        return beta_draw(a, b), False
    u = np.random.random()
    if u < e_lo:
        return 1.0 - beta_above(b, a, 1.0 - q_lo), False  # lower tail, by symmetry
    if u >= 1.0 - e_hi:
        return beta_above(a, b, q_hi), False
    return q_lo, True


@njit(cache=True, error_model="numpy")
def lazy_state(
    alpha: np.ndarray, beta: np.ndarray, lam: float, price: np.ndarray, wanted: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(tails, fresh, order) for alpha/beta: fresh[k, i] says tails[k, i] is exact for the
    cell; order[k] lists arms by mean - lam*price, best first (only speed depends on it).
    Empty arrays when not ``wanted``."""
    kk, m = alpha.shape
    if not wanted:
        kk = 0
    tails = np.empty((kk, m, 6))
    fresh = np.ones((kk, m), dtype=np.bool_)
    order = np.empty((kk, m), dtype=np.int64)
    for k in range(kk):
        order[k] = np.argsort(-(alpha[k] / (alpha[k] + beta[k]) - lam * price), kind="mergesort")
        for i in range(m):
            (
                tails[k, i, 0],
                tails[k, i, 1],
                tails[k, i, 2],
                tails[k, i, 3],
                tails[k, i, 4],
                tails[k, i, 5],
            ) = tails_anchor(alpha[k, i], beta[k, i])
    return tails, fresh, order
