"""FastAPI dependencies: a database session, the service, and the admin key check."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request, Security
from sqlmodel import Session

from feedback.access import ADMIN_SCHEME
from feedback.errors import Unauthorized
from feedback.service import RoutingService


def get_service(request: Request) -> RoutingService:
    service: RoutingService = request.app.state.service
    return service


def get_db(request: Request) -> Iterator[Session]:
    with get_service(request).session() as session:
        yield session


def require_api_key(
    request: Request, x_api_key: Annotated[str | None, Security(ADMIN_SCHEME)]
) -> None:
    """Admin endpoints need ``X-API-Key`` equal to ``ROUTING_AGENT_API_KEY``."""
    expected = get_service(request).settings.api_key
    if not expected:
        raise Unauthorized("admin API disabled: set ROUTING_AGENT_API_KEY to enable it")
    if x_api_key is None or not hmac.compare_digest(x_api_key.encode(), expected.encode()):
        raise Unauthorized("missing or wrong X-API-Key")


SessionDep = Annotated[Session, Depends(get_db)]
ServiceDep = Annotated[RoutingService, Depends(get_service)]
AdminDep = Depends(require_api_key)
