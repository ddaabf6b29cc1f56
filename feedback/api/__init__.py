"""One ``APIRouter`` per file: route, feedback, models, health and admin."""

from feedback.api import admin, feedback, health, models, route

__all__ = ["admin", "feedback", "health", "models", "route"]
