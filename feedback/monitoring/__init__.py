"""Monitoring a live router: estimated regret, off-policy values, savings, traffic, the
posterior per cluster, per-tag tables, feedback mix and drift alarms, under a one-sentence
verdict, as JSON, HTML and Prometheus metrics.

The estimators (:mod:`~feedback.monitoring.estimators`) are pure numpy; the report reads the
database with a few aggregate queries. Submodules import what they need on first use.
"""

__all__ = [
    "analysis",
    "by_tag",
    "charts",
    "data",
    "estimators",
    "hooks",
    "metrics",
    "monitor",
    "offline",
    "page",
    "recorder",
    "report",
    "sections",
    "tables",
    "verdict",
]
