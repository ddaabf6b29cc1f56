"""One ``APIRouter`` per file: route, feedback, models, health and admin (``responses`` holds
the error responses they document)."""

from feedback.api import admin, feedback, health, models, route

__all__ = ["admin", "feedback", "health", "models", "route"]
