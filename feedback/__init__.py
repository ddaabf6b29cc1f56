"""The feedback service: FastAPI + SQLModel around a :class:`agent.router.Router`.

Decisions, feedback, model profiles and policy snapshots live in the database; each replica's
posterior is rebuilt from them and follows feedback committed by the others.

The exports load on first use: importing a submodule (the CLI's ``serve`` flags) stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from feedback.app import create_app
    from feedback.service import RoutingService
    from feedback.settings import Settings

_EXPORTS = {
    "RoutingService": "feedback.service",
    "Settings": "feedback.settings",
    "create_app": "feedback.app",
}

__all__ = [
    "RoutingService",
    "Settings",
    "create_app",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value
