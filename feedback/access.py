"""Which key guards which endpoint, as FastAPI security schemes (so ``/openapi.json`` and
``/docs`` say so) and the read-key check.

- ``clientKey``: ``Authorization: Bearer KEY``, a key of ``ROUTING_AGENT_CLIENT_KEYS``, on
  ``/v1/*``, ``/route`` and ``/feedback`` (:mod:`feedback.proxy.auth`).
- ``adminKey``: ``X-API-Key`` equal to ``ROUTING_AGENT_API_KEY``, on ``/admin/*`` and the
  model changes (:mod:`feedback.deps`).
- the read endpoints (``/report``, ``/report.html``, ``/metrics``, ``GET /models``,
  ``/openapi.json``, ``/docs`` and its assets) are open unless ``ROUTING_AGENT_READ_KEYS`` is
  set; then they take any key the service knows (a read key, a client key or the admin key)
  as ``Authorization: Bearer KEY`` (what Prometheus sends), as HTTP Basic's password (what a
  browser asks for), or the admin key as ``X-API-Key``.

``/healthz`` is always open.

>>> read_token("Bearer k1"), read_token("Basic " + base64.b64encode(b"me:k2").decode())
(b'k1', b'k2')
>>> read_token("Basic !!"), read_token(None)
(None, None)
"""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader
from fastapi.security.http import HTTPBase
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from feedback.settings import Settings

#: What a browser shows when asking for a read key (as HTTP Basic's password).
REALM = 'Basic realm="routing-agent: a read key as password", charset="UTF-8"'


class AuthorizationHeader(HTTPBase):
    """An HTTP authentication scheme for the schema; the dependency yields the raw
    ``Authorization`` header (checked by the caller, cheaply, or not at all when open)."""

    async def __call__(self, request: Request) -> str | None:  # type: ignore[override]
        return request.headers.get("authorization")


CLIENT_SCHEME = AuthorizationHeader(
    scheme="bearer",
    scheme_name="clientKey",
    description="A client key (ROUTING_AGENT_CLIENT_KEYS) as Authorization: Bearer KEY",
    auto_error=False,
)
ADMIN_SCHEME = APIKeyHeader(
    name="X-API-Key",
    scheme_name="adminKey",
    description="The admin key (ROUTING_AGENT_API_KEY)",
    auto_error=False,
)
READ_BASIC_SCHEME = AuthorizationHeader(
    scheme="basic",
    scheme_name="readBasic",
    description="Any known key as HTTP Basic's password (any user name), as a browser sends it",
    auto_error=False,
)


def keys(raw: str | None) -> list[bytes]:
    """The keys of a comma list (blanks dropped).

    >>> keys(" a, b ,,"), keys(None)
    ([b'a', b'b'], [])
    """
    return [k.strip().encode() for k in (raw or "").split(",") if k.strip()]


def matches(known: list[bytes], given: bytes) -> bool:
    """Whether ``given`` is one of ``known``, comparing with every key (no early exit), so
    timing does not tell which matched."""
    return matched_key(known, given) is not None


def matched_key(known: list[bytes], given: bytes) -> bytes | None:
    """The key of ``known`` that ``given`` is, compared with every key (no early exit).

    >>> matched_key([b"a", b"b"], b"b"), matched_key([b"a"], b"c")
    (b'b', None)
    """
    found = None
    for key in known:
        if hmac.compare_digest(given, key):
            found = key
    return found


def bearer_token(authorization: str | None) -> bytes | None:
    """The token of ``Authorization: Bearer TOKEN``, however spaced and cased; None if the
    header is missing or another scheme.

    >>> [bearer_token(h) for h in ("Bearer k", "  bearer\tk ", "BEARER   k", "Basic k", None)]
    [b'k', b'k', b'k', None, None]
    """
    parts = (authorization or "").split(None, 1)
    if len(parts) != 2 or parts[0].lower() != "bearer":
        return None
    return parts[1].strip().encode()


def read_token(authorization: str | None) -> bytes | None:
    """The key in ``Authorization: Bearer KEY`` or HTTP Basic's password; None if neither."""
    if authorization is None:
        return None
    token = bearer_token(authorization)
    if token is not None:
        return token
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True)
        except (binascii.Error, ValueError):
            return None
        return decoded.partition(b":")[2]
    return None


def check_read(settings: Settings, authorization: str | None, x_api_key: str | None) -> None:
    """Pass when ``read_keys`` is unset, or a known key is given; else 401 with a Basic
    challenge (a browser then asks for it)."""
    if not settings.read_keys:
        return
    admin = settings.api_key.encode() if settings.api_key else None
    if admin and x_api_key is not None and hmac.compare_digest(x_api_key.encode(), admin):
        return
    token = read_token(authorization)
    known = keys(settings.read_keys) + keys(settings.client_keys) + ([admin] if admin else [])
    if token is not None and matches(known, token):
        return
    raise HTTPException(
        401,
        "missing or wrong key: ROUTING_AGENT_READ_KEYS is set, so give a read, client or admin "
        "key as Authorization: Bearer KEY (or HTTP Basic's password), or X-API-Key",
        headers={"WWW-Authenticate": REALM},
    )


def _settings(request: Request) -> Settings:
    service = getattr(request.app.state, "service", None)
    return service.settings if service is not None else Settings()


async def require_read_key(
    request: Request,
    bearer: Annotated[str | None, Security(CLIENT_SCHEME)],
    basic: Annotated[str | None, Security(READ_BASIC_SCHEME)],
    x_api_key: Annotated[str | None, Security(ADMIN_SCHEME)],
) -> None:
    """The read endpoints' dependency (see the module's docstring)."""
    check_read(_settings(request), bearer, x_api_key)


ReadDep = Depends(require_read_key)


class ReadGuarded:
    """An ASGI app (say, static files) behind :func:`check_read`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            request = Request(scope)
            headers = request.headers
            check_read(_settings(request), headers.get("authorization"), headers.get("x-api-key"))
        await self.app(scope, receive, send)
