"""``POST /feedback``: a label, score or thumb on a decision, counted exactly once."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response

from feedback.api.responses import BODY, CLIENT, detail
from feedback.identity import request_identity
from feedback.proxy.auth import ClientDep
from feedback.schemas import FeedbackRequest, FeedbackResponse
from feedback.validation import SafeStr

router = APIRouter(tags=["feedback"], dependencies=[ClientDep])

_RESPONSES: dict[int | str, dict[str, Any]] = {
    **BODY,
    **CLIENT,
    200: {"description": "a duplicate: the feedback was already counted"},
    403: detail("missing or invalid decision token"),
    404: detail("unknown decision"),
    409: detail(
        "a different value was already stored for this decision, kind and source; the body's "
        "``stored`` shows it"
    ),
    410: detail("the decision's feedback window (TTL) has closed"),
    422: {"description": "malformed body or value out of range"},
}


@router.post("/feedback", status_code=201, responses=_RESPONSES)
async def post_feedback(
    req: FeedbackRequest,
    request: Request,
    response: Response,
    idempotency_key: Annotated[SafeStr | None, Header(min_length=1, max_length=200)] = None,
) -> FeedbackResponse:
    """Acknowledged (201) only after the row commits; a repeat answers 200, ``duplicate``.
    The feedback is attributed to the client's identity (its client key, else its address);
    ``source`` or ``user``, if given, is scoped under it."""
    requests = request.app.state.service.requests
    out: FeedbackResponse = await requests.feedback(req, idempotency_key, request_identity(request))
    if out.duplicate:
        response.status_code = 200
    return out
