"""The figures a report leads with (DESIGN.md, "The headline measures"), each over seeds:

- utility per 1,000 requests against the best single model in hindsight
  (``−regret_best_fixed / T × 1000``), and against the cluster and prompt oracles;
- the share of static's gap to the prompt oracle a policy closes,
  ``1 − regret_prompt(policy) / regret_prompt(static)``, static replayed on the same seeds;
- **learning**: a policy minus its frozen twin (the same policy, seeds and stream, feedback off),
  paired seed by seed.

Spreads are mean ± standard error (sample sd / √seeds). Utility is
``u[t, m] = correct − λ·cost/c_max``, as everywhere else (:mod:`simulator.metrics`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from agent.report_kit import finite
from simulator.metrics import best_fixed
from simulator.sequential import Trace

PER = 1000
#: The policy whose gap to the prompt oracle the others' ``gap_closed`` is a share of.
GAP_REFERENCE = "static"
#: A frozen twin's row is its policy's name with this suffix.
FROZEN = " (frozen)"
#: The regrets a report keeps (:func:`simulator.metrics.regret_curves`), by the key of the
#: utility per 1,000 requests each becomes.
REGRETS = {
    "best_fixed": "per_1000_vs_best",
    "cluster_oracle": "per_1000_vs_cluster_oracle",
    "prompt_oracle": "per_1000_vs_prompt_oracle",
}


def frozen_name(name: str) -> str:
    """The row of ``name``'s frozen twin.

    >>> frozen_name("default")
    'default (frozen)'
    """
    return name + FROZEN


def spread(values: Sequence[float]) -> dict[str, Any]:
    """Mean and standard error (sample sd / √n; None for a single value) of per-seed values.

    >>> spread([1.0, 3.0])
    {'mean': 2.0, 'se': 1.0, 'by_seed': [1.0, 3.0]}
    >>> spread([4.0])["se"] is None
    True
    """
    v = np.asarray(values, dtype=np.float64)
    se = float(v.std(ddof=1) / np.sqrt(v.size)) if v.size >= 2 else None
    return {"mean": float(v.mean()), "se": se, "by_seed": v.tolist()}


def per_1000(regret: float, steps: int) -> float:
    """A cumulative regret over ``steps`` requests as utility per 1,000 requests above the
    reference (positive: the policy earned more).

    >>> per_1000(-5.0, 500)
    10.0
    """
    return -regret / steps * PER if steps else float("nan")


def over_best_model(trace: Trace) -> float:
    """One replay's utility per 1,000 requests above always using its best single model."""
    u = trace.utility()
    got = u[np.arange(trace.steps), trace.chosen].sum()
    return per_1000(float(u[:, best_fixed(trace)].sum() - got), trace.steps)


def versus(regrets: Mapping[str, Sequence[float]], steps: Sequence[int]) -> dict[str, Any]:
    """Each of :data:`REGRETS`, given per seed with the seeds' ``steps``, as utility per 1,000
    requests above its reference, mean ± SE.

    >>> versus({"best_fixed": [-2.0, -4.0]}, [200, 200])["per_1000_vs_best"]["mean"]
    15.0
    """
    return {
        REGRETS[ref]: spread([per_1000(r, n) for r, n in zip(values, steps, strict=True)])
        for ref, values in regrets.items()
    }


def against_best_model(traces: Sequence[Trace]) -> dict[str, float | None]:
    """What a policy's choices cost and scored against always using each seed's best single
    model in hindsight: ``cost_saved`` (1 − the mean of the per-seed cost ratios; negative:
    it cost more) and ``accuracy_points`` (100 × the mean accuracy difference)."""
    ratios, points = [], []
    for tr in traces:
        rows, j = np.arange(tr.steps), best_fixed(tr)
        cost, ref = tr.costs[rows, tr.chosen].mean(), tr.costs[:, j].mean()
        ratios.append(cost / ref if ref > 0 else np.nan)
        points.append(100.0 * (tr.outcomes[rows, tr.chosen].mean() - tr.outcomes[:, j].mean()))
    saved = 1.0 - float(np.mean(ratios))
    return {
        "cost_saved": saved if np.isfinite(saved) else None,
        "accuracy_points": float(np.mean(points)),
    }


def best_model(traces: Sequence[Trace]) -> dict[str, Any]:
    """The best single model in hindsight on each seed's stream (the same for every policy:
    the stream depends on the seed alone), the most frequent ``name`` first, with its mean
    accuracy and cost over the seeds."""
    picks = [(tr, best_fixed(tr)) for tr in traces]
    names = [tr.models[j] for tr, j in picks]
    return {
        "name": Counter(names).most_common(1)[0][0],
        "by_seed": names,
        "accuracy": float(np.mean([tr.outcomes[:, j].mean() for tr, j in picks])),
        "mean_cost_usd": float(np.mean([tr.costs[:, j].mean() for tr, j in picks])),
    }


def gap_closed(regrets: Sequence[float], reference: Sequence[float]) -> float | None:
    """``1 − mean(regrets) / mean(reference)`` over the seeds both have: prompt-oracle regrets
    of a policy and of static on the same seeds. A ratio of seed means, not a mean of per-seed
    ratios: a seed where static's gap is small would swing its own ratio far. None when
    static has no gap.

    >>> gap_closed([50.0, 100.0], [100.0, 100.0])
    0.25
    """
    n = min(len(regrets), len(reference))
    den = float(np.mean(reference[:n])) if n else 0.0
    return 1.0 - float(np.mean(regrets[:n])) / den if den > 0 else None


def learning(policy: Sequence[float], frozen: Sequence[float]) -> dict[str, Any]:
    """The paired per-seed difference ``policy − frozen`` of utility per 1,000, mean ± SE.

    >>> learning([12.0, 8.0], [10.0, 10.0])
    {'mean': 0.0, 'se': 2.0, 'by_seed': [2.0, -2.0]}
    """
    n = min(len(policy), len(frozen))
    return spread(np.subtract(policy[:n], frozen[:n]).tolist())


def relate(policies: Mapping[str, dict[str, Any]], reference: Sequence[float] | None) -> None:
    """Fill in each aggregated policy's figures against the others, in place: ``gap_closed``
    against ``reference`` (static's prompt-oracle regret per seed), and ``learning`` where the
    policy's frozen twin was replayed."""
    for name, p in policies.items():
        if reference is not None:
            p["gap_closed"] = gap_closed(p["regret_by_seed"]["prompt_oracle"], reference)
        twin = policies.get(frozen_name(name))
        if twin is not None:
            by_seed = p["per_1000_vs_best"]["by_seed"]
            p["learning"] = learning(by_seed, twin["per_1000_vs_best"]["by_seed"])


def c_max_of(report: Mapping[str, Any]) -> float | None:
    """The cost unit: ``report["c_max"]``, else the largest mean model cost."""
    c = finite(report.get("c_max"))
    if c is None or c <= 0:
        costs = [finite(m.get("mean_cost_usd")) for m in report.get("models") or []]
        c = max((x for x in costs if x is not None), default=None)
    return c if c else None
