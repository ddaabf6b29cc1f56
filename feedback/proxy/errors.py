"""Errors shaped like OpenAI's: ``{"error": {"message", "type", "param", "code"}}``.

Every error under ``/v1`` has this shape, whoever raises it (:func:`openai_path`): the proxy's
own refusals, and the 404, 405 and 413 of routing and the body cap (:func:`status_error`).
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import Request
from fastapi.responses import JSONResponse


class OpenAIError(Exception):
    """A refused proxy request; rendered by :func:`openai_error_response`."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.headers = headers or {}
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param

    def body(self) -> dict[str, dict[str, str | None]]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


#: OpenAI's ``code`` for the statuses the framework answers with.
_CODES = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}


def openai_path(path: str) -> bool:
    """Whether errors at ``path`` are OpenAI-shaped (the proxy's ``/v1``)."""
    return path == "/v1" or path.startswith("/v1/")


def status_error(
    status: int, message: str, headers: Mapping[str, str] | None = None
) -> OpenAIError:
    """An error by its status alone (a 4xx is the request's fault, a 5xx the service's).

    >>> status_error(413, "too big").body()["error"]["code"]
    'request_too_large'
    """
    kind = (
        "rate_limit_error"
        if status == 429
        else "invalid_request_error"
        if status < 500
        else "api_error"
    )
    return OpenAIError(
        status, message, type=kind, code=_CODES.get(status), headers=dict(headers or {})
    )


def unauthorized(message: str) -> OpenAIError:
    return OpenAIError(401, message, type="invalid_request_error", code="invalid_api_key")


def model_not_found(model: object) -> OpenAIError:
    return OpenAIError(
        404,
        f"The model {model!r} does not exist: use 'router' or a pool model (GET /v1/models)",
        code="model_not_found",
        param="model",
    )


async def openai_error_response(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, OpenAIError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
    return JSONResponse(exc.body(), status_code=exc.status, headers={**headers, **exc.headers})
