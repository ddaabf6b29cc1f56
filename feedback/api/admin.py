"""Admin endpoints (``X-API-Key``): λ, budget, reset, snapshot and the posterior."""

from __future__ import annotations

from fastapi import APIRouter

from feedback import admin_ops
from feedback.api.responses import ADMIN, BODY
from feedback.deps import AdminDep, ServiceDep, SessionDep
from feedback.schemas import AdminResult, BudgetUpdate, LamUpdate, PosteriorState

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
    service.snapshot()
    return AdminResult(ok=True, revision=service.revision, detail="snapshot stored")


@router.get("/posterior")
def get_posterior(service: ServiceDep) -> PosteriorState:
    """This replica's posterior, after folding in everything committed so far."""
    service.sync()
    post = service.router.posterior()
    return PosteriorState(
        **post,
        applied_feedback=service.applied.count,
        hwm=service.applied.hwm,
        revision=service.revision,
        lam=service.router.lam,
    )
