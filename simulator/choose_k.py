"""Pick the number of clusters K the way UniRoute does: by the area under the deferral curve.

For each candidate K, K-means is fit on the fit share, the models are profiled on one half of
the validation share, and static UniRoute routes the other half over a sweep of λ; the K whose
deferral curve has the largest area (AUDC) wins. Only labelled validation prompts are scored,
never the replay pool.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from agent.clusters import ClusterMap
from agent.logs import ReplayLog
from policies import build_profiles, prior_counts, utility
from simulator.metrics import audc
from simulator.protocol import Splits

LAMBDAS = (0.0, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 2.0, 5.0, 20.0)


def static_curve(
    log: ReplayLog, clusters: np.ndarray, profile_rows: np.ndarray, eval_rows: np.ndarray, k: int
) -> tuple[list[float], list[float]]:
    """(relative cost, accuracy) of static UniRoute on ``eval_rows`` for each λ in LAMBDAS."""
    profiles = build_profiles(
        log.models,
        clusters[profile_rows],
        log.correct[profile_rows],
        log.cost[profile_rows],
        k=k,
    )
    priors = [prior_counts(p) for p in profiles]
    acc = np.column_stack([a / (a + b) for a, b in priors])  # (K, M) shrunk accuracy
    price = np.array([p.cost for p in profiles])
    c_max = float(log.mean_cost.max())
    est = acc[clusters[eval_rows]]  # (n, M)
    costs, accs = [], []
    for lam in LAMBDAS:
        choice = np.argmax(utility(est, price, lam, c_max), axis=1)
        costs.append(float(log.cost[eval_rows, choice].mean() / c_max))
        accs.append(float(log.correct[eval_rows, choice].mean()))
    return costs, accs


def choose_k(
    log: ReplayLog,
    embeddings: np.ndarray,
    *,
    candidates: Sequence[int] = (4, 8, 16, 32, 64),
    seed: int = 0,
    splits: Splits | None = None,
    rows: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[int, dict[int, float]]:
    """The K with the largest validation AUDC, and the AUDC of every candidate.

    ``rows`` are the (fit, validation) prompts to use instead of a random split (for example
    the in-domain prompts of a shifted protocol, or the log's own split).

    >>> from agent.embedder import HashingEmbedder
    >>> from agent.synthetic_log import generate_log
    >>> log = generate_log(n_prompts=600, n_models=4, seed=0)
    >>> k, areas = choose_k(log, HashingEmbedder(dim=64).encode(log.prompts), candidates=(2, 8))
    >>> k in (2, 8) and set(areas) == {2, 8}
    True
    """
    if rows is None:
        fit_idx, val_idx, _ = (splits or Splits()).draw(log.n_prompts, np.random.default_rng(seed))
    else:
        fit_idx, val_idx = rows
    half = val_idx.size // 2
    if half < 2:
        raise ValueError("too few validation prompts to choose K")
    profile_rows, eval_rows = val_idx[:half], val_idx[half:]
    areas: dict[int, float] = {}
    for k in candidates:
        if k > fit_idx.size:
            continue
        cmap = ClusterMap(k, seed=seed).fit(embeddings[fit_idx])
        clusters = cmap.assign(embeddings)
        areas[k] = audc(*static_curve(log, clusters, profile_rows, eval_rows, k))
    if not areas:
        raise ValueError(f"every candidate K exceeds the {fit_idx.size} prompts fitted on")
    return max(areas, key=lambda k: areas[k]), areas
