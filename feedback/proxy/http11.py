"""HTTP/1.1 on asyncio streams for :mod:`feedback.proxy.transport`: a connection, the
response head, and the response body framed by ``Content-Length``, chunks or the close."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import httpx

#: How long a connection may sit idle before it is dropped (httpx's default too).
IDLE_EXPIRY_S = 5.0
CHUNK = 65_536
_NO_BODY = frozenset({204, 304})
#: Send errors and a response's read errors that mean the connection broke.
BROKEN = (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError)


class Conn:
    """One keep-alive connection."""

    __slots__ = ("reader", "writer", "idle_since", "reused")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.idle_since = 0.0
        self.reused = False

    def usable(self, now: float) -> bool:
        return (
            not self.writer.is_closing()
            and not self.reader.at_eof()
            and now - self.idle_since < IDLE_EXPIRY_S
        )

    def close(self) -> None:
        self.writer.close()


def timeouts(request: httpx.Request) -> dict[str, float | None]:
    t: dict[str, float | None] = request.extensions.get("timeout") or {}
    return t


async def read_head(
    reader: asyncio.StreamReader,
) -> tuple[int, bytes, bytes, list[tuple[bytes, bytes]]]:
    raw = await reader.readuntil(b"\r\n\r\n")
    lines = raw[:-4].split(b"\r\n")
    version, _, rest = lines[0].partition(b" ")
    code, _, reason = rest.partition(b" ")
    if not version.startswith(b"HTTP/1.") or not code.isdigit():
        raise ValueError(f"bad status line {lines[0][:80]!r}")
    headers = []
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep:
            raise ValueError(f"bad header line {line[:80]!r}")
        headers.append((name.strip(), value.strip()))
    return int(code), reason, version, headers


class Body(httpx.AsyncByteStream):
    """A response body framed by its headers; the connection goes back to the pool once it is
    read to the end (and the upstream keeps it alive), else it is closed."""

    def __init__(
        self,
        request: httpx.Request,
        conn: Conn,
        status: int,
        version: bytes,
        headers: list[tuple[bytes, bytes]],
        give_back: Callable[[Conn], None],
    ) -> None:
        self._request, self._give_back = request, give_back
        self._conn: Conn | None = conn
        self._read_timeout = timeouts(request).get("read")
        fields = {k.lower(): v for k, v in headers}
        conn_tokens = fields.get(b"connection", b"").lower()
        self._keep = (
            b"close" not in conn_tokens if version == b"HTTP/1.1" else b"keep-alive" in conn_tokens
        )
        self._length: int | None = None
        self._chunked = b"chunked" in fields.get(b"transfer-encoding", b"").lower()
        if status in _NO_BODY or request.method == "HEAD":
            self._length = 0
        elif not self._chunked:
            declared = fields.get(b"content-length")
            if declared is not None:
                if not declared.isdigit():
                    conn.close()
                    raise httpx.RemoteProtocolError("bad Content-Length", request=request)
                self._length = int(declared)
            else:
                self._keep = False  # the body runs to the connection's close
        self._done = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        conn = self._conn
        if conn is None or self._done:
            return
        try:
            async for part in self._parts(conn.reader):
                yield part
        except TimeoutError as exc:
            self._drop()
            raise httpx.ReadTimeout("read timed out", request=self._request) from exc
        except BROKEN as exc:
            self._drop()
            raise httpx.ReadError(
                f"the upstream's answer broke off ({type(exc).__name__})", request=self._request
            ) from exc
        except BaseException:
            self._drop()
            raise
        self._done = True

    async def _parts(self, reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
        if self._length is not None:
            left = self._length
            while left > 0:
                async with asyncio.timeout(self._read_timeout):
                    part = await reader.read(min(left, CHUNK))
                if not part:
                    raise asyncio.IncompleteReadError(b"", left)
                left -= len(part)
                yield part
        elif self._chunked:
            while True:
                async with asyncio.timeout(self._read_timeout):
                    size_line = await reader.readuntil(b"\r\n")
                    size = int(size_line.split(b";", 1)[0].strip(), 16)
                    if size == 0:
                        while await reader.readuntil(b"\r\n") != b"\r\n":
                            pass  # trailers
                        return
                    part = await reader.readexactly(size + 2)
                yield part[:-2]
        else:
            while True:
                async with asyncio.timeout(self._read_timeout):
                    part = await reader.read(CHUNK)
                if not part:
                    return
                yield part

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self._done and self._keep:
            self._give_back(conn)
        else:
            conn.close()
