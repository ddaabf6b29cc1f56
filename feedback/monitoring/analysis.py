"""The report's sections, computed from numpy columns and the posterior (no database here).

:class:`Inputs` gathers what every section needs; each function returns a JSON-able dict.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from feedback.monitoring.data import KINDS, Columns
from feedback.monitoring.estimators import (
    dr,
    dr_terms,
    ips,
    mean_ci,
    rolling_mean,
    snips,
    utility_gap,
)
from policies import utility


@dataclass(frozen=True)
class Inputs:
    """Monitored decisions restricted to models still in the pool, plus today's posterior."""

    cols: Columns
    names: list[str]
    alpha: np.ndarray  # (K, M) today's posterior
    beta: np.ndarray
    alpha0: np.ndarray  # (K, M) warm-start prior
    beta0: np.ndarray
    costs: np.ndarray  # (M,) today's prices
    cost_scale: float
    thumbs: tuple[float, float]  # P(up | correct), P(up | wrong)
    valid: np.ndarray  # (n,) bool: chosen model in the pool and cluster in range

    @property
    def means(self) -> np.ndarray:
        return self.alpha / (self.alpha + self.beta)

    def counts(self, rows: np.ndarray | None = None) -> np.ndarray:
        """(K, M) decisions per cell among ``rows`` (default: every valid decision)."""
        sel = self.valid if rows is None else rows & self.valid
        k, m = self.alpha.shape
        flat = self.cols.cluster[sel] * m + self.cols.arm[sel]
        return np.bincount(flat, minlength=k * m).reshape(k, m).astype(np.float64)


def downsample(n: int, points: int) -> np.ndarray:
    """At most ``points`` increasing indices in [0, n), always including the last."""
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    return np.unique(np.linspace(0, n - 1, min(points, n)).round().astype(np.int64))


