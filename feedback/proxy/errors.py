"""Errors shaped like OpenAI's: ``{"error": {"message", "type", "param", "code"}}``."""

from __future__ import annotations

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
