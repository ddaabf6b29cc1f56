"""``GET /openapi.json``: FastAPI's schema, made true of the running service.

- A key guard that is not configured is optional (``{}`` among an operation's security
  requirements): client keys unset leaves the client endpoints open, read keys unset the read
  endpoints. The admin key is always required (unset, the admin API is off).
- The message limits are the settings' (``max_messages``, ``max_message_chars``), not the
  models' upper bounds, and ``allowed`` names the pool's models (rebuilt when the pool changes).
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI

from feedback.settings import Settings


def service_openapi(app: FastAPI, settings: Settings, pool: list[str]) -> dict[str, Any]:
    """``app``'s OpenAPI schema for ``settings`` and the ``pool`` of models (cached on the app
    until the pool changes)."""
    cached: tuple[tuple[str, ...], dict[str, Any]] | None = getattr(
        app.state, "service_openapi", None
    )
    if cached is not None and cached[0] == tuple(pool):
        return cached[1]
    schema = copy.deepcopy(FastAPI.openapi(app))
    _mark_optional_security(schema, settings)
    _cap_messages(schema, settings)
    if pool:
        _name_pool(schema, pool)
    app.state.service_openapi = (tuple(pool), schema)
    return schema


def _mark_optional_security(schema: dict[str, Any], settings: Settings) -> None:
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            names = {n for req in operation.get("security", []) for n in req}
            if not names or names == {"adminKey"}:
                continue
            reads = "readBasic" in names
            if (reads and not settings.read_keys) or (not reads and not settings.client_keys):
                operation["security"] = [*operation["security"], {}]


def _cap_messages(schema: dict[str, Any], settings: Settings) -> None:
    models = schema.get("components", {}).get("schemas", {})
    route = models.get("RouteRequest", {}).get("properties", {})
    content = models.get("Message", {}).get("properties", {}).get("content", {})
    for field, kind, key, cap in (
        (route.get("prompt", {}), "string", "maxLength", settings.max_message_chars),
        (content, "string", "maxLength", settings.max_message_chars),
        (route.get("messages", {}), "array", "maxItems", settings.max_messages),
    ):
        for branch in _branches(field):
            if branch.get("type") == kind:
                branch[key] = cap


def _branches(schema: dict[str, Any]) -> list[dict[str, Any]]:
    return [schema, *schema.get("anyOf", [])]


def _name_pool(schema: dict[str, Any], pool: list[str]) -> None:
    models = schema.get("components", {}).get("schemas", {})
    allowed = models.get("RouteRequest", {}).get("properties", {}).get("allowed", {})
    for branch in _branches(allowed):
        if "items" in branch:
            branch["items"] = {**branch["items"], "enum": sorted(pool)}
