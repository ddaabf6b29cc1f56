"""The feedback service: FastAPI + SQLModel around a :class:`agent.router.Router`.

Decisions, feedback, model profiles and policy snapshots live in the database; each replica's
posterior is rebuilt from them and follows feedback committed by the others.
"""

from feedback.app import create_app
from feedback.service import RoutingService
from feedback.settings import Settings

__all__ = ["RoutingService", "Settings", "create_app"]
