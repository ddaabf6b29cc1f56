"""``GET /healthz``."""

from __future__ import annotations

from fastapi import APIRouter

from feedback.deps import ServiceDep
from feedback.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz(service: ServiceDep) -> Health:
    return Health(**service.health())
