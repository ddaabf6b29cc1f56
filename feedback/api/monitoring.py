"""``GET /report`` (JSON), ``GET /report.html`` and ``GET /metrics`` (Prometheus text)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from feedback.deps import ServiceDep, SessionDep
from feedback.monitoring.page import render_page
from feedback.monitoring.report import build_report
from simulator.report import sanitise

router = APIRouter(tags=["monitoring"])


def _report(request: Request, session: SessionDep, service: ServiceDep) -> dict[str, Any]:
    monitor = request.app.state.monitor
    monitor.flush(service.engine)
    report = build_report(session, service.router)
    monitor.metrics.publish(report)
    out: dict[str, Any] = sanitise(report)
    return out


@router.get("/report")
def report_json(request: Request, session: SessionDep, service: ServiceDep) -> JSONResponse:
    """The monitoring report: estimated regret, savings, off-policy values, traffic, posterior
    per cluster, feedback mix and drift alarms, each saying how it was estimated."""
    return JSONResponse(_report(request, session, service))


@router.get("/report.html", response_class=HTMLResponse)
def report_html(request: Request, session: SessionDep, service: ServiceDep) -> HTMLResponse:
    """The same report as one self-contained page with inline plots."""
    return HTMLResponse(render_page(_report(request, session, service)))


@router.get("/metrics")
def metrics(request: Request) -> Response:
    """Prometheus text format: this process's counters and the last report's figures."""
    return Response(request.app.state.monitor.metrics.render(), media_type=CONTENT_TYPE_LATEST)
