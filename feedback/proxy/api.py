"""``GET /v1/models`` and ``POST /v1/chat/completions``: the OpenAI-compatible proxy."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import ValidationError
from starlette.background import BackgroundTask

from agent.decision import Decision
from feedback.api.responses import CLIENT, openai
from feedback.errors import ServiceError
from feedback.identity import request_identity
from feedback.limits import check_messages
from feedback.proxy.auth import ClientDep
from feedback.proxy.caller import AllUpstreamsFailed, Answer
from feedback.proxy.errors import OpenAIError, model_not_found, status_error
from feedback.proxy.openai_body import route_fields
from feedback.proxy.proxy import ROUTER, Proxy
from feedback.routed_text import routed_messages
from feedback.schemas import RouteRequest
from feedback.settings import Settings

logger = logging.getLogger(__name__)

router = APIRouter(
    prefix="/v1",
    tags=["openai"],
    dependencies=[ClientDep],
    responses={**CLIENT, 404: openai("the proxy is off (no upstreams file)")},
)


def _proxy(request: Request) -> Proxy:
    proxy: Proxy | None = getattr(request.app.state, "proxy", None)
    if proxy is None:
        raise OpenAIError(
            404,
            "the OpenAI-compatible proxy is off: start the service with --upstreams FILE "
            "(or ROUTING_AGENT_UPSTREAMS)",
            code="proxy_disabled",
        )
    return proxy


@router.get("/models")
def list_models(request: Request) -> dict[str, Any]:
    """``router`` and every pool model that has an upstream, as OpenAI lists models."""
    proxy = _proxy(request)
    names = [
        ROUTER,
        *(m for m in request.app.state.service.router.models if proxy.upstreams.serves(m)),
    ]
    created = int(time.time())
    return {
        "object": "list",
        "data": [
            {"id": n, "object": "model", "created": created, "owned_by": "routing-agent"}
            for n in names
        ],
    }


async def _body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body())
    except ValueError as exc:
        raise OpenAIError(400, f"the body is not valid JSON ({exc})") from exc
    if not isinstance(body, dict):
        raise OpenAIError(400, "the body must be a JSON object")
    return body


def _route_request(
    body: Mapping[str, Any], allowed: list[str], settings: Settings, turns: int
) -> RouteRequest:
    """What routing reads of a chat: the limits are checked on the whole chat, and only the
    slice the encoder reads (:mod:`feedback.routed_text`) is validated as ``POST /route``'s."""
    fields = route_fields(body)
    if "tags" not in RouteRequest.model_fields:
        fields.pop("tags", None)
    messages = fields["messages"]
    if isinstance(messages, list):
        texts = [m.get("content") if isinstance(m, Mapping) else None for m in messages]
        try:
            check_messages(settings, None, [t if isinstance(t, str) else "" for t in texts])
        except ServiceError as exc:
            raise OpenAIError(400, str(exc), param="messages", code="too_large") from exc
        fields["messages"] = routed_messages(messages, turns=turns, chars=settings.embed_turn_chars)
    try:
        return RouteRequest(**fields, allowed=allowed)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err.get("loc", ()))
        raise OpenAIError(
            400, f"{where}: {err['msg']}" if where else err["msg"], param=where or None
        ) from exc


