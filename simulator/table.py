"""The plain-text comparison table ``routing-agent simulate`` prints."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from typing import Any

from agent.report_kit import fmt_per_1000, fmt_share, fmt_usd


def format_table(report: dict[str, Any]) -> str:
    """One row per policy: accuracy, cost per request and utility per 1,000 requests against
    the best single model, the same policy frozen (``--frozen``) and the two hindsight oracles,
    each mean ± SE over seeds; the share of static's gap to the prompt oracle closed; then a
    legend saying what each column means.

    >>> row = {"mean_accuracy": 0.8, "mean_cost_usd": 0.001, "gap_closed": 0.25,
    ...        "per_1000_vs_best": {"mean": 26.0, "se": 4.0},
    ...        "per_1000_vs_cluster_oracle": {"mean": -12.0, "se": 3.0},
    ...        "per_1000_vs_prompt_oracle": {"mean": -150.0, "se": 9.0}}
    >>> frozen = dict(row, per_1000_vs_best={"mean": 22.0, "se": 4.0})
    >>> print(format_table({"dataset": "d", "lambda": 0.1, "steps": 10, "seeds": 2,
    ...     "clusters": 2, "best_model": {"name": "gpt-4"}, "policies": {
    ...     "greedy": dict(row, learning={"mean": 4.0, "se": 4.0}),
    ...     "greedy (frozen)": frozen}}))
    d: λ=0.1, 10 requests × 2 seeds, K=2
                                     utility per 1,000 requests, mean ± SE over 2 seeds
                                        vs best                  vs best     vs best     gap
    policy            acc  cost/req       model    learning  per cluster  per prompt  closed
    greedy          0.800  $0.00100     +26 ± 4  +4.0 ± 4.0      -12 ± 3    -150 ± 9     25%
    greedy (frozen) 0.800  $0.00100     +22 ± 4                  -12 ± 3    -150 ± 9     25%
    <BLANKLINE>
    utility: 1 per correct answer, less λ × cost in units of the dearest model's mean cost
      vs best model        above always using gpt-4, the best single model in hindsight
      learning             what feedback added: the policy minus itself frozen, paired by seed
      vs best per cluster  above the best model of each prompt cluster in hindsight (diagnostic)
      vs best per prompt   above the best model for each prompt in hindsight (the limit)
      gap closed           share of static's gap to the best model per prompt that it closes
    """
    pols = report["policies"]
    w = max(len("policy"), *(len(name) for name in pols))
    head = (
        f"{report['dataset']}: λ={report['lambda']}, {report['steps']:,} requests × "
        f"{report['seeds']} seeds, K={report['clusters']}"
    )
    n = report["seeds"]
    group = "utility per 1,000 requests, " + (
        f"mean ± SE over {n} seeds" if n > 1 else "one seed (no SE)"
    )
    top = " " * (w + 16) + "".join(f"  {t:>{width}}" for _, t, _, width in COLUMNS)
    heads = f"{'policy':<{w}} {'acc':>5} {'cost/req':>9}"
    heads += "".join(f"  {b:>{width}}" for _, _, b, width in COLUMNS)
    lines = [head, " " * (w + 18) + group, top.rstrip(), heads]
    for name, r in pols.items():
        entries = [(_cell(r, key), width) for key, _, _, width in COLUMNS]
        lines.append(
            f"{name:<{w}} {r['mean_accuracy']:5.3f} {fmt_usd(r['mean_cost_usd']):>9}"
            + "".join(f"  {c:>{width}}" for c, width in entries)
        )
    lines += ["", *legend(report)]
    if report.get("protocol"):
        lines += ["", *protocol_lines(report["protocol"])]
    return "\n".join(lines)


#: The width the table's legend (and the verdict above it) is wrapped to.
WIDTH = 100
#: The table's figure columns: (report key, header's two lines, width).
COLUMNS = (
    ("per_1000_vs_best", "vs best", "model", 10),
    ("learning", "", "learning", 10),
    ("per_1000_vs_cluster_oracle", "vs best", "per cluster", 11),
    ("per_1000_vs_prompt_oracle", "vs best", "per prompt", 10),
    ("gap_closed", "gap", "closed", 6),
)


def _cell(row: dict[str, Any], key: str) -> str:
    value = row.get(key)
    if key == "gap_closed":
        return fmt_share(value)
    return fmt_per_1000(value["mean"], value.get("se")) if isinstance(value, dict) else ""


def legend(report: dict[str, Any]) -> list[str]:
    """What each column of :func:`format_table` means, one entry each, wrapped at
    :data:`WIDTH`."""
    frozen = any("learning" in p for p in report["policies"].values())
    entries = {
        "vs best model": f"above {best_model_text(report.get('best_model') or {})}",
        "learning": "what feedback added: the policy minus itself frozen, paired by seed"
        if frozen
        else "--frozen adds it: the policy minus itself with feedback off",
        "vs best per cluster": "above the best model of each prompt cluster in hindsight "
        "(diagnostic)",
        "vs best per prompt": "above the best model for each prompt in hindsight (the limit)",
        "gap closed": "share of static's gap to the best model per prompt that it closes",
    }
    lines = [
        "utility: 1 per correct answer, less λ × cost in units of the dearest model's mean cost"
    ]
    for column, text in entries.items():
        head = f"  {column:<21}"
        indent = " " * len(head)
        lines += textwrap.wrap(
            text, WIDTH, initial_indent=head, subsequent_indent=indent, break_on_hyphens=False
        )
    return lines


def best_model_text(best: Mapping[str, Any]) -> str:
    """Always using the best single model in hindsight, named, and on how many seeds it was.

    >>> best_model_text({"name": "gpt-4", "by_seed": ["gpt-4", "gpt-4"]})
    'always using gpt-4, the best single model in hindsight'
    >>> best_model_text({"name": "gpt-4", "by_seed": ["gpt-4", "gpt-4", "yi-34b"]})
    "always using each seed's best single model in hindsight (gpt-4 on 2 of 3)"
    """
    name, seeds = best.get("name"), best.get("by_seed") or []
    if name is None:
        return "always using the best single model in hindsight"
    if seeds.count(name) == len(seeds):
        return f"always using {name}, the best single model in hindsight"
    return (
        f"always using each seed's best single model in hindsight ({name} on "
        f"{seeds.count(name)} of {len(seeds)})"
    )


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
    if protocol.get("label_budget"):
        parts.append(
            f"every model's outcome revealed on {protocol['label_budget']} sampled prompts"
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
