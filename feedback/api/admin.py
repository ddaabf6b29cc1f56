"""Admin endpoints (``X-API-Key``): λ, budget, reset, snapshot and the posterior."""

from __future__ import annotations

from fastapi import APIRouter, Query

from feedback import admin_ops, labels
from feedback.api.responses import ADMIN, BODY
from feedback.deps import AdminDep, ServiceDep, SessionDep
from feedback.schemas import (
    AdminResult,
    BudgetUpdate,
    LabelRequest,
    LabelResult,
    LamUpdate,
    NominationInfo,
    PosteriorState,
)

router = APIRouter(
    prefix="/admin",
    tags=["admin"],
    dependencies=[AdminDep],
    responses=ADMIN,
)


@router.put("/lam", responses=BODY)
def put_lam(req: LamUpdate, session: SessionDep, service: ServiceDep) -> AdminResult:
    """Set the default cost penalty λ for every replica."""
    return admin_ops.set_lam(service, session=session, lam=req.lam)


@router.put("/budget", responses=BODY)
def put_budget(req: BudgetUpdate, session: SessionDep, service: ServiceDep) -> AdminResult:
    """Set (or clear with null) the default budget: a target mean cost per request."""
    return admin_ops.set_budget(service, session=session, budget=req.budget)


@router.post("/reset")
def post_reset(session: SessionDep, service: ServiceDep) -> AdminResult:
    """Return the posterior to the profile priors; feedback so far stops counting."""
    return admin_ops.reset(service, session=session)


@router.post("/snapshot")
def post_snapshot(service: ServiceDep) -> AdminResult:
    """Store this replica's policy state now (restarts replay only what came after)."""
    service.sync()
    stored = service.snapshot()
    detail = "snapshot stored" if stored else "not stored: the pool changed meanwhile; retry"
    return AdminResult(ok=stored, revision=service.revision, detail=detail)


@router.get("/posterior")
def get_posterior(service: ServiceDep) -> PosteriorState:
    """This replica's posterior, after folding in everything committed so far."""
    service.sync()
    policy = service.router.view()
    alpha, beta, alpha0, beta0 = policy.cluster_betas()
    return PosteriorState(
        models=policy.models,
        alpha=alpha.tolist(),
        beta=beta.tolist(),
        alpha0=alpha0.tolist(),
        beta0=beta0.tolist(),
        learnt=policy.counters[0],
        applied_feedback=service.applied.count,
        hwm=service.applied.hwm,
        revision=service.revision,
        lam=service.router.lam,
    )


@router.get("/nominations", responses={409: {"description": "label_candidates is 0"}})
def get_nominations(
    service: ServiceDep,
    n: int = Query(10, ge=1, le=1000),
) -> list[NominationInfo]:
    """``n`` recent prompts (on this replica) to label with ``POST /admin/labels``: a uniform
    random sample of them, so labels follow the traffic."""
    return labels.nominations(service.router, n)


@router.post(
    "/labels",
    status_code=201,
    responses={
        **BODY,
        404: {"description": "a model not in the pool, or a prompt_key this replica lacks"},
    },
)
def post_labels(req: LabelRequest, session: SessionDep, service: ServiceDep) -> LabelResult:
    """Every model's outcome on one prompt; every replica learns it."""
    return admin_ops.add_label(service, session=session, req=req)
