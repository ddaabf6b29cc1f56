"""The proxy's lean HTTP/1.1 transport against a raw asyncio server that answers as told."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from feedback.proxy.transport import LeanTransport, lean_transport

Reply = Callable[[bytes], bytes | None]  # the request bytes -> raw answer (None: hang up)


def _answer(body: bytes, *extra: str, status: str = "200 OK") -> bytes:
    head = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def _with_server(
    reply: Reply, test: Callable[[str, list[int]], Awaitable[None]], *, close_after: int = 0
) -> None:
    """Serve ``reply`` on a free port; ``test(base_url, connections)`` runs against it, where
    ``connections`` counts the connections accepted. ``close_after`` > 0 hangs up each
    connection after that many answers."""
    accepted: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        served = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                raw = head + await reader.readexactly(length)
                out = reply(raw)
                if out is None:
                    break
                writer.write(out)
                await writer.drain()
                served += 1
                if close_after and served >= close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        await test(f"http://127.0.0.1:{port}", accepted)
    finally:
        server.close()
        await server.wait_closed()


def _post(url: str, body: dict[str, Any], timeout: float = 5.0) -> httpx.Request:
    return httpx.Request(
        "POST",
        url + "/v1/chat/completions",
        json=body,
        extensions={"timeout": httpx.Timeout(timeout).as_dict()},
    )


async def _read(t: httpx.AsyncBaseTransport, request: httpx.Request) -> httpx.Response:
    response = await t.handle_async_request(request)
    await response.aread()
    return response


def test_keep_alive_reuses_one_connection_and_sends_the_body() -> None:
    seen: list[bytes] = []

    def reply(raw: bytes) -> bytes:
        seen.append(raw)
        body = raw.split(b"\r\n\r\n", 1)[1]
        return _answer(json.dumps({"echo": json.loads(body)}).encode())

    async def test(url: str, accepted: list[int]) -> None:
        t = LeanTransport()
        for i in range(3):
            r = await _read(t, _post(url, {"n": i}))
            assert r.status_code == 200 and r.json() == {"echo": {"n": i}}
        await t.aclose()
        assert len(accepted) == 1
        assert seen[0].startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
        assert b"\r\nHost: 127.0.0.1:" in seen[0]

    asyncio.run(_with_server(reply, test))


def test_a_streamed_request_body_is_sent_whole_with_its_length() -> None:
    seen: list[bytes] = []

    async def parts() -> Any:
        yield b'{"a":'
        yield b"1}"

    def reply(raw: bytes) -> bytes:
        seen.append(raw)
        return _answer(raw.split(b"\r\n\r\n", 1)[1])

    async def test(url: str, accepted: list[int]) -> None:
        t = LeanTransport()
        request = httpx.Request("POST", url + "/x", content=parts())
        assert (await _read(t, request)).content == b'{"a":1}'
        await t.aclose()
        assert b"Content-Length: 7\r\n" in seen[0]
        assert b"transfer-encoding" not in seen[0].lower()

    asyncio.run(_with_server(reply, test))


def test_chunked_and_close_delimited_bodies() -> None:
    replies = iter(
        [
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: y\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nto the end",
        ]
    )

    async def test(url: str, accepted: list[int]) -> None:
        t = LeanTransport()
        assert (await _read(t, _post(url, {}))).content == b"hello world"
        r = await t.handle_async_request(_post(url, {}))
        assert await r.aread() == b"to the end"  # read until the server hangs up
        await t.aclose()
        assert len(accepted) == 1  # the chunked answer kept the connection

    asyncio.run(_with_server(lambda raw: next(replies), test, close_after=2))


def test_a_connection_closed_while_idle_is_replaced() -> None:
    async def test(url: str, accepted: list[int]) -> None:
        t = LeanTransport()
        assert (await _read(t, _post(url, {}))).content == b"ok"
        await asyncio.sleep(0.05)  # the server has hung up meanwhile
        assert (await _read(t, _post(url, {}))).content == b"ok"
        await t.aclose()
        assert len(accepted) == 2

    asyncio.run(_with_server(lambda raw: _answer(b"ok"), test, close_after=1))


def test_an_unread_body_closes_its_connection() -> None:
    async def test(url: str, accepted: list[int]) -> None:
        t = LeanTransport()
        r = await t.handle_async_request(_post(url, {}))
        await r.aclose()  # not read: the rest may still arrive, so it cannot be reused
        assert (await _read(t, _post(url, {}))).content == b"x" * 10
        await t.aclose()
        assert len(accepted) == 2

    asyncio.run(_with_server(lambda raw: _answer(b"x" * 10), test))


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (lambda raw: None, httpx.RemoteProtocolError),  # hangs up without an answer
        (lambda raw: b"garbage\r\n\r\n", httpx.RemoteProtocolError),
        (lambda raw: b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc", httpx.ReadError),
    ],
)
def test_broken_answers_raise_httpx_errors(reply: Reply, error: type[Exception]) -> None:
    async def test(url: str, accepted: list[int]) -> None:
        t = LeanTransport()
        with pytest.raises(error):
            await _read(t, _post(url, {}))
        await t.aclose()

    close = 1 if error is httpx.ReadError else 0
    asyncio.run(_with_server(reply, test, close_after=close))


def test_timeouts_and_refused_connections() -> None:
    async def never(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never answers
        writer.close()

    async def run() -> None:
        server = await asyncio.start_server(never, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        t = LeanTransport()
        with pytest.raises(httpx.ReadTimeout):
            await _read(t, _post(f"http://127.0.0.1:{port}", {}, timeout=0.05))
        server.close()
        await server.wait_closed()
        with pytest.raises(httpx.ConnectError):
            await _read(t, _post(f"http://127.0.0.1:{port}", {}))
        await t.aclose()

    asyncio.run(run())


def test_a_configured_proxy_gets_httpx_own_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
    ):
        monkeypatch.delenv(name, raising=False)
    assert isinstance(lean_transport(), LeanTransport)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    assert isinstance(lean_transport(), httpx.AsyncHTTPTransport)
