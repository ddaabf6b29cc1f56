"""Traffic, cost and observed accuracy per app tag value (``task=code``, ``tenant=acme``).

A decision's tags are the ``key=value`` strings the app sent with ``POST /route`` (the
``tags`` of ``ra_decision.context``). Each tag value gets its requests, their cost, each
model's share of them and the observed accuracy of the ones that got feedback (the report's
per-decision reward: a label, a score, or a de-noised thumb).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from feedback.monitoring.analysis import Inputs

#: Tag values listed per tag name, most requested first; the rest are summed up.
MAX_VALUES = 12


def _stats(inp: Inputs, r: np.ndarray, rows: np.ndarray) -> dict[str, Any]:
    """Requests, cost, feedback and observed accuracy of ``rows``, overall and per model."""
    c, m = inp.cols, len(inp.names)
    arm = c.arm[rows]
    has_r = np.isfinite(r[rows])
    n = np.bincount(arm, minlength=m)
    cost = np.bincount(arm, weights=c.cost[rows], minlength=m)
    fb = np.bincount(arm[has_r], minlength=m)
    hits = np.bincount(arm[has_r], weights=r[rows][has_r], minlength=m)
    models: dict[str, dict[str, Any]] = {
        inp.names[j]: {
            "requests": int(n[j]),
            "share": float(n[j] / rows.size),
            "cost": float(cost[j]),
            "feedback": int(fb[j]),
            "accuracy": float(hits[j] / fb[j]) if fb[j] else None,
        }
        for j in np.flatnonzero(n).tolist()
    }
    return {
        "requests": int(rows.size),
        "cost": float(cost.sum()),
        "feedback": int(has_r.sum()),
        "accuracy": float(r[rows][has_r].mean()) if has_r.any() else None,
        "models": dict(sorted(models.items(), key=lambda kv: -kv[1]["requests"])),
    }


def tag_section(
    inp: Inputs,
    r: np.ndarray,
    tagged: Sequence[tuple[int, Sequence[str]]],
    *,
    max_values: int = MAX_VALUES,
) -> dict[str, Any]:
    """Per tag name, its values' statistics (see :func:`_stats`), most requested first.

    ``tagged`` holds (decision position, its tags) pairs; decisions on a model no longer in
    the pool are left out, as in the savings. Values past ``max_values`` per name are folded
    into ``other`` (how many values, how many requests).
    """
    positions: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    seen = 0
    for pos, tags in tagged:
        if not inp.valid[pos]:
            continue
        seen += 1
        for tag in tags:
            key, _, value = tag.partition("=")
            positions[key][value].append(pos)
    keys: dict[str, Any] = {}
    for key in sorted(positions):
        ranked = sorted(positions[key].items(), key=lambda kv: (-len(kv[1]), kv[0]))
        shown, rest = ranked[:max_values], ranked[max_values:]
        keys[key] = {
            "values": {v: _stats(inp, r, np.array(rows, dtype=np.int64)) for v, rows in shown},
            "other": {"values": len(rest), "requests": sum(len(rows) for _, rows in rest)},
        }
    return {"decisions_with_tags": seen, "keys": keys}