def _draws(inp: Inputs, draws: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.beta(inp.alpha, inp.beta, size=(draws, *inp.alpha.shape))


def regret_section(inp: Inputs, *, points: int, draws: int, seed: int) -> dict[str, Any]:
    """Estimated regret per decision at decision time and with today's posterior."""
    c, v = inp.cols, inp.valid
    today = np.full(c.n, np.nan)
    today[v] = utility_gap(inp.means, inp.costs, inp.cost_scale, c.cluster[v], c.arm[v], c.lam[v])
    # A credible interval for today's total: posterior draws of every cell, with each
    # cluster's best model fixed at the posterior-mean argmax.
    totals = np.zeros(draws)
    p = _draws(inp, draws, seed)
    for lam in np.unique(c.lam[v]):
        u_mean = utility(inp.means, inp.costs, lam, inp.cost_scale)
        best = np.argmax(u_mean, axis=1)
        u = utility(p, inp.costs, lam, inp.cost_scale)
        gap = np.take_along_axis(u, best[None, :, None], axis=2) - u
        totals += (gap * inp.counts(c.lam == lam)).sum(axis=(1, 2))
    at = c.regret
    idx = downsample(c.n, points)
    window = max(50, c.n // 20)
    finite_at = np.isfinite(at)
    at0, today0 = np.where(finite_at, at, 0.0), np.nan_to_num(today)
    seen = rolling_mean(finite_at * 1.0, window)
    rolling_at = np.full(c.n, np.nan)
    np.divide(rolling_mean(at0, window), seen, out=rolling_at, where=seen > 0)
    # A decision recorded without monitoring (backfilled) has no decision-time regret: its
    # cumulative point is unknown, not 0, so the curve breaks there instead of lying flat.
    cum_at = np.where(finite_at, np.cumsum(at0), np.nan)
    stamps = c.created_at[idx].tolist()
    return {
        "at_decision": {
            "total": float(at0.sum()),
            "per_decision": float(at[finite_at].mean()) if finite_at.any() else None,
            "n": int(finite_at.sum()),
        },
        "today": {
            "total": float(today0.sum()),
            "per_decision": float(np.nanmean(today)) if v.any() else None,
            "low": float(np.quantile(totals, 0.025)),
            "high": float(np.quantile(totals, 0.975)),
            "n": int(v.sum()),
        },
        "curve": {
            "t": (idx + 1).tolist(),
            "at": stamps,
            "at_decision": cum_at[idx].tolist(),
            "today": np.cumsum(today0)[idx].tolist(),
        },
        "rolling": {
            "window": window,
            "t": (idx + 1).tolist(),
            "at": stamps,
            "at_decision": rolling_at[idx].tolist(),
            "today": rolling_mean(today0, window)[idx].tolist(),
        },
    }


def traffic_section(inp: Inputs, counts: dict[str, int], *, bins: int = 20) -> dict[str, Any]:
    """Share per model (over every decision) and over time (over monitored decisions)."""
    total = sum(counts.values())
    share = {m: n / total for m, n in sorted(counts.items())} if total else {}
    c = inp.cols
    edges = np.linspace(0, c.n, bins + 1).astype(int)
    m = len(inp.names)
    over = np.zeros((bins, m))
    for b in range(bins):
        arms = c.arm[edges[b] : edges[b + 1]]
        arms = arms[arms >= 0]
        if arms.size:
            over[b] = np.bincount(arms, minlength=m) / arms.size
    # Each bin's time: when its last decision was made (NaN for an empty bin).
    stamps = np.full(bins, np.nan)
    if c.n:
        full = edges[1:] > edges[:-1]
        stamps[full] = c.created_at[edges[1:][full] - 1]
    return {
        "total": total,
        "counts": dict(sorted(counts.items())),
        "share": share,
        "over_time": {
            "t": edges[1:].tolist(),
            "at": stamps.tolist(),
            "share": {name: over[:, j].tolist() for j, name in enumerate(inp.names)},
        },
    }


def rewards(inp: Inputs) -> np.ndarray:
    """One observed correctness per decision (NaN without feedback): a label if any, else a
    score, else a thumb de-noised as (thumb − b)/(a − b), unbiased under the thumbs model."""
    c = inp.cols
    r = np.full(c.n, np.nan)
    a, b = inp.thumbs
    for kind in ("thumbs", "score", "label"):
        sel = c.fb_kind == KINDS.index(kind)
        vals = c.fb_value[sel]
        r[c.fb_row[sel]] = (vals - b) / (a - b) if kind == "thumbs" else vals
    return r


def off_policy_section(
    inp: Inputs, r: np.ndarray, targets: dict[str, np.ndarray], *, level: float
) -> dict[str, Any]:
    """IPS, SNIPS and DR accuracy of each target policy (a (K, M) matrix of π(m | cluster)),
    plus its expected cost per request, from decisions with feedback and a propensity."""
    c = inp.cols
    use = inp.valid & np.isfinite(r) & np.isfinite(c.propensity) & (c.propensity > 0)
    k, a, p, y = c.cluster[use], c.arm[use], c.propensity[use], r[use]
    q = inp.means[k]
    out: dict[str, Any] = {}
    per_cluster = inp.counts().sum(axis=1)
    n_valid = max(float(per_cluster.sum()), 1.0)
    for name, pi in targets.items():
        # Cost and the posterior's own prediction depend on the cluster only: weight per cluster.
        est: dict[str, Any] = {"cost": float(per_cluster @ (pi @ inp.costs) / n_valid)}
        if use.any():
            tgt = pi[k, a]
            est["ips"] = ips(y, p, tgt, level=level).to_dict()
            est["snips"] = snips(y, p, tgt, level=level).to_dict()
            est["dr"] = dr(y, p, a, pi[k], q, level=level).to_dict()
        est["model"] = float(per_cluster @ (pi * inp.means).sum(axis=1) / n_valid)
        out[name] = est
    has_r = inp.valid & np.isfinite(r)
    logged = mean_ci(r[has_r], method="observed", level=level).to_dict()
    logged_cost = float(c.cost[inp.valid].mean()) if inp.valid.any() else None
    out["logged"] = {"observed": logged, "cost": logged_cost}
    return {"n": int(use.sum()), "n_with_feedback": int(has_r.sum()), "policies": out}


def savings_section(
    inp: Inputs, r: np.ndarray, *, level: float, draws: int, seed: int
) -> dict[str, Any]:
    """Cost spent vs always using the most accurate model (today's posterior on this traffic),
    and the accuracy given up: model-based (posterior draws) and doubly robust."""
    c, v = inp.cols, inp.valid
    n_cell = inp.counts()
    n = max(float(n_cell.sum()), 1.0)
    acc = n_cell.sum(axis=1) @ inp.means / n
    ref = int(np.argmax(acc))
    spent = float(c.cost[v].sum())
    reference = float(v.sum() * inp.costs[ref])
    p = _draws(inp, draws, seed)
    given = (n_cell.sum(axis=1) @ p[:, :, ref].T - (n_cell * p).sum(axis=(1, 2))) / n
    point = float((n_cell.sum(axis=1) @ inp.means[:, ref] - (n_cell * inp.means).sum()) / n)
    tail = (1 - level) / 2
    times = c.created_at[v]
    out: dict[str, Any] = {
        "n": int(v.sum()),
        "first_at": float(times.min()) if times.size else None,
        "last_at": float(times.max()) if times.size else None,
        "reference_model": inp.names[ref],
        "cost_spent": spent,
        "cost_reference": reference,
        "saved": reference - spent,
        "saved_share": (reference - spent) / reference if reference > 0 else None,
        "accuracy_given_up": {
            "model": {
                "value": point,
                "low": float(np.quantile(given, tail)),
                "high": float(np.quantile(given, 1 - tail)),
                "n": int(v.sum()),
                "method": "posterior",
                "level": level,
            }
        },
    }
    use = v & np.isfinite(r) & np.isfinite(c.propensity) & (c.propensity > 0)
    if use.any():
        k, a = c.cluster[use], c.arm[use]
        pi = np.zeros((k.size, len(inp.names)))
        pi[:, ref] = 1.0
        terms = dr_terms(r[use], c.propensity[use], a, pi, inp.means[k]) - r[use]
        out["accuracy_given_up"]["dr"] = mean_ci(terms, method="dr", level=level).to_dict()
    return out


def posterior_section(inp: Inputs, *, level: float) -> dict[str, Any]:
    from feedback.monitoring.estimators import beta_interval

    mean, low, high = beta_interval(inp.alpha, inp.beta, level)
    evidence = inp.alpha + inp.beta - inp.alpha0 - inp.beta0
    return {
        "models": list(inp.names),
        "level": level,
        "mean": mean.tolist(),
        "low": low.tolist(),
        "high": high.tolist(),
        "evidence": evidence.tolist(),
        "decisions": inp.counts().sum(axis=1).astype(int).tolist(),
    }
