"""The monitoring page's plots as matplotlib figures (Agg canvas, imported on first use).

Charts over time put the decisions' timestamps (UTC) on the x-axis. A figure without data is
None. Every string from the data goes through :func:`label` first.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from agent.figures import colours_for, new_figure
from agent.report_kit import finite

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def label(name: object) -> str:
    """Data text made safe for matplotlib: no control characters, ``$`` not starting mathtext.

    >>> print(label("a$b\\x9f"))
    a\\$b?
    """
    text = "".join(ch if ch.isprintable() else "?" for ch in str(name))
    return text.replace("$", r"\$")


def nums(values: Sequence[Any]) -> np.ndarray:
    return np.array([math.nan if v is None else float(v) for v in values], dtype=np.float64)


def _time_axis(ax: Axes, data: Mapping[str, Any]) -> np.ndarray:
    """The x values of a series: its unix times as matplotlib dates on a UTC date axis, or,
    for a report without times, its decision counts."""
    from matplotlib import dates

    if "at" not in data:
        ax.set_xlabel("decisions", fontsize=9)
        return nums(data["t"])
    epoch = float(dates.date2num(np.datetime64("1970-01-01T00:00:00")))
    locator = dates.AutoDateLocator(tz="UTC")
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(dates.ConciseDateFormatter(locator, tz="UTC"))
    ax.set_xlabel("time of decision (UTC)", fontsize=9)
    x = nums(data["at"]) / 86400.0 + epoch
    seen = x[np.isfinite(x)]
    if seen.size and seen.max() - seen.min() < 1 / 86400:  # one instant: a 2-second axis
        ax.set_xlim(seen.min() - 1 / 86400, seen.max() + 1 / 86400)
    return x


def regret_figure(regret: Mapping[str, Any]) -> Figure | None:
    """Cumulative estimated regret and its rolling mean over time; the decision-time series
    only where it was recorded."""
    curve, rolling = regret["curve"], regret["rolling"]
    if not curve["t"]:
        return None
    fig = new_figure(9.0, 3.2)
    left, right = fig.subplots(1, 2)
    for ax, data, title in (
        (left, curve, "cumulative estimated regret"),
        (right, rolling, f"rolling mean per decision (window {rolling['window']:,})"),
    ):
        x = _time_axis(ax, data)
        at = nums(data["at_decision"])
        if np.isfinite(at).any():
            ax.plot(x, at, lw=1.6, label="at decision time")
        ax.plot(x, nums(data["today"]), lw=1.6, ls="--", label="today's posterior")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
    left.legend(fontsize=8, frameon=False)
    return fig


def traffic_figure(traffic: Mapping[str, Any]) -> Figure | None:
    """Each model's share of the decisions over time, stacked."""
    over = traffic["over_time"]
    share = {m: nums(v) for m, v in over["share"].items() if np.nansum(nums(v)) > 0}
    if not share or not over["t"]:
        return None
    colours = colours_for(list(share))
    fig = new_figure(9.0, 2.8)
    ax = fig.add_subplot()
    x = _time_axis(ax, over)
    keep = np.isfinite(x)
    ax.stackplot(
        x[keep],
        [v[keep] for v in share.values()],
        labels=[label(m) for m in share],
        colors=[colours[m] for m in share],
        linewidth=0,
    )
    ax.set_ylim(0, 1)
    ax.set_ylabel("share", fontsize=9)
    ax.tick_params(labelsize=8)
    ax.grid(alpha=0.3)
    fig.legend(loc="outside right upper", fontsize=7, frameon=False)
    return fig


def off_policy_figure(off: Mapping[str, Any]) -> Figure | None:
    """Every policy's estimates with their 95% intervals, one row per (policy, estimator)."""
    rows = [
        (f"{name} · {method}", est)
        for name, ests in off["policies"].items()
        for method, est in ests.items()
        if isinstance(est, Mapping)
        and finite(est.get("value")) is not None
        and finite(est.get("low")) is not None
        and finite(est.get("high")) is not None
    ]
    if not rows:
        return None
    fig = new_figure(8.0, 0.6 + 0.28 * len(rows))
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
    ax.set_yticks(range(len(rows)), [label(r[0]) for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("estimated accuracy (95% interval)", fontsize=9)
    ax.grid(alpha=0.3, axis="x")
    return fig


def posterior_figure(post: Mapping[str, Any]) -> Figure | None:
    """Posterior mean accuracy per (cluster, model) cell as a heat map."""
    mean = post["mean"]
    if not mean:
        return None
    fig = new_figure(8.0, 0.9 + 0.3 * len(mean))
    ax = fig.add_subplot()
    im = ax.imshow(
        nums([v for row in mean for v in row]).reshape(len(mean), -1),
        aspect="auto",
        cmap="viridis",
        vmin=0,
        vmax=1,
    )
    names = [label(m) for m in post["models"]]
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=7)
    ax.set_ylabel("cluster", fontsize=9)
    fig.colorbar(im, ax=ax, label="posterior mean accuracy")
    return fig
