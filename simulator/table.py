"""The plain-text comparison table ``routing-agent simulate`` prints."""

from __future__ import annotations

from typing import Any


def format_table(report: dict[str, Any]) -> str:
    """One row per policy: accuracy, cost, utility and the three cumulative regrets.

    >>> row = {"mean_accuracy": 0.8, "mean_cost_usd": 0.001, "mean_utility": 0.7,
    ...        "regret": {"best_fixed": -5.0, "cluster_oracle": 10.0, "prompt_oracle": 50.0},
    ...        "regret_std": {"best_fixed": 1.0, "cluster_oracle": 2.0, "prompt_oracle": 3.0}}
    >>> print(format_table({"dataset": "d", "lambda": 0.1, "steps": 10, "seeds": 1,
    ...                     "clusters": 2, "policies": {"static": row, "best-fixed": row}}))
    ... # doctest: +ELLIPSIS
    d: λ=0.1, 10 steps × 1 seeds, K=2 ...
    policy       acc   cost/req    util vs best fixed vs cluster orc  vs prompt orc
    static     0.800  $0.001000   0.700        -5 ± 1         10 ± 2         50 ± 3
    best-fixed 0.800  $0.001000   0.700        -5 ± 1         10 ± 2         50 ± 3
    """
    head = (
        f"{report['dataset']}: λ={report['lambda']}, {report['steps']} steps × "
        f"{report['seeds']} seeds, K={report['clusters']} (regret: cumulative at T, mean ± sd)"
    )
    w = max(9, *(len(name) for name in report["policies"]))
    cols = f"{'policy':<{w}} {'acc':>5} {'cost/req':>10} {'util':>7} {'vs best fixed':>13}"
    cols += f" {'vs cluster orc':>14} {'vs prompt orc':>14}"
    lines = [head, cols]
    for name, r in report["policies"].items():
        reg, sd = r["regret"], r["regret_std"]
        cells = [
            f"{reg[k]:.0f} ± {sd[k]:.0f}" for k in ("best_fixed", "cluster_oracle", "prompt_oracle")
        ]
        lines.append(
            f"{name:<{w}} {r['mean_accuracy']:5.3f} {'$' + format(r['mean_cost_usd'], '.6f'):>10} "
            f"{r['mean_utility']:7.3f} {cells[0]:>13} {cells[1]:>14} {cells[2]:>14}"
        )
    if report.get("protocol"):
        lines += ["", *protocol_lines(report["protocol"])]
    return "\n".join(lines)


#: Above this share of repeated requests, a replay's regrets mostly measure prompt memory.
MEMORY_SHARE = 0.2


def protocol_lines(protocol: dict[str, Any]) -> list[str]:
    """What the stream was, and how far its figures are about prompts seen before.

    >>> for line in protocol_lines({"fresh": False, "repeat_share": 0.93, "val_size": 20}):
    ...     print(line)  # doctest: +ELLIPSIS
    protocol: profiles from 20 labelled prompts
    93% of requests repeat an earlier prompt: these regrets mostly measure prompt memory; ...
    """
    parts, lines = [], []
    split = protocol.get("split")
    if split == "column":
        lines.append("split: prompts divided by the log's split column (fit, val, pool)")
    elif split:
        shares = "/".join(f"{100 * x:.3g}" for x in split)
        lines.append(
            f"split: {shares}% of prompts (cluster fit / labelled validation / replay pool)"
        )
    if protocol.get("fresh"):
        parts.append("fresh prompts (each streamed once)")
    if protocol.get("val_size"):
        parts.append(f"profiles from {protocol['val_size']} labelled prompts")
    if protocol.get("shift"):
        share = protocol.get("shift_share", 1.0)
        extra = f", {share:.0%} of the stream" if share < 1.0 else ""
        parts.append(f"traffic shifted to {', '.join(protocol['shift'])}{extra}")
    if protocol.get("tag_column"):
        parts.append(f"tags from column {protocol['tag_column']!r}")
    if protocol.get("label_budget"):
        parts.append(
            f"every model's outcome revealed on {protocol['label_budget']} nominated prompts"
            + (" (by value)" if protocol.get("label_pick") == "value" else "")
        )
    lines += [f"protocol: {'; '.join(parts)}"] if parts else []
    share = protocol.get("repeat_share")
    if share is not None:
        line = f"{share:.0%} of requests repeat an earlier prompt"
        if share > MEMORY_SHARE:
            line += (
                ": these regrets mostly measure prompt memory; --fresh measures prompts never "
                "seen before"
            )
        lines.append(line)
    return lines
