"""Request-size limits: a body cap checked before anything parses (413), and the caps on a
conversation's messages (422)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from feedback.errors import Invalid
from feedback.proxy.errors import openai_path, status_error
from feedback.settings import Settings

_ENV = "ROUTING_AGENT_MAX_BODY_BYTES"


def _too_large(limit: int) -> str:
    return f"request body larger than {limit} bytes (the limit is set by {_ENV})"


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` when a streamed body passes the cap; FastAPI answers 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, _too_large(limit), headers={"Connection": "close"})


class BodyLimitMiddleware:
    """A pure ASGI middleware. A declared ``Content-Length`` over the cap is refused at the
    app's first read, before a byte of the body is received; a body without one (chunked) is
    counted as it streams in and refused as soon as it passes the cap, before the app parses
    it. The app's own HTTPException handler answers, so the 413 is labelled with its route
    (and shaped as OpenAI's error under ``/v1``).

    The cap is the running service's ``max_body_bytes`` (the settings default before start-up).
    The 413 closes the connection: the unread rest of the body would otherwise be taken for
    the next request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = _limit(scope)
        declared = Headers(scope=scope).get("content-length")
        too_long = declared is not None and declared.isdigit() and int(declared) > limit
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            if too_long:  # refused before a byte is read
                raise BodyTooLarge(limit)
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            if started:
                raise
            await _refuse(limit, send, openai=openai_path(scope["path"]))


def _limit(scope: Scope) -> int:
    service = getattr(scope["app"].state, "service", None)
    settings = service.settings if service is not None else Settings()
    return int(settings.max_body_bytes)


async def _refuse(limit: int, send: Send, *, openai: bool) -> None:
    message = _too_large(limit)
    shaped = status_error(413, message).body() if openai else {"detail": message}
    body = json.dumps(shaped).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def check_messages(settings: Settings, prompt: str | None, contents: Sequence[str]) -> None:
    """422 unless the conversation fits ``max_messages`` and each text ``max_message_chars``."""
    if len(contents) > settings.max_messages:
        raise Invalid(
            f"{len(contents)} messages; at most {settings.max_messages} "
            "(ROUTING_AGENT_MAX_MESSAGES)"
        )
    cap = settings.max_message_chars
    for i, text in enumerate(contents):
        if len(text) > cap:
            raise Invalid(
                f"message {i} holds {len(text)} characters; at most {cap} "
                "(ROUTING_AGENT_MAX_MESSAGE_CHARS)"
            )
    if prompt is not None and len(prompt) > cap:
        raise Invalid(
            f"the prompt holds {len(prompt)} characters; at most {cap} "
            "(ROUTING_AGENT_MAX_MESSAGE_CHARS)"
        )
