"""The proxy's state on the app: upstreams, the caller, the upstreams' health and its
metrics, and the bookkeeping of an answered decision (its routing headers, its real cost for
monitoring)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Mapping, Sequence
from typing import Any, TypeVar

import httpx
from anyio import to_thread
from prometheus_client import Counter, Gauge

from agent.decision import Decision
from feedback.monitoring.metrics import Metrics
from feedback.monitoring.recorder import decision_stat
from feedback.proxy.caller import Answer, UpstreamCaller
from feedback.proxy.clients import UpstreamClients
from feedback.proxy.health import STATE_VALUES, Health
from feedback.proxy.upstreams import UpstreamConfigError, Upstreams
from feedback.request_logic import route_response
from feedback.service import RoutingService
from feedback.settings import Settings

logger = logging.getLogger(__name__)

ROUTER = "router"

T = TypeVar("T")


class Proxy:
    """What ``/v1/*`` needs besides the routing service; build with :meth:`create`."""

    def __init__(
        self,
        upstreams: Upstreams,
        caller: UpstreamCaller,
        health: Health,
        failures: Counter,
        breakers: Gauge,
    ) -> None:
        self.upstreams = upstreams
        self.caller = caller
        self.health = health
        self.failures = failures
        self.breakers = breakers
        self._tasks: set[asyncio.Task[Any]] = set()

    @classmethod
    def create(
        cls,
        upstreams: Upstreams,
        pool: Sequence[str],
        settings: Settings,
        metrics: Metrics,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> Proxy:
        """The proxy of the ``pool``'s models for ``settings``, its metrics on ``metrics``'
        registry (the breaker gauges are brought up to date on each ``/metrics``)."""
        failures = Counter(
            "routing_upstream_failures",
            "Upstream calls that failed (5xx, 429, redirect, timeout, connection error) by "
            "pool model",
            ["model"],
            registry=metrics.registry,
        )
        breakers = Gauge(
            "routing_upstream_breaker_state",
            "Circuit breaker of each pool model's upstream: 0 closed, 1 half-open, 2 open",
            ["model"],
            registry=metrics.registry,
            multiprocess_mode="livemax",
        )
        health = Health(settings.breaker_rules())
        clients = UpstreamClients(
            httpx.Limits(
                max_connections=settings.upstream_connections,
                max_keepalive_connections=settings.upstream_keepalive,
            ),
            transport=transport,
        )
        for model in pool:
            health.breaker(model)
        for ca_bundle in sorted({upstreams.get(m).ca_bundle or "" for m in pool}):
            try:  # now, so that a proxy variable httpx cannot use stops the start-up
                clients.client(ca_bundle or None)
            except (ImportError, ValueError) as exc:
                raise UpstreamConfigError(
                    f"the upstreams' HTTP client cannot start: {exc} (see HTTP_PROXY, "
                    "HTTPS_PROXY, ALL_PROXY)"
                ) from exc
        caller = UpstreamCaller(
            upstreams, clients, health, on_failure=lambda m: failures.labels(model=m).inc()
        )
        proxy = cls(upstreams, caller, health, failures, breakers)
        metrics.on_render(proxy.publish_health)
        return proxy

    def publish_health(self) -> None:
        """Set each model's breaker gauge (read when ``/metrics`` is, as a cool-down ends
        with no call to notice it)."""
        for model, view in self.health.views().items():
            self.breakers.labels(model=model).set(STATE_VALUES[view["state"]])

    async def aclose(self) -> None:
        await self.caller.aclose()

    @staticmethod
    def order(d: Decision, attempts: int) -> list[str]:
        """The models to try: the chosen one, then the others by the policy's score."""
        rest = sorted(
            (m for m, s in d.scores.items() if s is not None and m != d.model),
            key=lambda m: -(d.scores[m] or 0.0),
        )
        return [d.model, *rest][: max(1, attempts)]

    @staticmethod
    def headers(d: Decision, answer: Answer) -> dict[str, str]:
        assert d.token is not None
        return {
            "x-routing-decision-id": d.id,
            "x-routing-token": d.token,
            "x-routing-model": answer.model,
        }

    def observe(
        self,
        app: Any,
        d: Decision,
        answer: Answer,
        usage: Mapping[str, Any] | None,
        budget: float | None,
    ) -> None:
        """Count the answered decision for monitoring, at its real cost (usage × the
        upstream's prices) when known, else the answering model's pool cost; the pacer that
        chose it (``budget``) hears that cost instead of the chosen model's."""
        service: RoutingService = app.state.service
        monitor = app.state.monitor
        body = route_response(d).model_dump()
        body["model"] = answer.model
        stat = decision_stat(service.router, body, service.clock())
        if stat is None:
            return
        real = answer.upstream.cost(usage)
        if real is None and answer.model != d.model:
            real = float(stat["cost"])  # a fallback: the answering model's pool cost
        if real is not None:
            service.requests.real_cost(d, budget, real)
            stat["cost"] = real
        if monitor.add(stat):
            self.background(to_thread.run_sync(monitor.flush, service.engine))

    def background(self, work: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Run ``work`` as a task nobody awaits, held until it ends."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task
