"""The error responses the routes document, with their bodies' shapes: ``{"detail": ...}`` for
the service's own errors, OpenAI's ``{"error": {...}}`` for the client-key and rate-limit
refusals (what OpenAI SDKs parse)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

Responses = dict[int | str, dict[str, Any]]


class ErrorDetail(BaseModel):
    """A refused request and its reason (some answers add fields, say a 409's ``stored``)."""

    detail: str


class OpenAIErrorInfo(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class OpenAIErrorBody(BaseModel):
    error: OpenAIErrorInfo


def detail(description: str) -> dict[str, Any]:
    return {"description": description, "model": ErrorDetail}


def json_detail(description: str) -> dict[str, Any]:
    """:func:`detail` on a route whose own responses are not JSON (its errors still are)."""
    schema = ErrorDetail.model_json_schema()
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def openai(description: str) -> dict[str, Any]:
    return {"description": description, "model": OpenAIErrorBody}


#: Any route that reads a JSON body.
BODY: Responses = {
    400: detail("the body is not JSON, or not UTF-8"),
    413: detail("the body is larger than ROUTING_AGENT_MAX_BODY_BYTES (refused before parsing)"),
}
#: The client endpoints (``ROUTING_AGENT_CLIENT_KEYS``, ``ROUTING_AGENT_RATE_LIMIT``).
CLIENT: Responses = {
    401: openai("missing or wrong client key (Authorization: Bearer KEY)"),
    429: openai("over the client's rate limit; Retry-After says when to try again"),
}
#: The admin endpoints (``ROUTING_AGENT_API_KEY``).
ADMIN: Responses = {401: detail("missing or wrong X-API-Key, or the admin API is off")}
#: The read endpoints (``ROUTING_AGENT_READ_KEYS``).
READ: Responses = {401: detail("ROUTING_AGENT_READ_KEYS is set and no known key was given")}
