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
        422: {"description": "malformed request, unknown model, or over the message limits"},
        503: detail("the prompt encoder failed on this request's batch; retry"),
    },
)
async def route(req: RouteRequest, request: Request) -> RouteResponse:
    """Route a prompt (or messages); the response's ``token`` must accompany feedback."""
    service = request.app.state.service
    out: RouteResponse = await service.requests.route(req, request_identity(request))
    return out
