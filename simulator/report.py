"""Write a simulation's report: report.json, one self-contained report.html, and curve.json.

The HTML page has no external resources: inline CSS and the plots as inline base64 PNGs.
Every string taken from the data is HTML-escaped. Files are written atomically.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Set
from pathlib import Path
from typing import Any

from agent.report_kit import (
    DASH,
    atomic_write,
    finite,
    fmt_per_1000,
    fmt_rate,
    fmt_share,
    fmt_usd,
    html_page,
    sanitise,
)
from simulator.headline import FROZEN, GAP_REFERENCE, c_max_of
from simulator.table import MEMORY_SHARE, best_model_text, protocol_lines

_STYLE = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;
max-width:62rem;margin:1.5rem auto;padding:0 1rem}
h1{font-size:1.35rem;margin:0 0 .6rem}h2{font-size:1.1rem;margin:1.6rem 0 .5rem}
p.verdict{background:#f4f7fb;border-left:4px solid #4a78b5;padding:.6rem .9rem}
table{border-collapse:collapse;font-size:.88rem;font-variant-numeric:tabular-nums}
th,td{padding:.25rem .6rem;border-bottom:1px solid #ddd;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}thead th{border-bottom:2px solid #999}
td.best{font-weight:700;background:#e6f4e6}
dl{display:grid;grid-template-columns:max-content auto;gap:.1rem 1rem;font-size:.85rem}
dt{color:#555}dd{margin:0;font-family:ui-monospace,monospace}
figure{margin:1rem 0}figure img{max-width:100%;height:auto}
figcaption{font-size:.85rem;color:#444;margin-top:.3rem}.note{font-size:.8rem;color:#666}
"""


def _dumps(obj: Any) -> str:
    return json.dumps(sanitise(obj), indent=2, allow_nan=False, ensure_ascii=False) + "\n"


def write_report(out_dir: str | Path, report: dict, curve: dict | None = None) -> Path:
    """Write report.json, report.html (and curve.json when given) to ``out_dir``; return the
    HTML path. The JSON files go first, so a failing render still leaves the numbers."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "report.json", _dumps(report))
    if curve is not None:
        atomic_write(out / "curve.json", _dumps(curve))
    path = out / "report.html"
    atomic_write(path, render_html(report, curve))
    return path


def write_curve(out_dir: str | Path, curve: dict) -> Path:
    """Write curve.json and curve.html (the deferral plot) to ``out_dir``; return curve.json."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "curve.json"
    atomic_write(path, _dumps(curve))
    atomic_write(out / "curve.html", render_curve_html(curve))
    return path


# ---------------------------------------------------------------- page content


def _mean(p: Mapping[str, Any], key: str) -> float | None:
    """The mean of a per-seed figure (``{"mean", "se", "by_seed"}``) of a policy, if any."""
    v = p.get(key)
    return finite(v.get("mean")) if isinstance(v, Mapping) else None


def _figure(p: Mapping[str, Any], key: str) -> str:
    v = p.get(key) or {}
    return fmt_per_1000(v.get("mean"), v.get("se"))


def verdict(report: Mapping[str, Any], curve: Mapping[str, Any] | None = None) -> str:
    """A plain-English paragraph (plain text, not yet escaped) drawn from the numbers; it
    leads with :func:`headline`."""
    pols: Mapping[str, Mapping[str, Any]] = report.get("policies") or {}
    if not pols:
        return "No policy has been replayed yet."
    parts = [text] if (text := headline(report)) else []
    share = (report.get("protocol") or {}).get("repeat_share")
    if share is not None:  # read before any figure when the figures are mostly memory
        note = protocol_lines({"repeat_share": share})[0]
        note = note[0].upper() + note[1:] + "."
        parts.insert(0, note) if share > MEMORY_SHARE else parts.append(note)
    if any(p.get("interrupted") for p in pols.values()):
        parts.append("The run was interrupted: the numbers cover only what was replayed.")
    if curve:
        parts.append(_curve_sentence(curve))
    return " ".join(parts)


