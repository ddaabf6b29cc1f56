"""The report's figures as inline PNGs (regret over time, the deferral plane, traffic share).

matplotlib is imported inside the functions (nothing heavy at import time) and used only
through ``Figure`` + ``FigureCanvasAgg`` (:func:`agent.figures.new_figure`), never pyplot's
global state.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from itertools import accumulate
from typing import TYPE_CHECKING, Any

from agent.figures import colours_for, figure_html, new_figure
from agent.report_kit import fmt_rate, fmt_usd
from simulator.headline import FROZEN, c_max_of

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: The regret curves, by the title of their panel: the first is the headline, drawn wide.
REGRET_KEYS = {
    "best_fixed": "vs best single model",
    "cluster_oracle": "vs best per cluster",
    "prompt_oracle": "vs best per prompt",
}
MAX_TRAFFIC_PANELS = 8


def _steps(v: float, _pos: object = None) -> str:
    """A step count for an axis tick: 20000 → '20k'.

    >>> _steps(20000), _steps(2500), _steps(300)
    ('20k', '2.5k', '300')
    """
    return f"{v / 1000:g}k" if abs(v) >= 1000 else f"{v:g}"


def _style(ax: Axes, x: str, y: str, title: str = "", size: int = 9, t: bool = True) -> None:
    """Labels, font sizes and grid; with ``t``, an x axis of steps with '20k'-style ticks."""
    if t:
        from matplotlib.ticker import FuncFormatter, MaxNLocator

        ax.xaxis.set_major_locator(MaxNLocator(nbins=4, steps=[1, 2, 5, 10], integer=True))
        ax.xaxis.set_major_formatter(FuncFormatter(_steps))
    ax.set_xlabel(x, fontsize=size)
    ax.set_ylabel(y, fontsize=size)
    ax.set_title(title, fontsize=size + 1)
    ax.tick_params(labelsize=size - 1)
    ax.grid(alpha=0.3)


def _legend(fig: Figure, handles: list[Any], size: int = 8) -> None:
    fig.legend(handles=handles, loc="outside right upper", fontsize=size, frameon=False)


def _label(name: object) -> str:
    """A data string made safe for matplotlib text: ``$`` would otherwise start mathtext."""
    return str(name).replace("$", r"\$")


def _floats(values: Iterable[Any]) -> list[float]:
    """Numbers as floats, with ``None`` (a sanitised NaN from report.json) as NaN."""
    return [math.nan if v is None else float(v) for v in values]


def regret_figure(policies: Mapping[str, Mapping[str, Any]]) -> Figure | None:
    """Cumulative utility over t above the best single model in hindsight (minus the regret,
    as the table shows it: above 0, routing wins), in a wide panel; above the best model per
    cluster and per prompt in smaller ones beside it."""
    curves = {n: c for n, p in policies.items() if "t" in (c := p.get("regret_curve") or {})}
    keys = [k for k in REGRET_KEYS if any(k in c for c in curves.values())]
    if not keys:
        return None
    colours = colours_for(list(policies), twin=FROZEN)
    fig = new_figure(8.0, 3.4)
    grid = fig.add_gridspec(1, len(keys), width_ratios=[2] + [1] * (len(keys) - 1))
    first = None
    for i, key in enumerate(keys):
        ax = fig.add_subplot(grid[0, i], sharex=first)
        first = first or ax
        for name, c in curves.items():
            if key in c:
                label = _label(name) if i == 0 else None
                above = [-v for v in _floats(c[key])]
                dash = "--" if name.endswith(FROZEN) else "-"
                ax.plot(_floats(c["t"]), above, dash, color=colours[name], lw=1.5, label=label)
        ax.axhline(0.0, color="0.6", lw=0.8, zorder=0)
        _style(ax, "step t", "cumulative utility above" if i == 0 else "", REGRET_KEYS[key])
    _legend(fig, fig.axes[0].get_legend_handles_labels()[0])
    return fig


def _envelope(points: Sequence[tuple[float, float]]) -> tuple[list[float], list[float]]:
    """Points sorted by cost with the running maximum of accuracy (non-decreasing)."""
    xs, ys = zip(*sorted(points), strict=True)
    return list(xs), list(accumulate(ys, max))


def deferral_figure(
    models: Sequence[Mapping[str, Any]],
    operating: Mapping[str, tuple[float, float]],
    curve: Mapping[str, Any] | None = None,
    colours: Mapping[str, Any] | None = None,
) -> Figure | None:
    """The deferral plane: x = mean cost / c_max, y = accuracy; ``models`` hold ``name``, ``cost``
    and ``accuracy``, ``operating`` maps a policy to (cost, accuracy), ``curve`` adds the sweep."""
    pts = [
        (float(p["cost"]), float(p["accuracy"]))
        for p in (curve or {}).get("points") or []
        if p.get("cost") is not None and p.get("accuracy") is not None
    ]
    operating = {n: xy for n, xy in operating.items() if all(map(math.isfinite, xy))}
    if not models and not operating and not pts:
        return None
    colours = colours or colours_for(list(operating), twin=FROZEN)
    fig = new_figure(7.0, 4.0)
    ax = fig.add_subplot()
    for m in models:
        x, y = m.get("cost"), m.get("accuracy")
        if x is not None and y is not None:
            ax.scatter([x], [y], s=28, color="0.35", zorder=3)
            text = _label(m.get("name", "?"))
            ax.annotate(text, (x, y), (4, -10), textcoords="offset points", fontsize=7)
    if pts and curve is not None:
        xs, ys = zip(*sorted(pts), strict=True)
        sweep = _label(f"λ sweep ({curve.get('policy', 'policy')})")
        ax.plot(xs, ys, "o:", color="0.55", ms=3, lw=1, label=sweep)
        ex, ey = _envelope(pts)
        ax.plot(ex, ey, "-", color="tab:blue", lw=1.8, label="non-decreasing envelope")
    for name, (x, y) in operating.items():
        colour = colours.get(name, "k")
        face, edge = ("w", colour) if name.endswith(FROZEN) else (colour, "w")
        ax.scatter([x], [y], marker="D", s=46, c=[face], edgecolor=edge, label=_label(name))
    ax.axvline(1.0, color="0.75", lw=0.8, ls="--", zorder=0)
    _style(ax, "mean cost / c_max", "accuracy", t=False)
    if handles := ax.get_legend_handles_labels()[0]:
        _legend(fig, handles)
    return fig


def traffic_figure(
    policies: Mapping[str, Mapping[str, Any]], model_order: Sequence[str] = ()
) -> tuple[Figure | None, int]:
    """Stacked traffic share per model over time, one panel per policy (at most 8), and how
    many policies it shows."""
    shown = [(n, t) for n, p in policies.items() if (t := p.get("traffic") or {}).get("share")]
    shown = shown[:MAX_TRAFFIC_PANELS]
    if not shown:
        return None, 0
    in_use = [m for _, t in shown for m in t["share"]]
    names = [m for m in dict.fromkeys([*model_order, *in_use]) if m in set(in_use)]
    colours = colours_for(names)
    rows = math.ceil(len(shown) / 4)
    cols = math.ceil(len(shown) / rows)  # balanced: 5 panels as 3 + 2, not 4 + 1
    fig = new_figure(8.0, 0.8 + 1.9 * rows)
    axes = fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= len(shown):
            ax.set_visible(False)
            continue
        name, traffic = shown[i]
        share = traffic["share"]
        used = [m for m in names if m in share]
        t = _floats(traffic.get("t") or range(len(share[used[0]])))
        ys = [[0.0 if math.isnan(v) else v for v in _floats(share[m])] for m in used]
        ax.stackplot(t, ys, colors=[colours[m] for m in used], linewidth=0)
        ax.set_ylim(0, 1)
        bottom = i + cols >= len(shown)  # lowest panel of its column: show the t axis
        ax.tick_params(labelbottom=bottom)
        _style(ax, "step t" if bottom else "", "share" if i % cols == 0 else "", _label(name), 8)
    from matplotlib.patches import Patch

    handles = [Patch(color=colours[m], label=_label(m)) for m in names]
    _legend(fig, handles, 7)
    return fig, len(shown)


def _curve_caption(curve: Mapping[str, Any]) -> str:
    q = curve.get("qnc")
    qnc = fmt_rate(q) if isinstance(q, int | float) and math.isfinite(q) else "never reached"
    return (
        f" Dotted: the λ sweep of {curve.get('policy', 'the policy')}; solid: its non-decreasing"
        f" envelope, whose area over cost in [0, 1] is AUDC. AUDC {fmt_rate(curve.get('audc'))},"
        f" QNC {qnc}, APGR {fmt_rate(curve.get('apgr'))}."
    )


def report_figures(report: Mapping[str, Any], curve: Mapping[str, Any] | None = None) -> list[str]:
    """The report page's plots, each an HTML ``<figure>``; those without data are left out."""
    pols: Mapping[str, Mapping[str, Any]] = report.get("policies") or {}
    names = ", ".join(map(str, pols))
    out: list[str] = []

    def add(fig: Figure | None, alt: str, caption: str) -> None:
        if fig is not None:
            out.append(figure_html(fig, alt, caption))

    seeds = f", mean over {report['seeds']} seeds" if report.get("seeds") else ""
    add(
        regret_figure(pols),
        f"Line charts of cumulative utility over time above the best choices in hindsight for "
        f"{names}.",
        f"Cumulative utility over t above the best choices in hindsight (minus the regret)"
        f"{seeds}. Left: above always using the best single model (above 0: routing beats it). "
        "Middle: above the best model of each prompt cluster (a diagnostic: what learning "
        "loses on the clusters; it should flatten). Right: above the best model for each "
        "prompt (the physical limit). A frozen twin is dashed, in its policy's colour.",
    )
    c_max = c_max_of(report) or math.nan
    models = [
        {"name": m.get("name"), "accuracy": m.get("accuracy"), "cost": m["mean_cost_usd"] / c_max}
        for m in report.get("models") or []
        if isinstance(m.get("mean_cost_usd"), int | float) and math.isfinite(c_max)
    ] or list((curve or {}).get("models") or [])
    operating = {
        n: (float(p["mean_cost_usd"]) / c_max, float(p["mean_accuracy"]))
        for n, p in pols.items()
        if p.get("mean_cost_usd") is not None and p.get("mean_accuracy") is not None
    }
    lam = f" at λ={report['lambda']}" if report.get("lambda") is not None else ""
    add(
        deferral_figure(models, operating, curve, colours_for(list(pols), twin=FROZEN)),
        f"Scatter of accuracy against mean cost / c_max per single model and policy ({names}).",
        f"Deferral plane: accuracy vs mean cost / c_max (c_max = {fmt_usd(c_max)}). Grey dots: "
        f"single models; diamonds: each policy's operating point{lam}."
        + (_curve_caption(curve) if curve else ""),
    )
    fig, n = traffic_figure(pols, [str(m.get("name")) for m in report.get("models") or []])
    more = f" Showing the first {n} of {len(pols)} policies." if n < len(pols) else ""
    add(
        fig,
        f"Stacked area charts of each model's share of traffic over time, per policy ({names}).",
        "Traffic share: the fraction of requests routed to each model over time, one panel per "
        f"policy, colours consistent across panels.{more}",
    )
    return out


def curve_figures(curve: Mapping[str, Any]) -> list[str]:
    """The sweep page's deferral plot as an HTML ``<figure>`` (empty if nothing to draw)."""
    fig = deferral_figure(list(curve.get("models") or []), {}, curve)
    alt = f"Deferral curve of {curve.get('policy', 'the policy')}: accuracy against mean cost."
    caption = "Deferral plane: accuracy vs mean cost / c_max. Grey dots: single models."
    return [] if fig is None else [figure_html(fig, alt, caption + _curve_caption(curve))]
