"""A tiny OpenAI-compatible upstream (Starlette) and a way to serve apps on a free port."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from feedback.proxy.openai_body import content_text
from tests.feedback.proxy_helpers import completion


class StubUpstream:
    """Answers ``POST /v1/chat/completions``. Upstream model names in ``fail`` get a 500;
    with ``slow`` a stream sends one chunk, then waits, and notes its cancellation. ``keep``
    keeps every request body in ``seen``."""

    def __init__(self, *, keep: bool = True) -> None:
        self.keep = keep
        self.fail: set[str] = set()
        self.slow = False
        self.seen: list[dict[str, Any]] = []
        self.cancelled = threading.Event()
        self.app = Starlette(routes=[Route("/v1/chat/completions", self.chat, methods=["POST"])])

    async def chat(self, request: Request) -> Response:
        body = json.loads(await request.body())
        if self.keep:
            self.seen.append(body)
        model = body["model"]
        if model in self.fail:
            return JSONResponse({"error": {"message": "upstream down"}}, status_code=500)
        if not body.get("stream"):
            text = " ".join(
                content_text(m["content"]) for m in body["messages"] if m["role"] == "user"
            )
            return JSONResponse(completion(model, text=f"echo: {text}"))
        return StreamingResponse(self._events(model), media_type="text/event-stream")

    async def _events(self, model: str) -> AsyncIterator[bytes]:
        words = ["one", "two", "three"]
        try:
            for i, word in enumerate(words):
                chunk = {
                    "id": "c",
                    "object": "chat.completion.chunk",
                    "created": 1,
                    "model": model,
                    "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}],
                }
                yield f"data: {json.dumps(chunk)}\n\n".encode()
                if self.slow and i == 0:
                    for _ in range(600):
                        await asyncio.sleep(0.05)
            yield b"data: [DONE]\n\n"
        except (asyncio.CancelledError, GeneratorExit):
            self.cancelled.set()
            raise


@contextmanager
def served(app: Any, **options: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free local port in a thread; yields its base URL.
    ``options`` go to ``uvicorn.Config`` (``ssl_certfile`` and ``ssl_keyfile`` serve https)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    scheme = "https" if options.get("ssl_certfile") else "http"
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", **options))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the test server did not start")
            threading.Event().wait(0.02)
        yield f"{scheme}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
