"""``render_page(report)``: the monitoring report as one self-contained HTML page.

The page opens with the report's verdict sentence (:mod:`~feedback.monitoring.verdict`), then
key figures, savings, regret and traffic over time, policy values, per-tag tables, the
posterior, feedback and drift. Plots are inline PNGs (:mod:`~feedback.monitoring.charts`);
the layout is responsive and tables wrap, so nothing needs a horizontal scroll bar.
"""

from __future__ import annotations

import html
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agent.figures import figure_html
from agent.report_kit import fmt_rate, html_page
from feedback.monitoring import charts
from feedback.monitoring.sections import (
    money_words,
    points_words,
    policy_section,
    savings_section,
    table,
    tag_section,
    utc,
)
from feedback.monitoring.verdict import headline_estimate, verdict_section

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_STYLE = """
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;
max-width:84rem;margin:1.5rem auto;padding:0 1.25rem}
p.verdict{font-size:1.15rem;background:#f4f7fb;border-left:4px solid #4a78b5;
padding:.7rem 1rem;margin:0 0 .5rem;max-width:62rem}
h1{font-size:.95rem;font-weight:400;color:#555;margin:0 0 .8rem}
h2{font-size:1.1rem;margin:1.6rem 0 .5rem}h3{font-size:.95rem;margin:1rem 0 .4rem}
table{border-collapse:collapse;font-size:.88rem;font-variant-numeric:tabular-nums;
max-width:100%;margin:.3rem 0}
caption{text-align:left;font-size:.85rem;color:#444;padding-bottom:.2rem}
th,td{padding:.25rem .6rem;border-bottom:1px solid #ddd;text-align:right;
overflow-wrap:anywhere}
th:first-child,td:first-child{text-align:left}thead th{border-bottom:2px solid #999}
figure{margin:1rem 0;max-width:100%}figure img{max-width:100%;height:auto}
figcaption{font-size:.85rem;color:#444;margin-top:.3rem}.note{font-size:.8rem;color:#666}
details{margin:.8rem 0;max-width:100%}summary{cursor:pointer;color:#2d5a94}
.cards{display:flex;flex-wrap:wrap;gap:.6rem;margin:.8rem 0}
.card{border:1px solid #ccd;border-radius:6px;padding:.45rem .8rem;min-width:9rem;
max-width:100%}
.card b{display:block;font-size:1.1rem}.card span{font-size:.8rem;color:#555}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,26rem),1fr));
gap:.6rem 1.5rem}
.grid table{width:100%}
#posterior{font-size:.8rem}#posterior th,#posterior td{padding:.2rem .35rem}
"""

# Marks the body with how many plots the browser decoded (a check for headless tests).
_DECODED_SCRIPT = (
    "<script>addEventListener('load',function(){var i=[].slice.call(document.images);"
    "document.body.setAttribute('data-images-decoded',i.filter(function(x){"
    "return x.complete&&x.naturalWidth>0}).length+'/'+i.length)})</script>"
)


def key_figures(report: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(id, label, value) of the figures shown under the verdict; no bare negative numbers."""
    reg, sav, fb = report["regret"], report["savings"], report["feedback"]
    found = headline_estimate(sav)
    acc_name = "DR" if found and found[0] == "dr" else "posterior"
    saved = sav.get("saved") or 0.0
    return [
        ("decisions", "decisions", f"{report['decisions']['total']:,}"),
        ("feedback-rate", "feedback rate", fmt_rate(fb.get("rate"))),
        ("regret-today", "est. regret / decision (today)", fmt_rate(reg["today"]["per_decision"])),
        (
            "regret-at",
            "est. regret / decision (at decision)",
            fmt_rate(reg["at_decision"]["per_decision"]),
        ),
        (
            "saved",
            f"{'extra cost' if saved < 0 else 'saved'} vs always {sav['reference_model']}",
            money_words(saved, sav.get("saved_share")),
        ),
        ("given-up", f"accuracy cost ({acc_name})", points_words(found and found[1])),
        ("drift", "drift alarms", str(len(report["drift"]["alarms"]))),
    ]


def upstreams_text(health: Mapping[str, Mapping[str, Any]]) -> str:
    """One sentence on the proxy's circuit breakers (the report's ``upstreams``: each model's
    :meth:`~feedback.proxy.health.Breaker.view`).

    >>> print(upstreams_text({"a": {"state": "closed"}, "b": {"state": "closed"}}))
    Upstreams: all 2 models answering (circuit breakers closed).
    >>> print(upstreams_text({"a": {"state": "closed"},
    ...     "b": {"state": "open", "reason": "3 failures in a row", "probe_in_s": 12}}))
    Upstreams: 1 of 2 models answering; b open (3 failures in a row; a probe in 12 s).
    """
    bad = {m: v for m, v in health.items() if v.get("state") != "closed"}
    if not bad:
        return f"Upstreams: all {len(health)} models answering (circuit breakers closed)."
    parts = [
        f"{m} open ({v.get('reason')}; a probe in {v.get('probe_in_s', 0):g} s)"
        if v.get("state") == "open"
        else f"{m} half-open ({v.get('reason')}; probing)"
        for m, v in bad.items()
    ]
    answering = f"{len(health) - len(bad)} of {len(health)} models answering"
    return f"Upstreams: {answering}; " + "; ".join(parts) + "."


def render_page(report: Mapping[str, Any]) -> str:
    """The whole page; plots without data are left out. A model name with characters the
    plot font lacks still renders (as empty boxes), without a warning."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r"Glyph \d+ .*missing from font", UserWarning)
        return _render(report)


