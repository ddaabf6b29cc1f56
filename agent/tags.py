"""App tags (``{"task": "code", "tenant": "acme"}``): what the app knows about a request.

The router does not learn from tags (an ablation found no case where per-tag corrections beat
the task partition by more than their noise: BENCHMARKS.md, "Ablation"); it keeps them with
each decision so the monitoring report can break cost, traffic and accuracy down per tag.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MAX_TAGS = 8
MAX_TAG_CHARS = 128


def normalise_tags(tags: Mapping[str, Any] | None) -> tuple[str, ...]:
    """Validate app tags and spell them as sorted ``key=value`` strings.

    >>> normalise_tags({"tenant": "acme", "task": "code"})
    ('task=code', 'tenant=acme')
    >>> normalise_tags({"task": 3})
    Traceback (most recent call last):
    ...
    ValueError: tag 'task' must have a string value, got int
    """
    if not tags:
        return ()
    if not isinstance(tags, Mapping):
        raise ValueError(f"tags must be an object of string values, got {type(tags).__name__}")
    if len(tags) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} tags per request, got {len(tags)}")
    out = []
    for key, value in tags.items():
        if not isinstance(key, str) or not key.strip():
            raise ValueError(f"tag names must be non-empty strings, got {key!r}")
        if not isinstance(value, str):
            raise ValueError(f"tag {key!r} must have a string value, got {type(value).__name__}")
        if len(key) > MAX_TAG_CHARS or len(value) > MAX_TAG_CHARS:
            raise ValueError(f"tag {key!r}: names and values are at most {MAX_TAG_CHARS} chars")
        if "=" in key:
            raise ValueError(f"tag name {key!r} must not contain '='")
        out.append(f"{key}={value}")
    return tuple(sorted(out))
