"""``install_monitoring(app)``: the one call that adds monitoring to the service's app."""

from __future__ import annotations

from fastapi import FastAPI

from feedback.monitoring.http import HttpMetricsMiddleware
from feedback.monitoring.monitor import Monitor
from feedback.monitoring.recorder import MonitorMiddleware


def install_monitoring(app: FastAPI) -> None:
    """Add ``GET /report``, ``/report.html`` and ``/metrics``, a per-app metrics registry, and
    the middleware that records each decision for monitoring, and per-route request latency
    and error counts."""
    from feedback.api import monitoring

    app.state.monitor = Monitor.create()
    app.add_middleware(MonitorMiddleware)
    app.add_middleware(HttpMetricsMiddleware)
    app.include_router(monitoring.router)
