"""``POST /route``: choose a model for a prompt or a conversation."""

from __future__ import annotations

from fastapi import APIRouter, Request

from feedback.api.responses import BODY, CLIENT, detail
from feedback.identity import request_identity
from feedback.proxy.auth import ClientDep
from feedback.schemas import RouteRequest, RouteResponse

router = APIRouter(tags=["routing"], dependencies=[ClientDep])


@router.post(
    "/route",
    responses={
        **BODY,
        **CLIENT,
        404: detail("``allowed`` names a model that is not in the pool"),
        422: {"description": "malformed request, or over the message limits"},
        503: detail("the prompt encoder failed on this request's batch; retry"),
    },
)
async def route(req: RouteRequest, request: Request) -> RouteResponse:
    """Route a prompt (or messages); the response's ``token`` must accompany feedback."""
    service = request.app.state.service
    out: RouteResponse = await service.requests.route(req, request_identity(request))
    return out
