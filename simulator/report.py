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

from simulator.kit import (
    DASH,
    atomic_write,
    c_max_of,
    finite,
    fmt_rate,
    fmt_regret,
    fmt_usd,
    sanitise,
)
from simulator.table import MEMORY_SHARE, protocol_lines

REGRETS = (
    ("best_fixed", "vs best fixed"),
    ("cluster_oracle", "vs cluster oracle"),
    ("prompt_oracle", "vs prompt oracle"),
)

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


def _regret(p: Mapping[str, Any], key: str) -> float | None:
    return finite((p.get("regret") or {}).get(key))


def verdict(report: Mapping[str, Any], curve: Mapping[str, Any] | None = None) -> str:
    """A plain-English paragraph (plain text, not yet escaped) drawn from the numbers."""
    pols: Mapping[str, Mapping[str, Any]] = report.get("policies") or {}
    if not pols:
        return "No policy has been replayed yet."
    parts: list[str] = []
    util = {n: u for n, p in pols.items() if (u := finite(p.get("mean_utility"))) is not None}
    if util:
        best = max(util, key=lambda n: util[n])
        p = pols[best]
        text = f"{best} has the best mean utility ({util[best]:.3f})"
        ok = [m for m in report.get("models") or [] if finite(m.get("accuracy")) is not None]
        top = max(ok, key=lambda m: m["accuracy"]) if ok else None
        acc = finite(p.get("mean_accuracy"))
        if top is not None and acc is not None:
            text += (
                f", with accuracy {acc:.3f} vs {top['accuracy']:.3f} for {top.get('name')},"
                " the most accurate single model"
            )
            cost, top_cost = finite(p.get("mean_cost_usd")), finite(top.get("mean_cost_usd"))
            if cost is not None and top_cost:
                text += (
                    f", at {100 * cost / top_cost:.0f}% of its mean cost"
                    f" ({fmt_usd(cost)} vs {fmt_usd(top_cost)})"
                )
        parts.append(text + ".")
    reg = {n: r for n in pols if (r := _regret(pols[n], "cluster_oracle")) is not None}
    if len(reg) >= 2:
        ref = "static" if "static" in reg else max(reg, key=lambda n: reg[n])
        win = min((n for n in reg if n != ref), key=lambda n: reg[n])
        r0, r1 = reg[ref], reg[win]
        if r1 < r0 and r0 > 0:
            parts.append(
                f"{win} cut {ref}'s regret vs the cluster oracle by {100 * (r0 - r1) / r0:.0f}%"
                f" ({r0:,.0f} → {r1:,.0f})."
            )
        elif r1 < r0:
            parts.append(f"{win} had the lowest regret vs the cluster oracle ({r1:,.0f}).")
        else:
            parts.append(f"No policy beat {ref}'s regret vs the cluster oracle ({r0:,.0f}).")
    bf = [n for n in pols if _regret(pols[n], "best_fixed") is not None]
    if bf:
        won = [n for n in bf if (_regret(pols[n], "best_fixed") or 0.0) < 0]
        who = f"{len(won)} of {len(bf)} policies" if len(bf) > 1 else bf[0]
        verb = "beat" if len(bf) > 1 or won else "did not beat"
        parts.append(f"{who} {verb} the best single model in hindsight (regret vs best fixed < 0).")
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


def summary_table(report: Mapping[str, Any]) -> str:
    """One row per policy, the best value of each column highlighted."""
    pols: Mapping[str, Mapping[str, Any]] = report.get("policies") or {}
    c_max = c_max_of(report)
    heads = ["policy", "accuracy", "cost / request", "cost / c_max", "utility"]
    heads += [f"regret {label}" for _, label in REGRETS]
    higher = [True, False, False, True, False, False, False]
    values, rows = [], []
    for name, p in pols.items():
        cost = finite(p.get("mean_cost_usd"))
        rel = cost / c_max if cost is not None and c_max else None
        acc, util = finite(p.get("mean_accuracy")), finite(p.get("mean_utility"))
        values.append([acc, cost, rel, util, *(_regret(p, k) for k, _ in REGRETS)])
        std = p.get("regret_std") or {}
        tag = " (interrupted)" if p.get("interrupted") else ""
        rows.append([f"{name}{tag}", fmt_rate(acc), fmt_usd(cost), fmt_rate(rel), fmt_rate(util)])
        rows[-1] += [fmt_regret(_regret(p, k), std.get(k)) for k, _ in REGRETS]
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
    """A complete HTML document with the inline stylesheet."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>\n<h1>{html.escape(title)}</h1>\n{body}\n</body></html>\n"
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
    body.append(
        '<p class="note">Regret is cumulative at the last step, mean ± sd over seeds; lower is '
        "better, and below 0 vs best fixed means routing beat every single model. Utility is "
        "accuracy − λ·cost/c_max. Best value per column in bold.</p>"
    )
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
        [str(p.get("lambda")), fmt_rate(p.get("cost")), fmt_rate(p.get("accuracy"))] for p in pts
    ]
    table = _table(["λ", "cost / c_max", "accuracy"], rows)
    body = [f'<p class="verdict">{e(_curve_sentence(curve))}</p>', *curve_figures(curve), table]
    title = f"{curve.get('dataset', 'deferral curve')}: λ sweep of {curve.get('policy', '?')}"
    return page(title, "\n".join(body))
