"""The monitoring page's charts: time on the x-axes, a decision-time regret curve that breaks
where it is unknown instead of lying flat at 0, and date axes at every time span."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
from matplotlib import dates

from feedback.monitoring import charts
from feedback.monitoring.analysis import regret_section, traffic_section
from tests.feedback.monitoring_columns import inputs

T0 = 1_800_000_000.0  # 2027-01-15 08:00 UTC


def as_unix(x: np.ndarray) -> np.ndarray:
    epoch = float(dates.date2num(np.datetime64("1970-01-01T00:00:00")))
    return (np.asarray(x, dtype=np.float64) - epoch) * 86400.0


def test_regret_and_traffic_are_plotted_against_decision_times() -> None:
    times = [T0 + 60.0 * i for i in range(40)]  # one decision a minute
    inp = inputs([i % 2 for i in range(40)], [0.001, 0.01] * 20, created_at=times)
    regret = regret_section(inp, points=400, draws=10, seed=0)
    assert regret["curve"]["at"] == times and regret["rolling"]["at"] == times
    fig = charts.regret_figure(regret)
    assert fig is not None
    for ax in fig.axes:
        assert ax.get_xlabel() == "time of decision (UTC)"
        for line in ax.get_lines():
            assert as_unix(line.get_xdata()) == pytest.approx(times, abs=1e-3)
    traffic = traffic_section(inp, {"small": 20, "big": 20}, bins=4)
    assert traffic["over_time"]["at"] == [times[9], times[19], times[29], times[39]]
    tfig = charts.traffic_figure(traffic)
    assert tfig is not None and tfig.axes[0].get_xlabel() == "time of decision (UTC)"
    xs = tfig.axes[0].dataLim.intervalx
    assert as_unix(xs) == pytest.approx([times[9], times[39]], abs=1e-3)


def test_unknown_decision_time_regret_breaks_the_curve() -> None:
    # Decisions 2 and 3 were backfilled (no decision-time regret): unknown, not 0.
    regret = [0.1, 0.2, np.nan, np.nan, 0.3]
    inp = inputs([0] * 5, [0.001] * 5, created_at=[T0 + i for i in range(5)], regret=regret)
    got = regret_section(inp, points=400, draws=10, seed=0)
    cum = got["curve"]["at_decision"]
    assert cum[:2] == pytest.approx([0.1, 0.3]) and np.isnan(cum[2:4]).all()
    assert cum[4] == pytest.approx(0.6)
    assert got["at_decision"]["n"] == 3 and got["at_decision"]["per_decision"] == pytest.approx(0.2)
    none = inputs([0] * 3, [0.001] * 3, created_at=[T0, T0 + 1, T0 + 2])
    fig = charts.regret_figure(regret_section(none, points=400, draws=10, seed=0))
    assert fig is not None
    assert [ln.get_label() for ln in fig.axes[0].get_lines()] == ["today's posterior"]


@pytest.mark.parametrize("span", [0.0, 1e-3, 0.5, 90.0, 9000.0, 3 * 86400.0, 800 * 86400.0])
@pytest.mark.parametrize("n", [1, 6, 50])
def test_date_axes_render_at_any_span_without_warnings(span: float, n: int) -> None:
    t = (T0 + np.linspace(0.0, span, n)).tolist()
    series = {"t": list(range(1, n + 1)), "at": t, "at_decision": [0.1] * n, "today": [0.2] * n}
    regret = {"curve": series, "rolling": {**series, "window": 50}}
    fig = charts.regret_figure(regret)
    assert fig is not None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig.savefig(io.BytesIO(), format="png")
    lo, hi = as_unix(fig.axes[0].get_xlim())
    assert lo <= t[0] and t[-1] <= hi
