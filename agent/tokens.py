"""Decision tokens: an HMAC-SHA256 of the decision id, so only callers that saw it can rate it."""

from __future__ import annotations

import hashlib
import hmac


def sign(secret: bytes, decision_id: str) -> str:
    """The hex HMAC-SHA256 of ``decision_id`` under ``secret``.

    >>> sign(b"k", "abc") == sign(b"k", "abc") != sign(b"other", "abc")
    True
    """
    return hmac.new(secret, decision_id.encode(), hashlib.sha256).hexdigest()


def verify(secret: bytes, decision_id: str, token: str | None) -> bool:
    """Constant-time check of ``token`` against :func:`sign`.

    >>> verify(b"k", "abc", sign(b"k", "abc")), verify(b"k", "abc", "00"), verify(b"k", "abc", None)
    (True, False, False)
    >>> verify(b"k", "abc", "\u00e9")
    False
    """
    if not token:
        return False
    return hmac.compare_digest(sign(secret, decision_id).encode(), token.encode())
