"""Calling upstreams: the models in order, past open circuit breakers and failed upstreams.

An upstream **fails** a call with a timeout, a connection or TLS error, a redirect (the proxy
follows none: a POST cannot be replayed safely elsewhere), a 429 or a 5xx; a 4xx other than
429 is the request's own fault and is the answer. A failure moves on to the next model, after
resending the request to the same upstream up to its ``max_retries`` times, **but only when the
upstream cannot have processed it**: the connection failed before the request was sent, or the
upstream answered 429 or 503. A request whose body was written and then got no answer (a read
timeout, a dropped connection, a 500, 502 or 504) is never sent to that upstream again: it may
be generating, and paid for, already. The HTTP clients are httpx's
(:mod:`feedback.proxy.clients`); tests pass ``httpx.MockTransport(handler)``.
"""

from __future__ import annotations

import json
import logging
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from feedback.proxy.clients import UpstreamClients
from feedback.proxy.health import Health
from feedback.proxy.openai_body import upstream_body
from feedback.proxy.upstreams import Upstream, Upstreams

logger = logging.getLogger(__name__)

#: Statuses by which an upstream says it did not process the request (it may be resent).
NOT_PROCESSED = frozenset({429, 503})
#: Errors raised before a byte of the request was sent (it may be resent).
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class AllUpstreamsFailed(Exception):
    """Every model tried failed; ``failures`` says how, model by model."""

    def __init__(self, failures: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{m}: {why}" for m, why in failures))
        self.failures = failures


@dataclass
class Answer:
    """An open upstream response (``stream`` or read) and the pool model that gave it."""

    model: str
    upstream: Upstream
    response: httpx.Response


@dataclass(frozen=True)
class Failure:
    """Why a call failed, and whether the same upstream may get the request again."""

    why: str
    resend: bool


#: Sent with every upstream request (besides ``Authorization`` when the upstream has a key).
HEADERS = {"Accept": "application/json", "User-Agent": "routing-agent"}


@dataclass(frozen=True)
class _Target:
    """What every request to one upstream shares, built once."""

    url: httpx.URL
    headers: dict[str, str]
    extensions: dict[str, Any]


class UpstreamCaller:
    """:meth:`open` tries models in order through ``clients``, minding their breakers."""

    def __init__(
        self,
        upstreams: Upstreams,
        clients: UpstreamClients,
        health: Health,
        *,
        on_failure: Callable[[str], None] | None = None,
    ) -> None:
        self.upstreams = upstreams
        self.clients = clients
        self.health = health
        self.on_failure = on_failure
        self._targets: dict[str, _Target] = {}

    async def aclose(self) -> None:
        await self.clients.aclose()

    def _target(self, up: Upstream) -> _Target:
        target = self._targets.get(up.name)
        if target is None:
            headers = dict(HEADERS, **{"Content-Type": "application/json"})
            if up.api_key:
                headers["Authorization"] = f"Bearer {up.api_key}"
            target = self._targets[up.name] = _Target(
                httpx.URL(f"{up.base_url}/chat/completions"),
                headers,
                {"timeout": httpx.Timeout(up.timeout_s).as_dict()},
            )
        return target

    async def open(
        self, models: Sequence[str], body: Mapping[str, Any], *, stream: bool = False
    ) -> Answer:
        """The first model (in order) whose upstream answers, skipping those whose breaker
        keeps calls away; when every breaker does, the first model is tried all the same. With
        ``stream`` the response is left open (stream it, then close it), else read."""
        failures: list[tuple[str, str]] = []
        tried = False
        for name in models:
            if not self.health.admit(name):
                failures.append((name, f"skipped: circuit breaker {self.health.state(name)}"))
                continue
            tried = True
            answer = await self._call(name, body, stream, failures)
            if answer is not None:
                return answer
        if not tried and models:
            answer = await self._call(models[0], body, stream, failures)
            if answer is not None:
                return answer
        raise AllUpstreamsFailed(failures)

    async def _call(
        self, name: str, body: Mapping[str, Any], stream: bool, failures: list[tuple[str, str]]
    ) -> Answer | None:
        """Call model ``name``'s upstream, resending while it did not process the request."""
        up = self.upstreams.get(name)
        for _ in range(1 + up.max_retries):
            try:
                outcome = await self._try(up, body, stream)
            except BaseException:  # cancelled: no outcome to judge the upstream by
                self.health.released(name)
                raise
            if isinstance(outcome, httpx.Response):
                self.health.succeeded(name)
                return Answer(name, up, outcome)
            failures.append((name, outcome.why))
            logger.warning("upstream of %s failed: %s", name, outcome.why)
            self.health.failed(name)
            if self.on_failure is not None:
                self.on_failure(name)
            if not outcome.resend:
                break
        return None

    async def _try(
        self, up: Upstream, body: Mapping[str, Any], stream: bool
    ) -> httpx.Response | Failure:
        target = self._target(up)
        content = json.dumps(
            upstream_body(body, up.model), ensure_ascii=False, separators=(",", ":")
        ).encode()
        request = httpx.Request(
            "POST",
            target.url,
            content=content,
            headers=target.headers,
            extensions=target.extensions,
        )
        response: httpx.Response | None = None
        try:
            response = await self.clients.client(up.ca_bundle).send(request, stream=True)
            failure = _refusal(response)
            if failure is None and not stream:
                await response.aread()
        except httpx.TimeoutException as exc:
            failure = Failure(
                f"timed out after {up.timeout_s:g}s ({type(exc).__name__})",
                isinstance(exc, NOT_SENT),
            )
        except httpx.TransportError as exc:
            failure = Failure(_transport_error(exc), isinstance(exc, NOT_SENT))
        if failure is None:
            assert response is not None
            return response
        if response is not None:
            await response.aclose()
        return failure


def _refusal(response: httpx.Response) -> Failure | None:
    """The failure an upstream's status says, if it says one (see the module)."""
    status = response.status_code
    if 300 <= status < 400:
        where = response.headers.get("location", "(no Location)")
        return Failure(
            f"HTTP {status} redirect to {where}: the proxy follows no redirect; set base_url "
            "to the address that answers",
            resend=False,
        )
    if status >= 500 or status == 429:
        return Failure(f"HTTP {status}", resend=status in NOT_PROCESSED)
    return None


def _transport_error(exc: httpx.TransportError) -> str:
    """What went wrong on the wire, naming a TLS failure's cause."""
    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, ssl.SSLError):
        cause = cause.__cause__ or cause.__context__
    if isinstance(cause, ssl.SSLCertVerificationError):
        return (
            f"TLS certificate verification failed ({cause.verify_message}); for a private CA "
            "set ca_bundle in the upstreams file"
        )
    if isinstance(cause, ssl.SSLError):
        return f"TLS error ({cause.reason or cause})"
    return f"connection error ({type(exc).__name__}: {str(exc) or 'no detail'})"
