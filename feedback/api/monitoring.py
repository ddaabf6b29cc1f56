"""``GET /report`` (JSON), ``GET /report.html`` and ``GET /metrics`` (Prometheus text)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from agent.report_kit import sanitise
from feedback.access import ReadDep
from feedback.api.responses import READ, detail, json_detail
from feedback.monitoring.cache import ReportCache
from feedback.monitoring.page import render_page
from feedback.monitoring.report import build_report
from feedback.service import RoutingService

router = APIRouter(tags=["monitoring"], dependencies=[ReadDep], responses=READ)


def report_cache(request: Request) -> ReportCache:
    """The app's report cache (made on first use), whose builds run off the event loop."""
    state = request.app.state
    cache: ReportCache | None = getattr(state, "report_cache", None)
    if cache is None:
        service: RoutingService = state.service
        monitor = state.monitor

        def build() -> dict[str, Any]:
            monitor.flush(service.engine)
            with service.session() as session:
                report = build_report(session, service.router)
            monitor.metrics.publish(report)
            proxy = getattr(state, "proxy", None)
            if proxy is not None:  # this process's circuit breakers, as the report is built
                report["upstreams"] = proxy.health.views()
            out: dict[str, Any] = sanitise(report)
            return out

        cache = ReportCache(build, ttl=service.settings.report_ttl, render=render_page)
        state.report_cache = cache
    return cache


@router.get("/report", responses={503: detail("the report could not be built")})
async def report_json(request: Request) -> JSONResponse:
    """The monitoring report: estimated regret, savings, off-policy values, traffic, posterior
    per cluster, feedback mix and drift alarms, each saying how it was estimated. Built in the
    background and cached for ``ROUTING_AGENT_REPORT_TTL`` seconds (503 if it cannot be)."""
    return JSONResponse((await report_cache(request).get()).data)


@router.get(
    "/report.html",
    response_class=HTMLResponse,
    responses={
        401: json_detail(READ[401]["description"]),
        503: json_detail("the report could not be built"),
    },
)
async def report_html(request: Request) -> HTMLResponse:
    """The same report as one self-contained page with inline plots."""
    return HTMLResponse((await report_cache(request).get()).html())


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def metrics(request: Request) -> Response:
    """Prometheus text format: this process's counters and the last report's figures."""
    return Response(request.app.state.monitor.metrics.render(), media_type=CONTENT_TYPE_LATEST)
