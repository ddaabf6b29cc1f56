"""Shared input types of the API (text without NUL or lone surrogates, strict labels) and the
422 handler, whose echo of the bad input always encodes.

>>> from pydantic import TypeAdapter
>>> TypeAdapter(SafeStr).validate_python("héllo")
'héllo'
>>> TypeAdapter(ModelNameStr).validate_python("openai/gpt-4o")
'openai/gpt-4o'
>>> sanitise({"input": [float("nan"), "a\\ud800", 2.0]})
{'input': ['NaN', 'a\\\\ud800', 2.0]}
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import AfterValidator, BeforeValidator
from starlette.exceptions import HTTPException

#: Longest string echoed back in a 422 (a 1 MB prompt is not worth returning).
ECHO_CHARS = 200


def safe_text(value: str) -> str:
    """Refuse text no database stores as given: NUL bytes (PostgreSQL) and lone surrogates
    (not encodable as UTF-8). Refused, not cleaned: a caller's text is never silently changed."""
    if "\x00" in value:
        raise ValueError(f"must not contain a NUL character (at index {value.index(chr(0))})")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"must be valid Unicode: a lone surrogate {value[exc.start]!r} at index {exc.start}"
        ) from None
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty or only whitespace")
    return value


def _printable(value: str) -> str:
    bad = next((c for c in value if not c.isprintable()), None)
    if bad is not None:
        raise ValueError(f"must hold printable characters only (got {bad!r})")
    return value


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("must be the number 0 or 1, not a boolean")
    return value


#: Any text field of a request.
SafeStr = Annotated[str, AfterValidator(safe_text)]
#: Text to route on: safe and not blank.
PromptStr = Annotated[str, AfterValidator(safe_text), AfterValidator(_not_blank)]
#: A model's name: safe, printable (``/`` and spaces welcome) and not blank.
ModelNameStr = Annotated[
    str, AfterValidator(safe_text), AfterValidator(_printable), AfterValidator(_not_blank)
]
#: A binary label: 0 or 1, never ``true``/``false``.
Label = Annotated[Literal[0, 1], BeforeValidator(_not_bool)]


def sanitise(value: Any) -> Any:
    """``value`` made JSON-encodable: non-finite floats as ``"NaN"``/``"Infinity"``, strings
    with lone surrogates backslash-escaped, bytes decoded, long strings cut."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, bytes):
        value = value.decode("utf-8", "backslashreplace")
    if isinstance(value, str):
        value = value.encode("utf-8", "backslashreplace").decode("utf-8")
        return value if len(value) <= ECHO_CHARS else value[:ECHO_CHARS] + "…"
    if isinstance(value, dict):
        return {str(sanitise(k)): sanitise(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [sanitise(v) for v in value]
    if isinstance(value, int | float | bool) or value is None:
        return value
    return sanitise(str(value))


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422, with its echo of the input made encodable (see :func:`sanitise`)."""
    return JSONResponse({"detail": jsonable_encoder(sanitise(exc.errors()))}, status_code=422)


async def http_error(request: Request, exc: HTTPException) -> Response:
    """FastAPI's answer to an HTTPException; a 400 for an unreadable body also says why (not
    UTF-8, an integer too long to convert)."""
    cause = exc.__cause__
    if exc.status_code == 400 and cause is not None and isinstance(exc.detail, str):
        exc = HTTPException(400, sanitise(f"{exc.detail}: {cause}"), headers=exc.headers)
    return await http_exception_handler(request, exc)
