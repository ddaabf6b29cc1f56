"""The HTTP clients of the upstream calls: httpx's own, with its connection limits and the
environment's proxies.

There is one :class:`httpx.AsyncClient` for each trust store: one with the system's CA
certificates (``SSL_CERT_FILE``, ``SSL_CERT_DIR``, else certifi's) for every upstream without
``ca_bundle``, and one for each ``ca_bundle`` file (a private CA). Each client reads
``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY`` and ``NO_PROXY`` (httpx's ``trust_env``), and
keeps at most ``limits`` connections. It never follows a redirect, and never keeps a cookie
(one client serves every user). With a ``transport`` (tests pass
``httpx.MockTransport(handler)``), every client uses that transport instead.
"""

from __future__ import annotations

import http.cookiejar
import ssl

import httpx


class UpstreamClients:
    """The clients, made on first use, one per trust store; :meth:`aclose` closes them all."""

    def __init__(
        self, limits: httpx.Limits, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.limits = limits
        self.transport = transport
        self._clients: dict[str | None, httpx.AsyncClient] = {}

    def client(self, ca_bundle: str | None) -> httpx.AsyncClient:
        """The client for upstreams that trust ``ca_bundle`` (None: the system's CAs)."""
        client = self._clients.get(ca_bundle)
        if client is None:
            client = self._clients[ca_bundle] = self._build(ca_bundle)
        return client

    def _build(self, ca_bundle: str | None) -> httpx.AsyncClient:
        cookies = http.cookiejar.CookieJar(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        if self.transport is not None:
            return httpx.AsyncClient(transport=self.transport, cookies=cookies)
        return httpx.AsyncClient(
            verify=trust(ca_bundle),
            limits=self.limits,
            trust_env=True,
            follow_redirects=False,
            cookies=cookies,
        )

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()


def trust(ca_bundle: str | None) -> ssl.SSLContext | bool:
    """What an upstream's TLS connections trust: the CA certificates of the PEM file
    ``ca_bundle`` and no others, or (None) httpx's default. Raises ``OSError`` or
    ``ssl.SSLError`` for a file that is missing or holds no certificate."""
    if ca_bundle is None:
        return True
    return ssl.create_default_context(cafile=ca_bundle)
