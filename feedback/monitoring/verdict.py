"""The report's one-sentence verdict: what routing cost, against what, at what accuracy.

``verdict_section(report)`` reads the savings and off-policy sections and returns the numbers
with the sentence built from them, so ``/report`` and the page say the same thing:

    Over 6 minutes, 300 requests cost $0.649, that is 57% less than always using frontier-xl,
    at an estimated accuracy cost of 13.1 points (95% interval -0.9 to 27.2).

Every number in the sentence is positive except an interval's end; the direction is a word
("less"/"more", "cost"/"gain"). Accuracy points are percentage points of mean accuracy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agent.report_kit import finite, fmt_usd

#: The accuracy-cost estimator the verdict leads with, and why (shown on the page).
HEADLINE = "dr"
WHY_HEADLINE = (
    "The accuracy cost is the doubly robust (DR) estimate: it starts from the posterior's "
    "prediction and corrects its error with the logged outcomes weighted by their "
    "propensities, so it stays unbiased if either the posterior or the propensities are "
    "right, with a narrower interval than plain IPS."
)
WHY_FALLBACK = (
    "No decision with feedback logged a propensity, so the accuracy cost is the posterior's "
    "own estimate (the doubly robust one needs propensities); it is only as good as the "
    "posterior."
)


def _count(n: float, unit: str) -> str:
    text = f"{n:.1f}".rstrip("0").rstrip(".")
    return f"{text} {unit}" + ("" if text == "1" else "s")


def window_text(seconds: float) -> str:
    """A duration in words, to one decimal in its largest sensible unit.

    >>> [window_text(s) for s in (0.2, 1, 45, 390, 5400, 86400 * 3.25)]
    ['less than a second', '1 second', '45 seconds', '6.5 minutes', '1.5 hours', '3.2 days']
    """
    if seconds < 1:
        return "less than a second"
    if seconds < 90:
        return _count(round(seconds), "second")
    if seconds < 90 * 60:
        return _count(seconds / 60, "minute")
    if seconds < 36 * 3600:
        return _count(seconds / 3600, "hour")
    return _count(seconds / 86400, "day")


def percent_text(share: float) -> str:
    """``share`` (a fraction, positive) as a percentage: whole numbers, one decimal below 1%.

    >>> percent_text(0.567), percent_text(0.004), percent_text(0.0001), percent_text(0.0)
    ('57%', '0.4%', '0%', '0%')
    """
    pct = 100 * share
    return f"{pct:.1f}%" if 0.05 <= pct < 1 else f"{pct:.0f}%"


def headline_estimate(savings: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]] | None:
    """(estimator, estimate) of the accuracy given up: DR when it has a value, else the
    posterior's; None when neither has one."""
    given = savings.get("accuracy_given_up") or {}
    for name in (HEADLINE, "model"):
        est = given.get(name)
        if isinstance(est, Mapping) and finite(est.get("value")) is not None:
            return ("posterior" if name == "model" else name), est
    return None


def accuracy_cost(report: Mapping[str, Any]) -> dict[str, Any] | None:
    """The headline accuracy cost in points, or None without any feedback yet."""
    if not (report.get("off_policy") or {}).get("n_with_feedback"):
        return None
    found = headline_estimate(report["savings"])
    if found is None:
        return None
    name, est = found
    low, high = finite(est.get("low")), finite(est.get("high"))
    return {
        "estimator": name,
        "points": 100 * float(est["value"]),
        "low": None if low is None else 100 * low,
        "high": None if high is None else 100 * high,
        "level": float(est.get("level") or 0.95),
        "n": int(est.get("n") or 0),
    }


def _comparison(spent: float, reference: float, share: float | None, model: str) -> str:
    if share is None:  # the reference model is free
        if spent <= 0:
            return f"the same as always using {model}"
        return f"that is {fmt_usd(spent - reference)} more than always using {model}"
    shown = percent_text(abs(share))
    if shown == "0%":
        return f"about the same as always using {model}"
    return f"that is {shown} {'less' if share > 0 else 'more'} than always using {model}"


def _accuracy_words(acc: Mapping[str, Any] | None) -> str:
    if acc is None:
        return "but the accuracy cost cannot be estimated yet: no request has feedback"
    points, low, high = acc["points"], acc["low"], acc["high"]
    gain = points < 0
    text = f"at an estimated accuracy {'gain' if gain else 'cost'} of {abs(points):.1f} points"
    if low is None or high is None:
        return text + " (too little feedback for an interval)"
    a, b = (-high, -low) if gain else (low, high)
    return text + f" ({100 * acc['level']:.0f}% interval {a:.1f} to {b:.1f})"


def verdict_section(report: Mapping[str, Any]) -> dict[str, Any]:
    """The verdict's numbers and its sentence (plain text, not escaped)."""
    sav = report["savings"]
    n = int(sav.get("n") or 0)
    out: dict[str, Any] = {"requests": n, "reference_model": sav["reference_model"]}
    if n == 0:
        out["sentence"] = "No requests have been routed yet, so there is nothing to report."
        out["accuracy_cost"] = None
        return out
    first, last = finite(sav.get("first_at")), finite(sav.get("last_at"))
    seconds = (last - first) if first is not None and last is not None else 0.0
    spent, reference = float(sav["cost_spent"]), float(sav["cost_reference"])
    share = finite(sav.get("saved_share"))
    acc = accuracy_cost(report)
    out.update(
        window_seconds=seconds,
        window=window_text(seconds),
        first_at=first,
        last_at=last,
        cost=spent,
        reference_cost=reference,
        saved=reference - spent,
        saved_percent=None if share is None else 100 * abs(share),
        direction="less" if spent < reference else ("more" if spent > reference else "same"),
        accuracy_cost=acc,
    )
    out["sentence"] = (
        f"Over {out['window']}, {n:,} request{'' if n == 1 else 's'} cost {fmt_usd(spent)}, "
        f"{_comparison(spent, reference, share, sav['reference_model'])}, {_accuracy_words(acc)}."
    )
    return out
