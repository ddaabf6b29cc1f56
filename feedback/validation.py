"""Shared input types of the API (text without NUL or lone surrogates, strict labels) and the
422 handler, whose echo of the bad input always encodes. Model names: :mod:`feedback.model_names`.

>>> from pydantic import TypeAdapter
>>> TypeAdapter(SafeStr).validate_python("héllo")
'héllo'
>>> import re
>>> space = re.compile(f"[{WHITESPACE}]")
>>> all(bool(space.fullmatch(c)) == c.isspace() for c in map(chr, range(0x3100)))
True
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
from pydantic import AfterValidator, BeforeValidator, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema
from starlette.exceptions import HTTPException

from feedback.methods import allowed_methods, route_path
from feedback.proxy.errors import openai_error_response, openai_path, status_error

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


def not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty or only whitespace")
    return value


def _not_bool(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("must be the number 0 or 1, not a boolean")
    return value


class Documented:
    """Keywords added to a type's JSON schema: the schema says what the validators check."""

    def __init__(self, **keywords: Any) -> None:
        self.keywords = keywords

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema.update(self.keywords)
        return schema


#: The characters ``str.strip()`` removes (``str.isspace``), as a regex character class body.
WHITESPACE = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
#: Patterns that mean the same in Python, ECMA-262 and Rust regexes: no NUL; and no NUL with
#: at least one character that is not whitespace. (A lone surrogate, also refused, cannot be
#: written in a pattern Rust reads; JSON tools do not produce one.)
NO_NUL = r"^[^\x00]*$"
NOT_BLANK = rf"^[^\x00]*[^\x00{WHITESPACE}][^\x00]*$"

#: Any text field of a request.
SafeStr = Annotated[str, AfterValidator(safe_text), Documented(pattern=NO_NUL)]
#: Text to route on: safe and not blank.
PromptStr = Annotated[
    str, AfterValidator(safe_text), AfterValidator(not_blank), Documented(pattern=NOT_BLANK)
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
    """FastAPI's 422, with its echo of the input made encodable (see :func:`sanitise`); under
    ``/v1``, OpenAI's 400."""
    if openai_path(request.url.path):
        first = exc.errors()[0] if exc.errors() else {"msg": "invalid request"}
        return await openai_error_response(request, status_error(400, sanitise(first["msg"])))
    return JSONResponse({"detail": jsonable_encoder(sanitise(exc.errors()))}, status_code=422)


async def http_error(request: Request, exc: HTTPException) -> Response:
    """FastAPI's answer to an HTTPException; a 400 for an unreadable body also says why (not
    UTF-8, an integer too long to convert); a 405's ``Allow`` names every method of the path.
    Under ``/v1`` the body is OpenAI's error shape."""
    if exc.status_code == 405:
        allow = allowed_methods(request.app, route_path(request))
        if allow:
            headers = {**(exc.headers or {}), "Allow": ", ".join(allow)}
            exc = HTTPException(405, exc.detail, headers=headers)
    cause = exc.__cause__
    if exc.status_code == 400 and cause is not None and isinstance(exc.detail, str):
        exc = HTTPException(400, sanitise(f"{exc.detail}: {cause}"), headers=exc.headers)
    if openai_path(request.url.path):
        error = status_error(exc.status_code, str(exc.detail), exc.headers)
        return await openai_error_response(request, error)
    return await http_exception_handler(request, exc)