def headline(report: Mapping[str, Any]) -> str:
    """What ``default`` (else the policy that earned most; of those with a frozen twin, if
    any) earned per 1,000 requests over always using the best single model, what it saved of
    that model's cost and at how many points of accuracy, what learning from feedback added
    (with ``--frozen``), the share of static's gap to the prompt oracle it closed, and which
    policy did best if another did. Empty when no policy has the figures.

    >>> row = {"per_1000_vs_best": {"mean": 26.2, "se": 4.1}, "gap_closed": 0.08,
    ...        "against_best_model": {"cost_saved": 0.35, "accuracy_points": -1.2},
    ...        "learning": {"mean": 4.0, "se": 4.0}}
    >>> print(headline({"best_model": {"name": "gpt-4", "by_seed": ["gpt-4"] * 5},
    ...                 "policies": {"default": row}}))  # doctest: +NORMALIZE_WHITESPACE
    default earned +26 ± 4 per 1,000 requests over always using gpt-4, the best single model in
    hindsight: it saved 35% of its cost at 1.2 points less accuracy. Learning from feedback
    added +4.0 ± 4.0 per 1,000 over the same policy frozen. It closed 8% of static's gap to the
    best model for each prompt.
    """
    pols: Mapping[str, Mapping[str, Any]] = report.get("policies") or {}
    earned = {n: m for n, p in pols.items() if (m := _mean(p, "per_1000_vs_best")) is not None}
    if not earned:
        return ""
    live = [n for n in earned if not n.endswith(FROZEN)] or list(earned)
    learners = [n for n in live if "learning" in pols[n]] or live
    who = "default" if "default" in live else max(learners, key=lambda n: earned[n])
    p = pols[who]
    figure = _figure(p, "per_1000_vs_best")
    best = best_model_text(report.get("best_model") or {})
    text = f"{who} earned {figure} per 1,000 requests over {best}"
    vs = p.get("against_best_model") or {}
    saved, points = finite(vs.get("cost_saved")), finite(vs.get("accuracy_points"))
    if saved is not None and points is not None:
        cost = f"saved {saved:.0%} of its cost" if saved >= 0 else f"cost {-saved:.0%} more"
        acc = f"gained {points:.1f}" if points >= 0 else f"at {-points:.1f} points less accuracy"
        text += f": it {cost} " + (f"and {acc} points of accuracy" if points >= 0 else acc)
    sentences = [text + "."]
    if (gain := _mean(p, "learning")) is not None:
        verb = "added" if gain >= 0 else "took away"
        shown = _figure(p, "learning") if gain >= 0 else _figure(p, "learning").lstrip("-")
        sentences.append(
            f"Learning from feedback {verb} {shown} per 1,000 over the same policy frozen."
        )
    gap = finite(p.get("gap_closed"))
    if gap is not None and who != GAP_REFERENCE:
        sentences.append(f"It closed {gap:.0%} of static's gap to the best model for each prompt.")
    top = max(live, key=lambda n: earned[n])
    if earned[top] > earned[who]:
        sentences.append(f"{top} did best here: {_figure(pols[top], 'per_1000_vs_best')}.")
    return " ".join(sentences)


def _curve_sentence(curve: Mapping[str, Any]) -> str:
    text = (
        f"The λ sweep of {curve.get('policy', 'the policy')} has AUDC {fmt_rate(curve.get('audc'))}"
    )
    qnc = finite(curve.get("qnc"))
    if qnc is None:
        text += " and never reaches the best single model's accuracy"
    else:
        text += f" and reaches the best single model's accuracy at {qnc:.2f}× its cost (QNC)"
    return text + f"; APGR {fmt_rate(curve.get('apgr'))}."


def _table(
    heads: list[str], rows: list[list[str]], best: Set[tuple[int, int]] = frozenset()
) -> str:
    """An HTML table of plain-text cells (escaped here); ``best`` (row, column) cells in bold."""
    e = html.escape
    head = "".join(f"<th>{e(h)}</th>" for h in heads)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="best">{e(c)}</td>' if (i, j) in best else f"<td>{e(c)}</td>"
            for j, c in enumerate(row)
        )
        + "</tr>"
        for i, row in enumerate(rows)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


#: The page's figure columns beyond accuracy and cost: (report key, header), each higher-better.
FIGURES = (
    ("per_1000_vs_best", "vs best model"),
    ("learning", "learning"),
    ("gap_closed", "gap closed"),
    ("per_1000_vs_cluster_oracle", "vs best per cluster"),
    ("per_1000_vs_prompt_oracle", "vs best per prompt"),
)


def summary_table(report: Mapping[str, Any]) -> str:
    """One row per policy, the best value of each column highlighted."""
    pols: Mapping[str, Mapping[str, Any]] = report.get("policies") or {}
    c_max = c_max_of(report)
    heads = ["policy", "accuracy", "cost / request", "cost / c_max", "utility"]
    heads += [h for _, h in FIGURES]
    higher = [True, False, False, True] + [True] * len(FIGURES)
    values, rows = [], []
    for name, p in pols.items():
        cost = finite(p.get("mean_cost_usd"))
        rel = cost / c_max if cost is not None and c_max else None
        acc, util = finite(p.get("mean_accuracy")), finite(p.get("mean_utility"))
        gap = finite(p.get("gap_closed"))
        figures = [gap if k == "gap_closed" else _mean(p, k) for k, _ in FIGURES]
        values.append([acc, cost, rel, util, *figures])
        tag = " (interrupted)" if p.get("interrupted") else ""
        rows.append([f"{name}{tag}", fmt_rate(acc), fmt_usd(cost), fmt_rate(rel), fmt_rate(util)])
        rows[-1] += [fmt_share(gap) if k == "gap_closed" else _figure(p, k) for k, _ in FIGURES]
    best: set[tuple[int, int]] = set()
    for j, hi in enumerate(higher):
        col = [(i, v) for i, r in enumerate(values) if (v := r[j]) is not None]
        if len(col) >= 2:
            target = (max if hi else min)(v for _, v in col)
            best |= {(i, j + 1) for i, v in col if v == target}
    return _table(heads, rows, best)


