"""``HttpMetricsMiddleware``: each request's latency and error status, by route template."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: The route label of a request no route matched (raw paths would grow the label set forever).
UNMATCHED = "<unmatched>"


class HttpMetricsMiddleware:
    """A pure ASGI middleware: times every HTTP request to the end of its answer and counts
    the 4xx and 5xx answers, labelled with the matched route's template (``/models/{name}``,
    not ``/models/openai/gpt-4o``). An exception out of the app counts as a 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def watched(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, watched)
        finally:
            matched = scope.get("route")
            route = getattr(matched, "path_format", None) or getattr(matched, "path", None)
            route = route or UNMATCHED
            scope["app"].state.monitor.metrics.observe_request(
                scope["method"], str(route), status, time.perf_counter() - start
            )
