"""Regret, accuracy and cost of a replay, and the deferral-curve summaries (AUDC, QNC, APGR).

Definitions follow DESIGN.md: ``u[t, m] = correct[t, m] − λ·cost[t, m]/c_max``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from simulator.sequential import Trace


def regret_curves(trace: Trace, k: int) -> dict[str, np.ndarray]:
    """Cumulative regret over t against the best fixed model, the cluster and prompt oracles.

    The oracles are in hindsight on the replayed stream: the best fixed model maximises the
    stream's total utility, the cluster oracle plays each cluster's best mean-utility model.
    """
    u = trace.utility()
    got = u[np.arange(trace.steps), trace.chosen]
    fixed = best_fixed(trace)
    sums = np.zeros((k, u.shape[1]))
    np.add.at(sums, trace.clusters, u)
    best_in_cluster = np.argmax(sums, axis=1)
    cluster = u[np.arange(trace.steps), best_in_cluster[trace.clusters]]
    return {
        "best_fixed": np.cumsum(u[:, fixed] - got),
        "cluster_oracle": np.cumsum(cluster - got),
        "prompt_oracle": np.cumsum(u.max(axis=1) - got),
    }


def best_fixed(trace: Trace) -> int:
    """The log index of the single model with the most utility over the replayed stream."""
    return int(np.argmax(trace.utility().sum(axis=0)))


def oracle_utility(trace: Trace, cells: np.ndarray) -> float:
    """Total utility, over the stream, of the hindsight oracle that plays each cell's best
    model: ``cells`` labels every step (the clusters give the cluster oracle). An oracle on a
    finer partition earns at least as much; how much more bounds what that partition's
    information (an app tag, a finer clustering) could add.

    >>> from simulator.sequential import Trace
    >>> out = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> tr = Trace("p", 0, 0.0, np.array([0, 0]), out, np.zeros((2, 2)), np.zeros(2, int),
    ...            np.zeros(2), ["a", "b"], 1.0, 2)
    >>> oracle_utility(tr, tr.clusters), oracle_utility(tr, np.array([0, 1]))
    (1.0, 2.0)
    """
    u = trace.utility()
    _, ids = np.unique(np.asarray(cells), return_inverse=True)
    sums = np.zeros((int(ids.max()) + 1 if ids.size else 0, u.shape[1]))
    np.add.at(sums, ids, u)
    return float(sums.max(axis=1).sum()) if sums.size else 0.0


def summary(trace: Trace, k: int) -> dict[str, float]:
    """Mean accuracy, cost (USD), utility and final cumulative regrets of one replay."""
    rows = np.arange(trace.steps)
    curves = regret_curves(trace, k)
    return {
        "mean_accuracy": float(trace.outcomes[rows, trace.chosen].mean()),
        "mean_cost_usd": float(trace.costs[rows, trace.chosen].mean()),
        "mean_utility": float(trace.utility()[rows, trace.chosen].mean()),
        **{f"regret_{name}": float(c[-1]) for name, c in curves.items()},
    }


def traffic_share(trace: Trace, bins: int = 20) -> np.ndarray:
    """(bins, M) share of requests each model got in consecutive windows of the stream."""
    edges = np.linspace(0, trace.steps, bins + 1).astype(int)
    m = len(trace.models)
    out = np.zeros((bins, m))
    for b in range(bins):
        window = trace.chosen[edges[b] : edges[b + 1]]
        if window.size:
            out[b] = np.bincount(window, minlength=m) / window.size
    return out


def envelope(costs: Sequence[float], accs: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """The non-decreasing envelope of a deferral curve: points sorted by cost, running max."""
    order = np.argsort(np.asarray(costs, dtype=np.float64), kind="stable")
    c = np.asarray(costs, dtype=np.float64)[order]
    a = np.maximum.accumulate(np.asarray(accs, dtype=np.float64)[order])
    return c, a


def audc(costs: Sequence[float], accs: Sequence[float]) -> float:
    """Area under the non-decreasing envelope over relative cost in [0, 1].

    The envelope is linear between points (mixing two operating points costs and scores
    the mix) and flat outside them.

    >>> audc([0.0, 1.0], [0.5, 1.0])
    0.75
    """
    c, a = envelope(costs, accs)
    grid = np.linspace(0.0, 1.0, 2001)
    y = np.interp(grid, c, a)
    return float(np.sum((y[1:] + y[:-1]) / 2 * np.diff(grid)))


def qnc(costs: Sequence[float], accs: Sequence[float], best_acc: float, best_cost: float) -> float:
    """Quality-neutral cost: the least cost, relative to the best single model's, at which the
    envelope reaches that model's accuracy (``inf`` if it never does).

    >>> qnc([0.1, 0.5, 1.0], [0.6, 0.9, 0.9], best_acc=0.9, best_cost=1.0)
    0.5
    """
    c, a = envelope(costs, accs)
    if a[-1] < best_acc:
        return float("inf")
    i = int(np.argmax(a >= best_acc))
    if i == 0:
        return float(c[0] / best_cost)
    # Linear interpolation between the last point below and the first at or above the target.
    frac = (best_acc - a[i - 1]) / (a[i] - a[i - 1])
    return float((c[i - 1] + frac * (c[i] - c[i - 1])) / best_cost)


def apgr(
    costs: Sequence[float], accs: Sequence[float], weak_acc: float, strong_acc: float
) -> float:
    """RouteLLM's average performance gap recovered, over relative cost in [0, 1]: the mean of
    ``(acc(c) − weak) / (strong − weak)`` on the envelope, weak = the cheapest model,
    strong = the most accurate single model.

    >>> apgr([0.0, 1.0], [0.5, 1.0], weak_acc=0.5, strong_acc=1.0)
    0.5
    """
    if strong_acc <= weak_acc:
        return float("nan")
    return (audc(costs, accs) - weak_acc) / (strong_acc - weak_acc)