def models_table(report: Mapping[str, Any]) -> str:
    """Each single model on the replay pool: accuracy and mean cost."""
    c_max, rows = c_max_of(report), []
    for m in report.get("models") or []:
        cost = finite(m.get("mean_cost_usd"))
        rel = cost / c_max if cost is not None and c_max else None
        rows.append([str(m.get("name", "?")), fmt_rate(m.get("accuracy")), fmt_usd(cost)])
        rows[-1].append(fmt_rate(rel))
    heads = ["model", "accuracy", "cost / request", "cost / c_max"]
    return _table(heads, rows) if rows else ""


def settings_list(settings: Any) -> str:
    """The free-form settings as a small definition list."""
    if not isinstance(settings, Mapping) or not settings:
        return ""
    e = html.escape
    items = []
    for k, v in settings.items():
        if isinstance(v, list | tuple):
            v = ", ".join(map(str, v))
        items.append(f"<dt>{e(str(k))}</dt><dd>{e(DASH if v in (None, '') else str(v))}</dd>")
    return f"<dl>{''.join(items)}</dl>"


def _title(report: Mapping[str, Any]) -> str:
    r, bits = report, []
    if r.get("lambda") is not None:
        bits.append(f"λ={r['lambda']}")
    if isinstance(r.get("steps"), int):
        bits.append(f"{r['steps']:,} steps" + (f" × {r['seeds']} seeds" if r.get("seeds") else ""))
    if r.get("clusters") is not None:
        bits.append(f"K={r['clusters']}")
    return str(r.get("dataset", "simulation")) + (": " + ", ".join(bits) if bits else "")


def page(title: str, body: str) -> str:
    """A complete HTML document with the inline stylesheet, headed by ``title``."""
    return html_page(title, _STYLE, f"<h1>{html.escape(title)}</h1>\n{body}")


def _page_note(report: Mapping[str, Any]) -> str:
    """What the summary table's columns mean."""
    seeds = report.get("seeds")
    over = f" over {seeds} seeds" if seeds else ""
    return (
        "Utility is accuracy − λ·cost/c_max. The last columns are utility per 1,000 requests, "
        f"mean ± SE{over} (SE: the seeds' sample sd / √seeds): vs best model, above "
        f"{best_model_text(report.get('best_model') or {})}; "
        "learning, the policy minus itself frozen (feedback off, the same seeds and stream; "
        "--frozen adds the frozen twins), paired seed by seed; vs best per cluster and per "
        "prompt, above the best model of each prompt cluster and for each prompt in hindsight "
        "(diagnostics: the second is the limit). Gap closed is 1 − its shortfall to the best "
        "model per prompt ÷ static's, static replayed on the same seeds, a ratio of seed means. "
        "Best value per column in bold."
    )


def render_html(report: dict, curve: dict | None = None) -> str:
    """The report as one self-contained HTML page."""
    from simulator.plots import report_figures

    e = html.escape
    body = [f'<p class="verdict">{e(verdict(report, curve))}</p>']
    settings = settings_list(report.get("settings"))
    if settings:
        body.append(f"<details open><summary>Settings</summary>{settings}</details>")
    body.append("<h2>Policies</h2>")
    body.append(summary_table(report))
    body.append(f'<p class="note">{e(_page_note(report))}</p>')
    protocol = protocol_lines(report.get("protocol") or {})
    if protocol:
        body.append(f'<p class="note">{"<br>".join(e(line) for line in protocol)}</p>')
    models = models_table(report)
    if models:
        body += ["<h2>Single models on the replay pool</h2>", models]
    body.append("<h2>Plots</h2>")
    body += report_figures(report, curve)
    return page(_title(report), "\n".join(body))


def render_curve_html(curve: dict) -> str:
    """The λ sweep alone: its deferral plot, the summaries and the points."""
    from simulator.plots import curve_figures

    e, pts = html.escape, curve.get("points") or []
    rows = [
        [str(p.get("lambda")), fmt_rate(p.get("cost")), fmt_rate(p.get("accuracy"))]
        + [_figure(p, "per_1000_vs_best")]
        for p in pts
    ]
    table = _table(["λ", "cost / c_max", "accuracy", "vs best model (per 1,000 ± SE)"], rows)
    body = [f'<p class="verdict">{e(_curve_sentence(curve))}</p>', *curve_figures(curve), table]
    title = f"{curve.get('dataset', 'deferral curve')}: λ sweep of {curve.get('policy', '?')}"
    return page(title, "\n".join(body))
