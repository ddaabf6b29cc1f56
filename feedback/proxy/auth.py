"""Client keys (``ROUTING_AGENT_CLIENT_KEYS``): ``Authorization: Bearer KEY`` on the proxy,
``/route`` and ``/feedback`` when set; open when unset."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Header, Request

from feedback.proxy.errors import unauthorized


def client_keys(raw: str | None) -> list[bytes]:
    """The keys of a comma list (blanks dropped).

    >>> client_keys(" a, b ,,"), client_keys(None)
    ([b'a', b'b'], [])
    """
    return [k.strip().encode() for k in (raw or "").split(",") if k.strip()]


def require_client_key(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> None:
    """Pass if no client keys are configured, or the bearer token is one of them."""
    keys = client_keys(request.app.state.service.settings.client_keys)
    if not keys:
        return
    if authorization is None:
        raise unauthorized("missing Authorization: Bearer <client key>")
    scheme, _, token = authorization.partition(" ")
    given = token.strip().encode()
    # compare against every key (no early exit), so timing does not tell which matched
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(given, key)
    if scheme.lower() != "bearer" or not matched:
        raise unauthorized("wrong client key")


ClientDep = Depends(require_client_key)
