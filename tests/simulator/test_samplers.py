"""The compiled kernel's exact Beta samplers and its lazy Thompson pick."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit
from scipy import integrate, stats

from simulator import kernel, lazy_pick, samplers
from simulator import kernel_learn as kl


@njit(cache=True)
def _above(a: float, b: float, q: float, n: int) -> np.ndarray:
    out = np.empty(n)
    for t in range(n):
        out[t] = samplers.beta_above(a, b, q)
    return out


@njit(cache=True)
def _mixture(a: float, b: float, n: int) -> np.ndarray:
    """Draws revealed part first, then drawn within the part, as the lazy pick does."""
    q_lo, e_lo, _, q_hi, e_hi, _ = samplers.tails_anchor(a, b)
    out = np.empty(n)
    for t in range(n):
        x, lazy = samplers.first_arm(a, b, q_lo, e_lo, q_hi, e_hi)
        out[t] = samplers.beta_between(a, b, q_lo, q_hi) if lazy else x
    return out


@pytest.mark.parametrize(("a", "b"), [(1.5, 1.2), (20.0, 3.0), (3.0, 20.0), (300.0, 12.0)])
def test_tail_and_mixture_draws_follow_the_beta(a: float, b: float) -> None:
    kernel.seed(1)
    dist = stats.beta(a, b)
    q_lo, e_lo, _, q_hi, e_hi, _ = samplers.tails_anchor(a, b)
    assert e_lo == pytest.approx(dist.cdf(q_lo), rel=1e-9)
    assert (q_hi, e_hi) == (1.0, 0.0) or e_hi == pytest.approx(dist.sf(q_hi), rel=1e-9)
    assert stats.kstest(_mixture(a, b, 50_000), dist.cdf).pvalue > 1e-3
    q = float(dist.ppf(0.95))
    above = _above(a, b, q, 20_000)
    assert above.min() > q
    assert stats.kstest(above, lambda x: (dist.cdf(x) - 0.95) / 0.05).pvalue > 1e-3


def test_tail_masses_are_carried_exactly_through_labels() -> None:
    a, b = 20.0, 5.0
    t = list(samplers.tails_anchor(a, b))
    rng = np.random.default_rng(0)
    for _ in range(300):
        success = bool(rng.random() < 0.8)
        step = (1.0, 0.0) if success else (0.0, 1.0)
        e_lo, d_lo, e_hi, d_hi, keep = samplers.tails_carry(a, b, *step, *t)
        a, b = (a + 1.0, b) if success else (a, b + 1.0)
        t = [t[0], e_lo, d_lo, t[3], e_hi, d_hi] if keep else list(samplers.tails_anchor(a, b))
        assert t[1] == pytest.approx(stats.beta(a, b).cdf(t[0]), rel=1e-8, abs=1e-15)
        assert t[4] == pytest.approx(stats.beta(a, b).sf(t[3]), rel=1e-8, abs=1e-15)


def _choice_probabilities(a: np.ndarray, b: np.ndarray, pen: np.ndarray, s: float) -> np.ndarray:
    """P(arm i has the top score mean + s·(X − mean) − pen), by quadrature."""
    mean = a / (a + b)
    dists = [stats.beta(x, y) for x, y in zip(a, b, strict=True)]
    probs = []
    for i, d in enumerate(dists):

        def density(x: float, i: int = i, d: stats.rv_continuous = d) -> float:
            score = mean[i] + s * (x - mean[i]) - pen[i]
            rest = [
                dists[j].cdf(mean[j] + (score + pen[j] - mean[j]) / s)
                for j in range(a.size)
                if j != i
            ]
            return float(d.pdf(x) * np.prod(rest))

        probs.append(integrate.quad(density, 0.0, 1.0, limit=200, epsabs=1e-11)[0])
    return np.array(probs)


#: (alpha, beta, price) of one cluster's models: a mixed pool with a < 1 and b < 1 arms, and one
#: where close, narrow runners-up win only through their upper tails.
POOLS = {
    "mixed": ([40.0, 33.0, 9.0, 70.0, 2.5, 0.8], [10.0, 7.0, 2.0, 30.0, 1.5, 0.9],
              [0.1, 0.5, 0.0, 0.0, 0.2, 0.0]),
    "tails": ([400.0, 365.0, 366.0, 364.0, 150.0, 3.0], [100.0, 135.0, 134.0, 136.0, 40.0, 1.0],
              [0.0, 0.0, 0.0, 0.0, 0.3, 0.5]),
}  # fmt: skip


@pytest.mark.parametrize("bounded", [False, True])
@pytest.mark.parametrize(
    ("pool", "scale", "lam"), [("mixed", 1.0, 0.0), ("mixed", 0.5, 0.05), ("tails", 1.0, 0.1)]
)
def test_the_lazy_pick_chooses_with_thompson_sampling_s_probabilities(
    pool: str, scale: float, lam: float, bounded: bool
) -> None:
    """With nothing learnt, the compiled Thompson choice frequencies match the exact choice
    probabilities of drawing every model's Beta (computed by quadrature): the lazy pick's, and
    (``bounded``: a resolution level whose one cell repeats the cluster, so the Betas are the
    same) the pick that draws in order of best case and stops when no best case can win."""
    alpha, beta, price = (np.array(x) for x in POOLS[pool])
    alpha, beta = alpha[None, :], beta[None, :]
    n = 300_000
    chosen, lams = np.empty(n, dtype=np.int64), np.empty(n)
    zeros = np.zeros(n, dtype=np.int64)
    kernel.seed(3)
    cfg = np.zeros(kernel.N_CFG)
    cfg[kl.RULE], cfg[kl.EXPLORE], cfg[kl.COST_SCALE], cfg[kl.TARGET] = kl.THOMPSON, scale, 1.0, -1
    cfg[kl.DISCOUNT] = 1.0
    cells = np.stack([alpha, beta, alpha, beta])
    kernel.run_stream(
        cells, np.zeros((2, 0, 6)), np.zeros((0, 3, 6)), np.zeros((0, 1, 1, 2)), np.zeros((0, 1)),
        price, cfg, np.zeros(4), lam, zeros, zeros, zeros - 1, np.zeros(n, dtype=np.bool_),
        np.zeros(n), np.zeros((1, 6)), np.zeros((1, 6)), chosen, lams,
        np.zeros((1, 3), dtype=np.int64), cells if bounded else np.zeros((4, 0, 6)),
        np.zeros((n, 1 if bounded else 0), dtype=np.int64), np.ones(1 if bounded else 0),
    )  # fmt: skip
    exact = _choice_probabilities(alpha[0], beta[0], lam * price, scale)
    assert exact.sum() == pytest.approx(1.0, abs=1e-6)
    seen = np.bincount(chosen, minlength=6)
    keep = exact * n >= 5
    chi2 = float(np.sum((seen[keep] - n * exact[keep]) ** 2 / (n * exact[keep])))
    assert stats.chi2.sf(chi2, keep.sum() - 1) > 1e-3, (seen / n, exact)


@njit(cache=True)
def _picks(
    alpha: np.ndarray, beta: np.ndarray, price: np.ndarray, lam: float, scale: float,
    exact: int, ea: np.ndarray, eb: np.ndarray, n: int,
) -> np.ndarray:  # fmt: skip
    tails, fresh, order = samplers.lazy_state(alpha, beta, lam, price, True)
    out = np.empty(n, dtype=np.int64)
    for t in range(n):
        out[t] = lazy_pick.lazy_pick(
            alpha, beta, tails, fresh, order, 0, price, lam, scale, exact, ea, eb
        )
    return out


@pytest.mark.parametrize(("pool", "exact"), [("mixed", (1, 3)), ("tails", (0,)), ("tails", (2, 4))])
def test_the_lazy_pick_draws_a_prompt_s_own_posterior_for_the_models_with_evidence(
    pool: str, exact: tuple[int, ...]
) -> None:
    """Models with evidence on the prompt draw from Beta(ea, eb) in full, the others lazily:
    the choice frequencies still match the exact probabilities (quadrature)."""
    alpha, beta, price = (np.array(x) for x in POOLS[pool])
    ea, eb = alpha.copy(), beta.copy()
    for i, (x, y) in zip(exact, [(6.0, 1.5), (30.0, 12.0)], strict=False):
        ea[i], eb[i] = x, y
    mask = sum(1 << i for i in exact)
    n, lam, scale = 200_000, 0.05, 0.7
    kernel.seed(5)
    chosen = _picks(alpha[None, :], beta[None, :], price, lam, scale, mask, ea, eb, n)
    own = np.isin(np.arange(alpha.size), exact)
    exact_p = _choice_probabilities(
        np.where(own, ea, alpha), np.where(own, eb, beta), lam * price, scale
    )
    seen = np.bincount(chosen, minlength=alpha.size)
    keep = exact_p * n >= 5
    chi2 = float(np.sum((seen[keep] - n * exact_p[keep]) ** 2 / (n * exact_p[keep])))
    assert stats.chi2.sf(chi2, keep.sum() - 1) > 1e-3, (seen / n, exact_p)
