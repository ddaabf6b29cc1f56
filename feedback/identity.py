"""Who a request comes from: the *identity* its feedback is attributed to and its rate limit is
keyed on.

With client keys set, it is the key that matched, as an id derived from it with the service's
secret (``key:`` and 16 hex digits; never the key itself, so logs and the database do not hold
keys): every spelling of one key's ``Authorization`` header is one identity. Without client
keys, it is the client's address (``addr:``): an IPv4 address, or an IPv6 address's /64 network
(one host is given a whole /64, and would otherwise be a fresh identity per address).

The client-key check (:mod:`feedback.proxy.auth`) sets ``request.state.identity``;
:func:`request_identity` reads it.

>>> key_identity(b"secret", b"k1") == key_identity(b"secret", b"k1") != key_identity(b"s", b"k1")
True
>>> key_identity(b"secret", b"k1").startswith("key:"), len(key_identity(b"secret", b"k1"))
(True, 20)
>>> address_identity("203.0.113.7"), address_identity("2001:db8:1:2:aaaa::1")
('addr:203.0.113.7', 'addr:2001:db8:1:2::/64')
>>> address_identity("::ffff:203.0.113.7"), address_identity("testclient")
('addr:203.0.113.7', 'addr:testclient')
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress

from fastapi import Request


def key_identity(secret: bytes, key: bytes) -> str:
    """The identity of a client key: a keyed hash of it, not the key."""
    digest = hmac.new(secret, b"client-key:" + key, hashlib.sha256).hexdigest()
    return f"key:{digest[:16]}"


def address_identity(host: str) -> str:
    """The identity of a client address (an IPv6 one's /64 network)."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return f"addr:{host[:56]}"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return f"addr:{ip.ipv4_mapped}"
        return f"addr:{ipaddress.ip_network(f'{ip}/64', strict=False)}"
    return f"addr:{ip}"


def request_identity(request: Request) -> str:
    """The identity the client-key check found, else the request's address."""
    found: str | None = getattr(request.state, "identity", None)
    if found is not None:
        return found
    return address_identity(request.client.host if request.client else "")
