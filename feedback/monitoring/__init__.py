"""Monitoring a live router: estimated regret, off-policy values, savings, traffic, the
posterior per cluster, feedback mix and drift alarms, as JSON, HTML and Prometheus metrics.

The estimators (:mod:`~feedback.monitoring.estimators`) are pure numpy; the report reads the
database with a few aggregate queries. Submodules import what they need on first use.
"""

__all__ = [
    "analysis",
    "data",
    "estimators",
    "hooks",
    "metrics",
    "monitor",
    "offline",
    "page",
    "recorder",
    "report",
    "tables",
]
