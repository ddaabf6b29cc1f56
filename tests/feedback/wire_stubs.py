"""Upstreams that misbehave on the wire, a CONNECT proxy, and a private CA: raw asyncio servers
on free ports of 127.0.0.1, each on its own event loop in a thread, counting what reaches them."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class Seen:
    """What reached a stub: the request heads (first line and headers), in order."""

    heads: list[bytes] = field(default_factory=list)

    def posts(self) -> int:
        return sum(h.startswith(b"POST ") for h in self.heads)

    def to(self, hostport: str) -> list[bytes]:
        """The request lines naming ``hostport`` (a proxy may also see other programs' calls)."""
        lines = [h.split(b"\r\n", 1)[0] for h in self.heads]
        return [line for line in lines if hostport.encode() in line]


async def read_request(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """One HTTP/1.1 request's head and its ``Content-Length`` body."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head, await reader.readexactly(length)


@contextmanager
def raw_server(handler: Handler) -> Iterator[int]:
    """Serve ``handler`` on a free port in a thread; yields the port. On exit every open
    connection is closed and every handler cancelled."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    tasks: set[asyncio.Task[None]] = set()
    writers: set[asyncio.StreamWriter] = set()
    holder: dict[str, asyncio.Server] = {}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        writers.add(writer)
        try:
            await handler(reader, writer)
        except (asyncio.IncompleteReadError, OSError, asyncio.CancelledError):
            pass
        finally:
            writers.discard(writer)
            writer.close()
            tasks.discard(task)

    async def start() -> None:
        holder["server"] = await asyncio.start_server(handle, "127.0.0.1", 0)
        ready.set()

    async def stop() -> None:
        server = holder["server"]
        server.close()
        for writer in list(writers):
            writer.close()
        for task in list(tasks):
            task.cancel()
        with suppress(Exception):
            await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=10)
    ready.wait(10)
    try:
        yield holder["server"].sockets[0].getsockname()[1]
    finally:
        asyncio.run_coroutine_threadsafe(stop(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


def silent(seen: Seen) -> Handler:
    """Reads each request and never answers (until the caller hangs up)."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head, _ = await read_request(reader)
        seen.heads.append(head)
        await reader.read()  # the caller's timeout closes the connection

    return handler


def dropping(seen: Seen) -> Handler:
    """Reads each request whole, then closes the connection without a word."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head, _ = await read_request(reader)
        seen.heads.append(head)

    return handler


def redirecting(seen: Seen, location: str, status: str = "307 Temporary Redirect") -> Handler:
    """Answers every request with a redirect to ``location``."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head, _ = await read_request(reader)
            seen.heads.append(head)
            writer.write(
                f"HTTP/1.1 {status}\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n".encode()
            )
            await writer.drain()

    return handler


def connect_proxy(seen: Seen) -> Handler:
    """An HTTP proxy: ``CONNECT host:port`` opens a tunnel; a request with an absolute URL
    (``POST http://host:port/path``) is forwarded, one request per upstream connection."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            head, body = await read_request(reader)
            seen.heads.append(head)
            method, target, _ = head.split(b"\r\n", 1)[0].split(b" ", 2)
            if method == b"CONNECT":
                host, _, port = target.decode().rpartition(":")
                up_reader, up_writer = await asyncio.open_connection(host, int(port))
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                await writer.drain()
                await _pipe_both(reader, writer, up_reader, up_writer)
                return
            await _forward(head, body, writer)

    return handler


async def _forward(head: bytes, body: bytes, writer: asyncio.StreamWriter) -> None:
    first, rest = head.split(b"\r\n", 1)
    method, url, version = first.split(b" ", 2)
    hostport, _, path = url.split(b"://", 1)[1].partition(b"/")
    host, _, port = hostport.decode().rpartition(":")
    up_reader, up_writer = await asyncio.open_connection(host, int(port))
    up_writer.write(b"%s /%s %s\r\nConnection: close\r\n%s" % (method, path, version, rest))
    up_writer.write(body)
    await up_writer.drain()
    writer.write(await up_reader.read())
    await writer.drain()
    up_writer.close()


async def _pipe_both(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    up_reader: asyncio.StreamReader,
    up_writer: asyncio.StreamWriter,
) -> None:
    async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with suppress(ConnectionError):
            while data := await src.read(65_536):
                dst.write(data)
                await dst.drain()
        dst.close()

    await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


@dataclass(frozen=True)
class PrivateCA:
    """A CA made for one test, and a certificate it signed for 127.0.0.1 (PEM files)."""

    ca_file: Path
    cert_file: Path
    key_file: Path


def private_ca(folder: Path) -> PrivateCA:
    """Write a fresh CA certificate and a server certificate for 127.0.0.1 under ``folder``."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "routing-agent test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .sign(ca_key, hashes.SHA256())
    )
    out = PrivateCA(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    out.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    out.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    out.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return out
