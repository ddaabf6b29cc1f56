"""The pool: list models (public); onboard, remove and re-price them (admin).

A model's name may hold ``/`` (``openai/gpt-4o``): the routes take the rest of the path, raw
or with ``%2F``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from feedback import admin_ops
from feedback.access import ReadDep
from feedback.api.responses import ADMIN, BODY, READ, detail
from feedback.deps import AdminDep, ServiceDep, SessionDep
from feedback.model_names import ModelRef
from feedback.schemas import AdminResult, ModelCreate, ModelInfo, ModelPatch

router = APIRouter(tags=["models"])
ModelName = Annotated[ModelRef, Path(min_length=1, max_length=200, examples=["openai/gpt-4o"])]


@router.get("/models", dependencies=[ReadDep], responses=READ)
def get_models(session: SessionDep, service: ServiceDep) -> list[ModelInfo]:
    return admin_ops.list_models(service, session=session)


@router.post(
    "/models",
    status_code=201,
    dependencies=[AdminDep],
    responses={**BODY, **ADMIN, 409: detail("the model is already in the pool")},
)
def post_model(req: ModelCreate, session: SessionDep, service: ServiceDep) -> ModelInfo:
    """Onboard a model from labelled validation rows (its UniRoute profile); no retraining."""
    return admin_ops.add_model(service, session=session, req=req)


@router.delete(
    "/models/{name:path}",
    dependencies=[AdminDep],
    responses={
        **ADMIN,
        404: detail("no such model"),
        409: detail("the last model of the pool"),
    },
)
def delete_model(name: ModelName, session: SessionDep, service: ServiceDep) -> AdminResult:
    return admin_ops.remove_model(service, session=session, name=name)


@router.patch(
    "/models/{name:path}",
    dependencies=[AdminDep],
    responses={**BODY, **ADMIN, 404: detail("no such model")},
)
def patch_model(
    name: ModelName, req: ModelPatch, session: SessionDep, service: ServiceDep
) -> ModelInfo:
    """Change a model's price (mean cost per answer, USD)."""
    return admin_ops.set_price(service, session=session, name=name, cost=req.cost)
