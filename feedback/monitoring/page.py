"""``render_page(report)``: the monitoring report as one self-contained HTML page.

Plots are inline PNGs (matplotlib's Agg canvas, imported inside the functions); the page style
and figure markup are the simulator report's. Every string from the data is escaped.
"""

from __future__ import annotations

import html
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from simulator.plots import DPI, colours_for, figure_html, finite, fmt_rate, fmt_usd
from simulator.report import page

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_EXTRA_STYLE = (
    "<style>.cards{display:flex;flex-wrap:wrap;gap:.6rem;margin:.8rem 0}"
    ".card{border:1px solid #ccd;border-radius:6px;padding:.45rem .8rem;min-width:9rem}"
    ".card b{display:block;font-size:1.15rem}.card span{font-size:.8rem;color:#555}</style>"
)

# Marks the body with how many plots the browser decoded (a check for headless tests).
_DECODED_SCRIPT = (
    "<script>addEventListener('load',function(){var i=[].slice.call(document.images);"
    "document.body.setAttribute('data-images-decoded',i.filter(function(x){"
    "return x.complete&&x.naturalWidth>0}).length+'/'+i.length)})</script>"
)


def _fig(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _label(name: object) -> str:
    """Data text made safe for matplotlib: no control characters, ``$`` not starting mathtext.

    >>> print(_label("a$b\\x9f"))
    a\\$b?
    """
    text = "".join(ch if ch.isprintable() else "?" for ch in str(name))
    return text.replace("$", r"\$")


def _nums(values: Sequence[Any]) -> list[float]:
    return [math.nan if v is None else float(v) for v in values]


def _interval(est: Mapping[str, Any] | None) -> str:
    if not est or finite(est.get("value")) is None:
        return "—"
    return f"{est['value']:.3f} [{fmt_rate(est.get('low'))}, {fmt_rate(est.get('high'))}]"


def regret_figure(regret: Mapping[str, Any]) -> Figure | None:
    curve, rolling = regret["curve"], regret["rolling"]
    if not curve["t"]:
        return None
    fig = _fig(8.0, 3.2)
    left, right = fig.subplots(1, 2)
    for ax, data, title in (
        (left, curve, "cumulative estimated regret"),
        (right, rolling, f"rolling mean per decision (window {rolling['window']:,})"),
    ):
        ax.plot(_nums(data["t"]), _nums(data["at_decision"]), lw=1.6, label="at decision time")
        ax.plot(_nums(data["t"]), _nums(data["today"]), lw=1.6, ls="--", label="today's posterior")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("decisions", fontsize=9)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
    left.legend(fontsize=8, frameon=False)
    return fig


def traffic_figure(traffic: Mapping[str, Any]) -> Figure | None:
    over = traffic["over_time"]
    share = {m: _nums(v) for m, v in over["share"].items() if any(x > 0 for x in _nums(v))}
    if not share or not over["t"]:
        return None
    colours = colours_for(list(share))
    fig = _fig(8.0, 2.8)
    ax = fig.add_subplot()
    ax.stackplot(
        _nums(over["t"]),
        list(share.values()),
        labels=[_label(m) for m in share],
        colors=[colours[m] for m in share],
        linewidth=0,
    )
    ax.set_ylim(0, 1)
    ax.set_xlabel("decisions", fontsize=9)
    ax.set_ylabel("share", fontsize=9)
    ax.grid(alpha=0.3)
    fig.legend(loc="outside right upper", fontsize=7, frameon=False)
    return fig


def off_policy_figure(off: Mapping[str, Any]) -> Figure | None:
    rows = [
        (f"{name} · {method}", est)
        for name, ests in off["policies"].items()
        for method, est in ests.items()
        if isinstance(est, Mapping)
        and finite(est.get("value")) is not None
        and finite(est.get("low")) is not None
    ]
    if not rows:
        return None
    fig = _fig(8.0, 0.6 + 0.28 * len(rows))
    ax = fig.add_subplot()
    for i, (_, est) in enumerate(rows):
        ax.errorbar(
            [est["value"]],
            [i],
            xerr=[[est["value"] - est["low"]], [est["high"] - est["value"]]],
            fmt="o",
            ms=4,
            capsize=3,
            color="tab:blue",
        )
    ax.set_yticks(range(len(rows)), [_label(r[0]) for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("estimated accuracy (95% interval)", fontsize=9)
    ax.grid(alpha=0.3, axis="x")
    return fig


def posterior_figure(post: Mapping[str, Any]) -> Figure | None:
    mean = post["mean"]
    if not mean:
        return None
    fig = _fig(8.0, 0.9 + 0.3 * len(mean))
    ax = fig.add_subplot()
    im = ax.imshow(mean, aspect="auto", cmap="viridis", vmin=0, vmax=1)
    names = [_label(m) for m in post["models"]]
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=7)
    ax.set_ylabel("cluster", fontsize=9)
    fig.colorbar(im, ax=ax, label="posterior mean accuracy")
    return fig


def _table(heads: Sequence[str], rows: Sequence[Sequence[str]], ident: str = "") -> str:
    e = html.escape
    head = "".join(f"<th>{e(h)}</th>" for h in heads)
    body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in rows)
    attr = f' id="{e(ident)}"' if ident else ""
    table = f"<table{attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return f'<div style="overflow-x:auto">{table}</div>'


def key_figures(report: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(id, label, value) of the figures shown at the top of the page."""
    reg, sav, fb = report["regret"], report["savings"], report["feedback"]
    given = sav["accuracy_given_up"]
    return [
        ("decisions", "decisions", f"{report['decisions']['total']:,}"),
        ("feedback-rate", "feedback rate", fmt_rate(fb.get("rate"))),
        ("regret-today", "est. regret / decision (today)", fmt_rate(reg["today"]["per_decision"])),
        (
            "regret-at",
            "est. regret / decision (at decision)",
            fmt_rate(reg["at_decision"]["per_decision"]),
        ),
        ("saved", f"saved vs always {sav['reference_model']}", fmt_usd(sav["saved"])),
        (
            "given-up",
            f"accuracy given up ({'DR' if given.get('dr') else 'posterior'})",
            _interval(given.get("dr") or given["model"]),
        ),
        ("drift", "drift alarms", str(len(report["drift"]["alarms"]))),
    ]


def render_page(report: Mapping[str, Any]) -> str:
    """The whole page; plots without data are left out. A model name with characters the
    plot font lacks still renders (as empty boxes), without a warning."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r"Glyph \d+ .*missing from font", UserWarning)
        return _render(report)


def _render(report: Mapping[str, Any]) -> str:
    e = html.escape
    cards = "".join(
        f'<div class="card" id="kf-{i}"><span>{e(label)}</span><b>{e(value)}</b></div>'
        for i, label, value in key_figures(report)
    )
    body = [_EXTRA_STYLE, f'<div class="cards">{cards}</div>']

    def add(fig: Figure | None, alt: str, caption: str) -> None:
        if fig is not None:
            body.append(figure_html(fig, alt, caption))

    body.append("<h2>Estimated regret</h2>")
    add(
        regret_figure(report["regret"]),
        "Line charts of estimated regret over decisions.",
        "Left: cumulative estimated regret. Right: its rolling mean per decision; it should fall "
        "as the router learns. Solid: scored when decided; dashed: re-scored with today's "
        "posterior.",
    )
    today = report["regret"]["today"]
    body.append(
        f'<p class="note">Total re-scored today {fmt_rate(today["total"])} '
        f"(95% credible {fmt_rate(today['low'])} – {fmt_rate(today['high'])}).</p>"
    )
    body.append("<h2>Policy values (off-policy estimates)</h2>")
    off = report["off_policy"]
    rows = []
    for name, ests in off["policies"].items():
        rows.append(
            [
                name,
                *(_interval(ests.get(m)) for m in ("ips", "snips", "dr", "observed")),
                fmt_rate(ests.get("model")),
                fmt_usd(ests.get("cost")),
            ]
        )
    heads = ["policy", "IPS", "SNIPS", "DR", "observed", "posterior", "cost / request"]
    body.append(_table(heads, rows, "off-policy"))
    body.append(f'<p class="note">{off["n"]:,} decisions with feedback and a propensity.</p>')
    add(
        off_policy_figure(off),
        "Interval plot of each policy's estimated accuracy.",
        "Estimated accuracy of each policy with 95% intervals.",
    )
    sav = report["savings"]
    body.append("<h2>Savings</h2>")
    body.append(
        _table(
            [
                "spent",
                f"always {sav['reference_model']}",
                "saved",
                "saved share",
                "accuracy given up (posterior)",
                "accuracy given up (DR)",
            ],
            [
                [
                    fmt_usd(sav["cost_spent"]),
                    fmt_usd(sav["cost_reference"]),
                    fmt_usd(sav["saved"]),
                    fmt_rate(sav["saved_share"]),
                    _interval(sav["accuracy_given_up"]["model"]),
                    _interval(sav["accuracy_given_up"].get("dr")),
                ]
            ],
            "savings",
        )
    )
    traffic = report["traffic"]
    body.append("<h2>Traffic share</h2>")
    body.append(
        _table(
            ["model", "decisions", "share"],
            [[m, f"{n:,}", fmt_rate(traffic["share"][m])] for m, n in traffic["counts"].items()],
            "traffic",
        )
    )
    add(
        traffic_figure(traffic),
        "Stacked area chart of each model's traffic share over time.",
        "Share of decisions per model over time.",
    )
    post = report["posterior"]
    body.append("<h2>Posterior per cluster</h2>")
    add(
        posterior_figure(post),
        "Heat map of posterior mean accuracy per cluster and model.",
        "Posterior mean accuracy per (cluster, model) cell.",
    )
    prow = [
        [
            str(k),
            f"{post['decisions'][k]:,}",
            *(
                f"{m:.2f} [{lo:.2f}, {hi:.2f}]"
                for m, lo, hi in zip(post["mean"][k], post["low"][k], post["high"][k], strict=True)
            ),
        ]
        for k in range(len(post["mean"]))
    ]
    body.append(_table(["cluster", "decisions", *post["models"]], prow, "posterior"))
    fb = report["feedback"]
    body.append("<h2>Feedback</h2>")
    body.append(
        _table(
            ["kind", "count", "mean value"],
            [[k, f"{v['count']:,}", fmt_rate(v["mean"])] for k, v in fb["by_kind"].items()],
            "feedback",
        )
    )
    body.append("<h2>Drift alarms</h2>")
    alarms = report["drift"]["alarms"]
    body.append(
        _table(
            ["model", "fired at (unix time)", "feedback #"],
            [[a["model"], f"{a['at']:.0f}", str(a["feedback_index"])] for a in alarms],
            "drift",
        )
        if alarms
        else "<p>None.</p>"
    )
    body.append(f'<p class="note">{e(report["drift"]["detector"])}.</p>')
    body.append("<h2>How these numbers are estimated</h2><ul>")
    body += [f"<li>{e(n)}</li>" for n in report["notes"]]
    body.append("</ul>")
    body.append(_DECODED_SCRIPT)
    title = f"routing-agent monitoring: {report['decisions']['total']:,} decisions"
    return page(title, "\n".join(body))
