"""Client keys (``ROUTING_AGENT_CLIENT_KEYS``): ``Authorization: Bearer KEY`` on the proxy,
``/route`` and ``/feedback`` when set; open when unset. The check also finds the request's
identity (:mod:`feedback.identity`: the key that matched, else the address), which its feedback
is attributed to and its rate limit (``ROUTING_AGENT_RATE_LIMIT``) is keyed on."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import Depends, Request, Security

from feedback.access import CLIENT_SCHEME, bearer_token, matched_key
from feedback.access import keys as client_keys
from feedback.identity import key_identity, request_identity
from feedback.proxy.errors import OpenAIError, unauthorized
from feedback.ratelimit import RateLimiter


async def require_client_key(
    request: Request, authorization: Annotated[str | None, Security(CLIENT_SCHEME)]
) -> None:
    """Pass if no client keys are configured, or the bearer token is one of them; then take
    a token from the client's rate-limit bucket (429 with ``Retry-After`` when it is empty)."""
    service = request.app.state.service
    settings = service.settings
    keys = client_keys(settings.client_keys)
    if keys:
        request.state.identity = key_identity(service.secret, _check_key(keys, authorization))
    if settings.rate_limit > 0:
        limiter = _limiter(request, settings.rate_limit, settings.rate_burst)
        wait = limiter.wait(request_identity(request))
        if wait > 0:
            raise OpenAIError(
                429,
                f"rate limit of {settings.rate_limit:g} requests/s per client exceeded; "
                f"retry in {wait:.2f} s",
                type="rate_limit_error",
                code="rate_limit_exceeded",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )


def _limiter(request: Request, rate: float, burst: int) -> RateLimiter:
    limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    if limiter is None:
        limiter = request.app.state.rate_limiter = RateLimiter(rate=rate, burst=burst)
    return limiter


def _check_key(keys: list[bytes], authorization: str | None) -> bytes:
    """The client key the header gives (refused with a 401 if none)."""
    if authorization is None:
        raise unauthorized("missing Authorization: Bearer <client key>")
    token = bearer_token(authorization)
    key = matched_key(keys, token) if token is not None else None
    if key is None:
        raise unauthorized("wrong client key")
    return key


ClientDep = Depends(require_client_key)
