"""HTML pieces of the monitoring page: tables, the savings and policy-value sections, and the
per-tag tables. Every string from the data is escaped here; numbers carry their direction in
words ("57% less", "2.1 points gained"), never as a bare minus sign."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from agent.report_kit import DASH, finite, fmt_rate, fmt_usd
from feedback.monitoring.verdict import WHY_FALLBACK, WHY_HEADLINE, headline_estimate, percent_text

e = html.escape

#: Why the estimators disagree, shown with the ones folded away.
WHY_DISAGREE = (
    "IPS reweights each logged outcome by how much likelier the evaluated policy was to make "
    "that choice than the router was; a few decisions with small propensities dominate it, so "
    "its interval is wide and it can leave [0, 1]. SNIPS divides by the mean weight: steadier, "
    "slightly biased. The posterior column is the model's own prediction, with no correction "
    "from outcomes: it is off wherever the profiles are. DR is the posterior corrected by "
    "IPS on its error. They disagree most with little feedback, with propensities near 0 "
    "(the policy picks models the router seldom chose), or with a posterior that is wrong."
)


def table(
    heads: Sequence[str], rows: Sequence[Sequence[str]], ident: str = "", caption: str = ""
) -> str:
    """A plain table; its entries wrap, so it fits its container at any width."""
    head = "".join(f"<th>{e(h)}</th>" for h in heads)
    body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in rows)
    attr = f' id="{e(ident)}"' if ident else ""
    cap = f"<caption>{e(caption)}</caption>" if caption else ""
    return f"<table{attr}>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def utc(t: Any) -> str:
    v = finite(t)
    return DASH if v is None else datetime.fromtimestamp(v, UTC).strftime("%Y-%m-%d %H:%M:%S")


def interval(est: Mapping[str, Any] | None) -> str:
    if not est or finite(est.get("value")) is None:
        return DASH
    return f"{est['value']:.3f} [{fmt_rate(est.get('low'))}, {fmt_rate(est.get('high'))}]"


def money_words(saved: Any, share: Any) -> str:
    """A cost difference as a positive amount with its direction.

    >>> money_words(0.849, 0.567), money_words(-0.531, -0.35), money_words(0.0, 0.0)
    ('$0.849 saved (57% less)', '$0.531 extra (35% more)', 'no difference')
    """
    v, s = finite(saved), finite(share)
    if v is None:
        return DASH
    if v == 0:
        return "no difference"
    pct = "" if s is None else f" ({percent_text(abs(s))} {'less' if v > 0 else 'more'})"
    return f"{fmt_usd(abs(v))} {'saved' if v > 0 else 'extra'}{pct}"


def points_words(est: Mapping[str, Any] | None) -> str:
    """Accuracy given up as positive points with direction, with its interval.

    >>> points_words({"value": 0.131, "low": -0.009, "high": 0.272, "level": 0.95})
    '13.1 points lost (95%: -0.9 to 27.2)'
    >>> points_words({"value": -0.112, "low": -0.2, "high": -0.02, "level": 0.95})
    '11.2 points gained (95%: 2.0 to 20.0)'
    """
    if not est or finite(est.get("value")) is None:
        return DASH
    v, lo, hi = 100 * est["value"], finite(est.get("low")), finite(est.get("high"))
    text = f"{abs(v):.1f} points {'gained' if v < 0 else 'lost'}"
    if lo is None or hi is None:
        return text
    a, b = (-100 * hi, -100 * lo) if v < 0 else (100 * lo, 100 * hi)
    return text + f" ({100 * float(est.get('level') or 0.95):.0f}%: {a:.1f} to {b:.1f})"


def savings_section(report: Mapping[str, Any]) -> str:
    sav = report["savings"]
    found = headline_estimate(sav)
    name = "DR" if found and found[0] == "dr" else "posterior"
    heads = ["requests", "spent", f"always {sav['reference_model']}", "difference"]
    row = [
        f"{int(sav.get('n') or 0):,}",
        fmt_usd(sav["cost_spent"]),
        fmt_usd(sav["cost_reference"]),
        money_words(sav["saved"], sav.get("saved_share")),
    ]
    given = sav["accuracy_given_up"]
    out = [
        table(
            [*heads, f"accuracy cost ({name})"],
            [[*row, points_words(found and found[1])]],
            "savings",
        )
    ]
    out.append(f'<p class="note">{e(WHY_HEADLINE if name == "DR" else WHY_FALLBACK)}</p>')
    out.append(
        "<details><summary>The other estimate of the accuracy cost</summary>"
        + table(
            ["posterior (model-based)", "doubly robust"],
            [[points_words(given.get("model")), points_words(given.get("dr"))]],
            "savings-all",
        )
        + '<p class="note">The posterior estimate compares the posterior\'s predicted accuracy '
        "of each routed decision with that of the reference model, without looking at "
        "outcomes; the doubly robust one corrects it with the logged outcomes.</p></details>"
    )
    return "\n".join(out)


def policy_section(report: Mapping[str, Any], figure: str) -> str:
    """The headline (DR) value of each policy; IPS, SNIPS and the posterior folded away."""
    off = report["off_policy"]
    pols = off["policies"]
    main = [
        [name, interval(ests.get("dr") or ests.get("observed")), fmt_usd(ests.get("cost"))]
        for name, ests in pols.items()
    ]
    out = [
        table(["policy", "accuracy, DR (95% interval)", "cost / request"], main, "off-policy"),
        f'<p class="note">{off["n"]:,} decisions with feedback and a propensity. "logged" is '
        "the observed accuracy of the decisions actually made. "
        "Doubly robust is the headline: unbiased if either the propensities or the posterior "
        "is right, and steadier than IPS.</p>",
    ]
    rows = [
        [
            name,
            *(interval(ests.get(m)) for m in ("ips", "snips", "dr")),
            fmt_rate(ests.get("model")),
        ]
        for name, ests in pols.items()
    ]
    out.append(
        "<details><summary>IPS, SNIPS and the posterior's own estimate, and why they "
        f"disagree</summary><p>{e(WHY_DISAGREE)}</p>"
        + table(["policy", "IPS", "SNIPS", "DR", "posterior"], rows, "off-policy-all")
        + figure
        + "</details>"
    )
    return "\n".join(out)


def _tag_table(key: str, value: str, st: Mapping[str, Any]) -> str:
    acc = st.get("accuracy")
    caption = f"{key}={value}: {st['requests']:,} requests, {fmt_usd(st['cost'])}, accuracy " + (
        f"{acc:.3f} ({st['feedback']:,} with feedback)" if acc is not None else "not known yet"
    )
    rows = [
        [
            m,
            f"{s['requests']:,}",
            percent_text(s["share"]),
            fmt_usd(s["cost"]),
            DASH if s["accuracy"] is None else f"{s['accuracy']:.3f} (n={s['feedback']:,})",
        ]
        for m, s in st["models"].items()
    ]
    return table(["model", "requests", "share", "cost", "accuracy"], rows, caption=caption)


def tag_section(tags: Mapping[str, Any] | None) -> str:
    """A table per tag value (models as rows); empty when no decision has tags."""
    if not tags or not tags.get("keys"):
        return ""
    out = [
        '<h2 id="tags">Per tag</h2>',
        f'<p class="note">{tags["decisions_with_tags"]:,} decisions carry app tags. Accuracy '
        "is observed (labels, scores, de-noised thumbs) on the requests with feedback.</p>",
    ]
    for key, block in tags["keys"].items():
        out.append(f"<h3>{e(key)}</h3>")
        cards = "".join(
            f'<div class="tag-table">{_tag_table(key, value, st)}</div>'
            for value, st in block["values"].items()
        )
        out.append(f'<div class="grid">{cards}</div>')
        other = block.get("other") or {}
        if other.get("values"):
            out.append(
                f'<p class="note">{other["values"]:,} more values of {e(key)} '
                f"({other['requests']:,} requests) are not shown.</p>"
            )
    return "\n".join(out)
