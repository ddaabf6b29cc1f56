"""Recording decisions for monitoring without touching the request path's code.

:class:`MonitorMiddleware` is a pure ASGI middleware. After a successful ``POST /route`` it reads
the response body (the public :class:`~feedback.schemas.RouteResponse`), asks the live router's
posterior what the decision looked like (:func:`decision_stat`), counts it in the Prometheus
metrics and buffers a :class:`~feedback.monitoring.tables.DecisionStat` row; buffered rows are
written in batches (off the event loop) and on shutdown. After ``POST /feedback`` it counts the
feedback by model and kind. A failure here is logged, never raised into the request.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
from anyio import to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agent.contexts import level_cells
from agent.router import Router
from policies.context import ROW_FIELDS, Context

logger = logging.getLogger(__name__)

PROPENSITY_SAMPLES = 256


def decision_stat(router: Router, body: Mapping[str, Any], now: float) -> dict[str, Any] | None:
    """The :class:`DecisionStat` values of one routing response, under the current posterior.

    ``regret`` is the best posterior-mean utility among the eligible models (those with a
    score) minus the chosen model's, in the decision's cluster weights. ``propensity`` is the
    router's own when it logged one, else the policy's choice probability recomputed now;
    None for a sticky decision (not randomised) and when the response does not carry all of
    the decision's context (the public response has its weights only). Returns None if the
    pool changed under us.
    """
    policy = router.view()
    try:
        names = policy.models
        j = names.index(str(body["model"]))
        told = Context.from_row({k: body[k] for k in ROW_FIELDS if body.get(k) is not None})
        ctx = replace(told, cells=level_cells(policy, told.cells))
        weights = ctx.weights
        # Without all of the decision's context, the policy chose on information we lack.
        knows_all = -1 not in ctx.cells
        scores = body.get("scores") or {}
        eligible = np.array([scores.get(n) is not None for n in names])
        if not eligible.any():
            eligible[:] = True
        lam = float(body["lam"])
        costs = policy.costs
        u = policy.mean_scores(ctx, eligible=None if eligible.all() else eligible, lam=lam)
        propensity = body.get("propensity")
        if propensity is None and not body.get("sticky") and knows_all:
            probs = policy.choice_probabilities(
                ctx,
                eligible=None if eligible.all() else eligible,
                lam=lam,
                samples=PROPENSITY_SAMPLES,
            )
            propensity = float(probs[j])
    except (KeyError, ValueError, IndexError, RuntimeError):
        logger.warning("could not record decision %s for monitoring", body.get("decision_id"))
        return None
    p = None if propensity is None else float(propensity)
    return {
        "decision_id": str(body["decision_id"]),
        "created_at": float(now),
        "model": names[j],
        "cluster": int(np.argmax(weights)),
        "lam": lam,
        "cost": float(costs[j]),
        "propensity": p if p is not None and 0.0 < p <= 1.0 else None,
        "regret": float(u.max() - u[j]) if math.isfinite(u[j]) else None,
    }


class MonitorMiddleware:
    """Feeds the app's :class:`~feedback.monitoring.monitor.Monitor` from route and feedback
    responses; flushes its buffer when the app shuts down."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, self._on_shutdown(scope, receive), send)
            return
        path = scope.get("path")
        if scope["type"] != "http" or scope["method"] != "POST" or path not in _WATCHED:
            await self.app(scope, receive, send)
            return
        status, chunks = 0, []

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, capture)
        if status in (200, 201):
            try:
                await self._observe(scope, str(path), json.loads(b"".join(chunks)))
            except Exception:  # monitoring must never break serving
                logger.exception("monitoring failed to observe %s", path)

    async def _observe(self, scope: Scope, path: str, body: dict[str, Any]) -> None:
        app = scope["app"]
        monitor = app.state.monitor
        service = app.state.service
        if path == "/feedback":
            monitor.count_feedback(body)
            return
        stat = decision_stat(service.router, body, service.clock())
        if stat is not None and monitor.add(stat):
            await to_thread.run_sync(monitor.flush, service.engine)

    def _on_shutdown(self, scope: Scope, receive: Receive) -> Receive:
        async def wrapped() -> Message:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                app = scope["app"]
                service = getattr(app.state, "service", None)
                if service is not None:
                    try:
                        await to_thread.run_sync(app.state.monitor.flush, service.engine)
                    except Exception:
                        logger.exception("final monitoring flush failed")
            return message

        return wrapped


_WATCHED = ("/route", "/feedback")