def _fig(fig: Figure | None, alt: str, caption: str) -> str:
    return "" if fig is None else figure_html(fig, alt, caption)


def _regret(report: Mapping[str, Any]) -> list[str]:
    regret = report["regret"]
    today, at = regret["today"], regret["at_decision"]
    out = [
        "<h2>Estimated regret</h2>",
        _fig(
            charts.regret_figure(regret),
            "Line charts of estimated regret over time.",
            "Left: cumulative estimated regret. Right: its rolling mean per decision; it "
            "should fall as the router learns. Solid: scored with the posterior of the moment "
            "the decision was made; dashed: re-scored with today's posterior.",
        ),
        f'<p class="note">Total re-scored today {fmt_rate(today["total"])} '
        f"(95% credible {fmt_rate(today['low'])} to {fmt_rate(today['high'])}).</p>",
    ]
    n, total = int(at.get("n") or 0), int(today.get("n") or 0)
    if total and not at.get("total") and not today.get("total"):
        out.append(
            '<p class="note">Both curves are exactly 0: every decision was the one the '
            "posterior rated best, then and now (a policy that does not explore or learn, "
            "such as static UniRoute), so this estimate cannot show regret here; the "
            "off-policy values below can.</p>"
        )
    if total and n < total:
        out.append(
            f'<p class="note">{total - n:,} of {total:,} decisions were recorded without '
            "monitoring, so their decision-time regret is unknown: the solid curve breaks "
            "there (and is absent when none is known).</p>"
        )
    return out


def _traffic(report: Mapping[str, Any]) -> list[str]:
    traffic = report["traffic"]
    rows = [[m, f"{n:,}", fmt_rate(traffic["share"][m])] for m, n in traffic["counts"].items()]
    return [
        "<h2>Traffic share</h2>",
        table(["model", "decisions", "share"], rows, "traffic"),
        _fig(
            charts.traffic_figure(traffic),
            "Stacked area chart of each model's traffic share over time.",
            "Share of decisions per model over time.",
        ),
    ]


def _posterior(report: Mapping[str, Any]) -> list[str]:
    post = report["posterior"]
    rows = [
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
    return [
        "<h2>Posterior per cluster</h2>",
        _fig(
            charts.posterior_figure(post),
            "Heat map of posterior mean accuracy per cluster and model.",
            "Posterior mean accuracy per (cluster, model) cell.",
        ),
        table(["cluster", "decisions", *post["models"]], rows, "posterior"),
    ]


def _feedback_and_drift(report: Mapping[str, Any]) -> list[str]:
    fb, alarms = report["feedback"], report["drift"]["alarms"]
    kinds = [[k, f"{v['count']:,}", fmt_rate(v["mean"])] for k, v in fb["by_kind"].items()]
    drift = (
        table(
            ["model", "fired at (UTC)", "feedback #"],
            [[a["model"], utc(a["at"]), str(a["feedback_index"])] for a in alarms],
            "drift",
        )
        if alarms
        else "<p>None.</p>"
    )
    return [
        "<h2>Feedback</h2>",
        table(["kind", "count", "mean value"], kinds, "feedback"),
        "<h2>Drift alarms</h2>",
        drift,
        f'<p class="note">{html.escape(report["drift"]["detector"])}.</p>',
    ]


def page_shell(title: str, lead: str, body: str) -> str:
    """A complete HTML document whose first text is ``lead`` (the verdict, as HTML)."""
    return html_page(title, _STYLE, f"{lead}\n{body}")


def _render(report: Mapping[str, Any]) -> str:
    e = html.escape
    verdict = report.get("verdict") or verdict_section(report)
    lead = f'<p class="verdict" id="verdict">{e(verdict["sentence"])}</p>'
    total = report["decisions"]["total"]
    cards = "".join(
        f'<div class="card" id="kf-{i}"><span>{e(label)}</span><b>{e(value)}</b></div>'
        for i, label, value in key_figures(report)
    )
    body = [
        f"<h1>routing-agent monitoring · {total:,} decisions · report of "
        f"{e(utc(report.get('generated_at')))} UTC</h1>",
        f'<div class="cards">{cards}</div>',
        (
            f'<p class="note" id="upstreams">{e(upstreams_text(report["upstreams"]))}</p>'
            if report.get("upstreams")
            else ""
        ),
        "<h2>Savings</h2>",
        savings_section(report),
        *_regret(report),
        *_traffic(report),
        "<h2>Policy values (off-policy estimates)</h2>",
        policy_section(
            report,
            _fig(
                charts.off_policy_figure(report["off_policy"]),
                "Interval plot of each policy's estimated accuracy by every estimator.",
                "Estimated accuracy of each policy with 95% intervals, by every estimator.",
            ),
        ),
        tag_section(report.get("tags")),
        *_posterior(report),
        *_feedback_and_drift(report),
        "<h2>How these numbers are estimated</h2><ul>",
        *(f"<li>{e(n)}</li>" for n in report["notes"]),
        "</ul>",
        _DECODED_SCRIPT,
    ]
    title = f"routing-agent monitoring: {total:,} decisions"
    return page_shell(title, lead, "\n".join(b for b in body if b))