@router.post(
    "/chat/completions",
    responses={
        400: openai(
            "the body is not a JSON object, or not a valid chat to route, or over "
            "ROUTING_AGENT_MAX_MESSAGES or ROUTING_AGENT_MAX_MESSAGE_CHARS"
        ),
        404: openai("unknown model, or the proxy is off"),
        413: openai("the body is larger than ROUTING_AGENT_MAX_BODY_BYTES"),
        502: openai("every upstream tried failed (each one's reason in the message)"),
        503: openai("the prompt encoder failed; retry"),
    },
)
async def chat_completions(request: Request) -> Response:
    """Route (``model: "router"``) or pass through (a pool model's name), call the upstream,
    answer with its response and the ``x-routing-*`` headers feedback needs."""
    proxy = _proxy(request)
    service = request.app.state.service
    body = await _body(request)
    name = body.get("model")
    served = [m for m in service.router.models if proxy.upstreams.serves(m)]
    if name == ROUTER:  # around open breakers; if every one is open, the best model is tried
        allowed = proxy.health.routable(served) or served
    elif isinstance(name, str) and name in served:
        allowed = [name]
    else:
        raise model_not_found(name)
    req = _route_request(body, allowed, service.settings, service.router.max_turns)
    try:
        d = await service.requests.choose(req, request_identity(request))
    except ServiceError as exc:
        raise status_error(400 if exc.status == 422 else exc.status, str(exc)) from exc
    order = proxy.order(d, service.settings.proxy_attempts) if name == ROUTER else [d.model]
    stream = body.get("stream") is True
    # The decision commits while the upstream works; the answer does not wait for it (feedback
    # queues behind it here, and waits for it on another replica: RequestLogic.feedback).
    stored = proxy.background(service.requests.record(d))
    stored.add_done_callback(functools.partial(_stored, d.id))
    try:
        answer = await proxy.caller.open(order, body, stream=stream)
    except AllUpstreamsFailed as exc:
        raise OpenAIError(
            502, f"every upstream tried failed: {exc}", type="api_error", code="upstream_failed"
        ) from exc
    resp = answer.response
    if resp.status_code >= 400:  # the upstream refused the request: not an answer
        content = await resp.aread() if stream else resp.content
        await resp.aclose()
        return Response(content, resp.status_code, media_type=resp.headers.get("content-type"))
    if answer.model != d.model:
        await service.requests.reassign(d, answer.model)
    headers = proxy.headers(d, answer)
    budget = service.requests.budget_for(req) if req.lam is None else None
    if stream:
        return StreamingResponse(
            _relay(request, proxy, d, answer, budget),
            status_code=resp.status_code,
            media_type=resp.headers.get("content-type", "text/event-stream"),
            headers=headers,
        )
    try:
        data = resp.json()
    except ValueError:
        return Response(
            resp.content,
            resp.status_code,
            headers=headers,
            media_type=resp.headers.get("content-type"),
        )
    usage = data.get("usage") if isinstance(data, dict) else None
    if isinstance(data, dict):
        data["model"] = answer.model
    # Monitoring counts the answer once it is sent, as it counts /route's.
    observe = BackgroundTask(_observe, request.app, proxy, d, answer, usage, budget)
    return JSONResponse(data, resp.status_code, headers=headers, background=observe)


def _stored(decision_id: str, task: asyncio.Task[Any]) -> None:
    """Log a decision row that failed to commit (its answer has gone out already)."""
    if not task.cancelled() and task.exception() is not None:
        logger.error("decision %s was not stored: %s", decision_id, task.exception())


async def _observe(
    app: Any,
    proxy: Proxy,
    d: Decision,
    answer: Answer,
    usage: Mapping[str, Any] | None,
    budget: float | None,
) -> None:
    try:
        proxy.observe(app, d, answer, usage, budget)
    except Exception:  # monitoring must never break serving
        logger.exception("monitoring failed to observe decision %s", d.id)


async def _relay(
    request: Request, proxy: Proxy, d: Decision, answer: Answer, budget: float | None
) -> AsyncIterator[bytes]:
    """The upstream's SSE events as they come, each chunk's ``model`` set to the pool model;
    closing (the client went away) closes the upstream response."""
    usage: Mapping[str, Any] | None = None
    event: list[str] = []
    try:
        async for line in answer.response.aiter_lines():
            if line.startswith("data:") and line[5:].strip().startswith("{"):
                line, seen = _rewrite(line, answer.model)
                usage = seen or usage
            event.append(line)
            if not line:
                yield ("\n".join(event) + "\n").encode()
                event = []
        if event:
            yield ("\n".join(event) + "\n\n").encode()
    finally:
        await answer.response.aclose()
    proxy.observe(request.app, d, answer, usage, budget)


def _rewrite(line: str, model: str) -> tuple[str, Mapping[str, Any] | None]:
    """A ``data:`` line with ``model`` replaced, and the chunk's usage if it reports one."""
    try:
        chunk = json.loads(line[5:])
    except ValueError:
        return line, None
    if not isinstance(chunk, dict):
        return line, None
    chunk["model"] = model
    usage = chunk.get("usage")
    return "data: " + json.dumps(chunk, separators=(",", ":")), (
        usage if isinstance(usage, Mapping) else None
    )
