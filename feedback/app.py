"""``create_app(settings)``: the FastAPI app. Nothing happens at import time."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
from anyio import to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.telemetry import TelemetryConfig
from opentelemetry import metrics, trace
from sqlalchemy import Engine
from starlette.exceptions import HTTPException

from agent.embedder import Embedder
from feedback.api import admin, feedback, health, models, route
from feedback.db import make_engine
from feedback.docs import install_docs
from feedback.errors import ServiceError
from feedback.limits import BodyLimitMiddleware
from feedback.monitoring.hooks import install_monitoring
from feedback.proxy import api as proxy_api
from feedback.proxy.errors import OpenAIError, openai_error_response, openai_path, status_error
from feedback.proxy.proxy import Proxy
from feedback.proxy.upstreams import Upstreams
from feedback.service import RoutingService
from feedback.settings import Settings
from feedback.validation import http_error, validation_error

logger = logging.getLogger(__name__)


async def _follow(service: RoutingService, settings: Settings) -> None:
    """Fold in other replicas' feedback every ``poll_interval``; snapshot now and then."""
    last_snapshot = time.monotonic()
    while True:
        await asyncio.sleep(settings.poll_interval)
        try:
            await to_thread.run_sync(service.sync)
            due = settings.snapshot_interval > 0 and (
                time.monotonic() - last_snapshot >= settings.snapshot_interval
            )
            if due:
                await to_thread.run_sync(service.snapshot)
                last_snapshot = time.monotonic()
        except Exception:  # keep following after a transient database error
            logger.exception("replica sync failed; retrying in %.1fs", settings.poll_interval)


async def _prune(service: RoutingService, settings: Settings) -> None:
    """Every ``prune_interval`` seconds, delete the rows older than ``retention``
    (:mod:`feedback.retention`)."""
    from feedback.retention import prune

    while True:
        await asyncio.sleep(settings.prune_interval)
        try:
            await to_thread.run_sync(lambda: prune(service, older_than=settings.retention))
        except Exception:  # try again next time after a transient database error
            logger.exception("pruning old rows failed; retrying in %.0fs", settings.prune_interval)


_frozen = threading.Event()


def _freeze_startup_heap() -> None:
    """The start-up heap (torch, the model, the pool) lives as long as the process: move it out
    of the cyclic GC's sight, whose full collections would otherwise pause serving for a few
    hundred milliseconds now and then. Once per process."""
    if not _frozen.is_set():
        _frozen.set()
        gc.collect()
        gc.freeze()


def create_app(
    settings: Settings | None = None,
    *,
    embedder: Embedder | None = None,
    engine: Engine | None = None,
    clock: Callable[[], float] = time.time,
    upstream_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """The service. ``settings`` default to :meth:`Settings.from_env` at start-up; the
    embedder, engine, clock and the proxy's upstream transport are seams for tests (built
    from settings when None)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        st = settings or Settings.from_env()
        upstreams = Upstreams.from_file(st.upstreams) if st.upstreams else None
        db = engine if engine is not None else make_engine(st)
        service = RoutingService(st, db, embedder=embedder, clock=clock)
        await to_thread.run_sync(service.start)
        if upstreams is not None:
            upstreams.check_pool(service.router.models)
            app.state.proxy = Proxy.create(
                upstreams,
                service.router.models,
                st,
                app.state.monitor.metrics,
                transport=upstream_transport,
            )
        await to_thread.run_sync(service.warm_up)
        service.observe_encoder(app.state.monitor.metrics.observe_encode)
        _freeze_startup_heap()
        app.state.service = service
        tasks = [asyncio.create_task(_follow(service, st))] if st.poll_interval > 0 else []
        if st.retention > 0 and st.prune_interval > 0:
            tasks.append(asyncio.create_task(_prune(service, st)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if upstreams is not None:
                await app.state.proxy.aclose()
            cache = getattr(app.state, "report_cache", None)
            if cache is not None:
                cache.close()
                app.state.report_cache = None
            await to_thread.run_sync(service.close)
            try:
                await to_thread.run_sync(service.snapshot)
            except Exception:
                logger.exception("final snapshot failed")
            if engine is None:
                db.dispose()

    app = FastAPI(
        title="routing-agent",
        summary="Route each prompt to the LLM that should answer it; learn from feedback.",
        version="0.1.0",
        lifespan=lifespan,
        telemetry=None if _opentelemetry_configured() else _NO_TELEMETRY,
        openapi_url=None,  # served by install_docs, behind the read keys
        docs_url=None,
        redoc_url=None,
    )
    for module in (route, feedback, models, health, admin, proxy_api):
        app.include_router(module.router)
    # Before monitoring, whose middleware wraps it and so counts its 413s too; nothing
    # outside it reads a body.
    app.add_middleware(BodyLimitMiddleware)
    install_monitoring(app)
    install_docs(app)
    app.add_exception_handler(RequestValidationError, validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(OpenAIError, openai_error_response)
    app.add_exception_handler(HTTPException, http_error)  # type: ignore[arg-type]

    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
        if openai_path(request.url.path):
            return await openai_error_response(request, status_error(exc.status, str(exc)))
        return JSONResponse({"detail": str(exc), **exc.extra}, status_code=exc.status)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:
        """A bug's 500 (the error is logged and raised on): OpenAI's shape under ``/v1``."""
        if openai_path(request.url.path):
            error = status_error(500, "the routing service failed on this request")
            return await openai_error_response(request, error)
        return PlainTextResponse("Internal Server Error", status_code=500)

    return app


_NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


def _opentelemetry_configured() -> bool:
    """Whether OpenTelemetry is set up (an ``OTEL_*`` variable, or a tracer or meter provider
    installed before the app is built). If not, FastAPI's native telemetry is switched off:
    it would look the global providers up again on every request (~5% of a feedback request)."""
    if any(k.startswith("OTEL_") for k in os.environ) or os.environ.get(
        "FASTAPI_OTEL_AUTO_CONFIGURE"
    ):
        return True
    providers = (trace.get_tracer_provider(), metrics.get_meter_provider())
    return any(not type(p).__name__.startswith(("Proxy", "NoOp", "_Proxy")) for p in providers)


def app_from_env() -> FastAPI:
    """An app configured from the environment (``ROUTING_AGENT_CONFIG`` names a settings file);
    the factory uvicorn's worker processes import."""
    return create_app(Settings.from_env(config=os.environ.get("ROUTING_AGENT_CONFIG") or None))
