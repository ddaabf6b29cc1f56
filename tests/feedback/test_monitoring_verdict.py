"""The report's verdict sentence: each case's wording, and the same sentence in ``/report`` and
first on ``/report.html``."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from feedback.monitoring.page import key_figures, render_page
from feedback.monitoring.verdict import verdict_section


def est(value: float, low: float, high: float, method: str, n: int = 40) -> dict[str, Any]:
    return {"value": value, "low": low, "high": high, "n": n, "method": method, "level": 0.95}


def report(
    *,
    n: int = 300,
    spent: float = 0.649,
    reference: float = 1.5,
    seconds: float = 390.0,
    feedback: int = 150,
    dr: dict[str, Any] | None = None,
    model: dict[str, Any] | None = None,
) -> dict[str, Any]:
    given: dict[str, Any] = {"model": model or est(0.058, 0.012, 0.102, "posterior")}
    if dr is not None:
        given["dr"] = dr
    return {
        "savings": {
            "n": n,
            "first_at": 1_800_000_000.0 if n else None,
            "last_at": 1_800_000_000.0 + seconds if n else None,
            "reference_model": "frontier-xl",
            "cost_spent": spent,
            "cost_reference": reference,
            "saved": reference - spent,
            "saved_share": (reference - spent) / reference if reference > 0 else None,
            "accuracy_given_up": given,
        },
        "off_policy": {"n": feedback, "n_with_feedback": feedback, "policies": {}},
    }


def sentence(**kwargs: Any) -> str:
    text: str = verdict_section(report(**kwargs))["sentence"]
    return text


def test_savings_with_a_doubly_robust_accuracy_cost() -> None:
    got = verdict_section(report(dr=est(0.131, -0.009, 0.272, "dr")))
    assert got["sentence"] == (
        "Over 6.5 minutes, 300 requests cost $0.649, that is 57% less than always using "
        "frontier-xl, at an estimated accuracy cost of 13.1 points (95% interval -0.9 to 27.2)."
    )
    acc = got["accuracy_cost"]
    assert acc["estimator"] == "dr" and acc["points"] == pytest.approx(13.1)
    assert (acc["low"], acc["high"]) == (pytest.approx(-0.9), pytest.approx(27.2))
    assert got["direction"] == "less" and got["saved_percent"] == pytest.approx(56.733, abs=1e-3)
    assert got["window"] == "6.5 minutes" and got["requests"] == 300


def test_spending_more_says_more_with_positive_numbers() -> None:
    text = sentence(spent=2.0, reference=1.5, dr=est(-0.02, -0.05, 0.01, "dr"), seconds=7200)
    assert text == (
        "Over 2 hours, 300 requests cost $2.00, that is 33% more than always using "
        "frontier-xl, at an estimated accuracy gain of 2.0 points (95% interval -1.0 to 5.0)."
    )
    assert verdict_section(report(spent=2.0, reference=1.5))["direction"] == "more"


def test_without_feedback_the_accuracy_cost_cannot_be_estimated_yet() -> None:
    got = verdict_section(report(feedback=0, dr=None))
    assert got["accuracy_cost"] is None
    assert got["sentence"] == (
        "Over 6.5 minutes, 300 requests cost $0.649, that is 57% less than always using "
        "frontier-xl, but the accuracy cost cannot be estimated yet: no request has feedback."
    )


def test_zero_requests() -> None:
    got = verdict_section(report(n=0, spent=0.0, reference=0.0, feedback=0))
    assert got["sentence"] == "No requests have been routed yet, so there is nothing to report."
    assert got["requests"] == 0 and got["accuracy_cost"] is None


def test_without_propensities_the_posterior_estimate_leads() -> None:
    got = verdict_section(report(dr=None, seconds=0.2, n=1))
    assert got["accuracy_cost"]["estimator"] == "posterior"
    assert got["sentence"].startswith("Over less than a second, 1 request cost $0.649,")
    assert got["sentence"].endswith("accuracy cost of 5.8 points (95% interval 1.2 to 10.2).")


def test_no_interval_yet_and_a_free_reference_model() -> None:
    inf = float("inf")
    text = sentence(reference=0.0, dr=est(0.1, -inf, inf, "dr", n=1))
    assert "that is $0.649 more than always using frontier-xl" in text
    assert text.endswith("accuracy cost of 10.0 points (too little feedback for an interval).")
    assert "that is 0.1% less than always using" in sentence(spent=1.4985, reference=1.5)
    assert "cost $1.50, about the same as always using" in sentence(spent=1.49999, reference=1.5)


def full_report(spent: float, value: float, regret: float = 3.0) -> dict[str, Any]:
    """A whole report (no plots) around :func:`report`'s savings."""
    r = report(spent=spent, dr=est(value, value - 0.05, value + 0.05, "dr"))
    r |= {
        "decisions": {"total": 300},
        "feedback": {"rate": 0.5, "by_kind": {}},
        "regret": {
            "today": {"per_decision": 0.01, "total": regret, "low": 0, "high": 5.0, "n": 300},
            "at_decision": {"per_decision": 0.01, "total": regret, "n": 300},
            "curve": {"t": []},
            "rolling": {"t": [], "window": 50},
        },
        "drift": {"alarms": [], "detector": "ADWIN"},
        "traffic": {"counts": {}, "share": {}, "over_time": {"t": [], "share": {}}},
        "posterior": {"mean": [], "models": []},
        "notes": [],
    }
    r["off_policy"]["policies"] = {"logged": {"observed": est(0.6, 0.5, 0.7, "observed")}}
    return r


@pytest.mark.parametrize(
    ("spent", "value"), [(0.649, 0.131), (2.0, -0.112), (1.5, 0.0)], ids=["save", "pay", "even"]
)
def test_page_opens_with_the_verdict_and_shows_no_bare_negatives(
    spent: float, value: float
) -> None:
    r = full_report(spent, value)
    page = render_page(r)
    body = page.split("<body>", 1)[1]
    first = re.sub(r"<[^>]+>", "", body.strip().split("\n", 1)[0])
    assert first == verdict_section(r)["sentence"]
    for _, _, shown in key_figures(r):
        assert not shown.startswith("-") and "$-" not in shown, shown
    assert "$-" not in page and "saved (-" not in page
    assert "Both curves are exactly 0" not in page


def test_regret_that_is_zero_by_construction_says_so() -> None:
    assert "Both curves are exactly 0" in render_page(full_report(0.649, 0.1, regret=0.0))


def test_the_service_reports_the_same_sentence(client: TestClient, clock: Any, h: Any) -> None:
    empty = client.get("/report").json()["verdict"]
    assert empty["sentence"].startswith("No requests have been routed yet")
    for i in range(6):
        clock.offset = 1800.0 * i  # one decision every half hour
        h.route(client, f"Write SQL for report {i} by month")
    cache = client.app.state.report_cache  # type: ignore[attr-defined]
    cache.ttl = 0.0  # stale now: this request starts a rebuild in the background
    client.get("/report")
    cache.join()
    cache.ttl = 1e9  # the rebuilt report is served from here on, with no further builds
    got = client.get("/report").json()
    v = got["verdict"]
    assert v["requests"] == 6 and v["window"] == "2.5 hours"
    assert v["cost"] == pytest.approx(got["savings"]["cost_spent"])
    assert v["sentence"].startswith("Over 2.5 hours, 6 requests cost ")
    assert "cannot be estimated yet" in v["sentence"]  # no feedback was given
    page = client.get("/report.html").text
    assert f'<p class="verdict" id="verdict">{v["sentence"]}</p>' in page.replace("&#x27;", "'")
    assert cache.builds == 2
