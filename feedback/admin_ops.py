"""Admin operations on the shared pool: commit to the database, then change this replica."""

from __future__ import annotations

import json

from sqlmodel import Session

from agent.router import Router
from feedback import crud
from feedback.errors import Conflict, Invalid, NotFound
from feedback.labels import reset_floor
from feedback.models import LabelRow
from feedback.schemas import AdminResult, LabelRequest, LabelResult, ModelCreate, ModelInfo
from feedback.service import BUDGET, LAM, RESET_FLOOR, RoutingService
from policies import ModelProfile


def model_info(profile: ModelProfile) -> ModelInfo:
    return ModelInfo(
        name=profile.name,
        cost=profile.cost,
        accuracy=profile.accuracy,
        validation_rows=float(profile.trials.sum()),
    )


def list_models(service: RoutingService, *, session: Session) -> list[ModelInfo]:
    policy = service.router.view()
    costs = dict(zip(policy.models, policy.costs.tolist(), strict=True))
    rows = {r.name: r for r in crud.active_models(session=session)}
    out = []
    for name, cost in costs.items():
        if name in rows:
            profile = crud.to_profile(rows[name])
            out.append(model_info(ModelProfile(name, profile.successes, profile.trials, cost)))
    return out


def add_model(service: RoutingService, *, session: Session, req: ModelCreate) -> ModelInfo:
    existing = crud.get_model(session=session, name=req.name)
    if existing is not None and existing.active:
        raise Conflict(f"model {req.name!r} is already in the pool")
    rows = [(r.prompt, r.correct, req.cost if r.cost is None else r.cost) for r in req.rows]
    try:
        profile = service.router.add_model(req.name, req.cost, rows, add=False)
    except ValueError as exc:
        raise Invalid(str(exc)) from exc
    crud.save_model(session=session, profile=profile, now=service.clock())
    session.commit()
    revision = crud.bump_revision(session=session)

    def change(router: Router) -> None:
        router.add_model(profile)

    service.pool_changed(revision, change)
    return model_info(profile)


def remove_model(service: RoutingService, *, session: Session, name: str) -> AdminResult:
    row = crud.get_model(session=session, name=name)
    if row is None or not row.active:
        raise NotFound(f"no model {name!r} in the pool")
    if not crud.deactivate_model(session=session, name=name):
        raise Conflict(f"cannot remove {name!r}: it is the last model of the pool")
    revision = crud.bump_revision(session=session)
    service.pool_changed(revision, lambda r: r.remove_model(name))
    return AdminResult(ok=True, revision=service.revision, detail=f"removed {name}")


def set_price(service: RoutingService, *, session: Session, name: str, cost: float) -> ModelInfo:
    row = crud.get_model(session=session, name=name)
    if row is None or not row.active:
        raise NotFound(f"no model {name!r} in the pool")
    row.cost = cost
    session.add(row)
    session.commit()
    revision = crud.bump_revision(session=session)
    service.pool_changed(revision, lambda r: r.set_price(name, cost))
    return model_info(crud.to_profile(row))


def set_lam(service: RoutingService, *, session: Session, lam: float) -> AdminResult:
    crud.put_meta(session=session, key=LAM, value=repr(float(lam)))
    session.commit()
    revision = crud.bump_revision(session=session)

    def change(router: Router) -> None:
        router.lam = lam

    service.pool_changed(revision, change)
    return AdminResult(ok=True, revision=service.revision, detail=f"λ = {lam:g}")


def set_budget(service: RoutingService, *, session: Session, budget: float | None) -> AdminResult:
    crud.put_meta(session=session, key=BUDGET, value="" if budget is None else repr(budget))
    session.commit()
    revision = crud.bump_revision(session=session)
    service.pool_changed(revision, None)
    return AdminResult(ok=True, revision=service.revision, detail=f"budget = {budget}")


def reset(service: RoutingService, *, session: Session) -> AdminResult:
    """Return the posterior to the profile priors; feedback committed so far no longer counts."""
    floor = crud.max_feedback_id(session=session)
    crud.put_meta(session=session, key=RESET_FLOOR, value=str(floor))
    reset_floor(session=session)
    session.commit()
    crud.bump_revision(session=session)
    service.rebuild()
    return AdminResult(ok=True, revision=service.revision, detail=f"reset after feedback {floor}")


def add_label(service: RoutingService, *, session: Session, req: LabelRequest) -> LabelResult:
    """Check, store and learn one prompt's outcomes (:mod:`feedback.labels`)."""
    router = service.router
    prompt = req.prompt if req.prompt is not None else req.prompt_key
    assert prompt is not None  # the schema asks for exactly one
    unknown = sorted(set(req.outcomes) - set(router.models))
    if unknown:  # like any admin route naming a model the pool lacks
        raise NotFound(f"no model {', '.join(map(repr, unknown))} in the pool")
    try:
        lessons = router.lessons(prompt, req.outcomes, tags=req.tags)
    except KeyError as exc:
        raise NotFound(f"{exc.args[0]}; send the prompt's text instead") from exc
    except ValueError as exc:
        raise Invalid(str(exc)) from exc
    where = lessons[0]  # every lesson of a label sits on its prompt
    row = LabelRow(
        context=json.dumps(where.context.to_row()),
        outcomes=json.dumps(req.outcomes),
        created_at=service.clock(),
    )
    session.add(row)
    session.commit()
    revision = crud.bump_revision(session=session)
    learnt = len(lessons)

    def change(r: Router) -> None:
        for lesson in lessons:
            r.learn(lesson)

    service.pool_changed(revision, change, label_id=row.id)
    return LabelResult(learnt=learnt, revision=service.revision)
