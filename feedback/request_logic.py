"""``POST /route`` and ``POST /feedback``: the request logic of :class:`RoutingService`.

Both run on the event loop and go through the router's own front door,
:meth:`~agent.router.Router.aroute` and :meth:`~agent.router.Router.afeedback`: the prompt
embedding goes to a micro-batching thread (:class:`~agent.batching.BatchingEmbedder`), and the
router's decision store (:class:`~feedback.sql_store.SqlDecisionStore`) writes through a
group-commit thread, whose answer comes only after the commit. What is left here is HTTP:
decision tokens, message limits, the slice of a chat the encoder reads
(:mod:`feedback.routed_text`), the service's default budget, and errors as status codes.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from anyio import to_thread
from sqlmodel import Session

from agent.batching import EncoderError
from agent.decision import Decision, FeedbackReceipt
from agent.router import Router
from agent.store import (
    DecisionStore,
    ExpiredDecisionError,
    FeedbackConflict,
    IdempotencyKeyReused,
    UnknownDecisionError,
)
from agent.tokens import verify
from feedback import crud
from feedback.errors import (
    BadToken,
    Conflict,
    Gone,
    Invalid,
    NotFound,
    Unavailable,
)
from feedback.limits import check_messages
from feedback.routed_text import routed_messages, routed_text
from feedback.schemas import FeedbackRequest, FeedbackResponse, RouteRequest, RouteResponse
from feedback.settings import Settings

logger = logging.getLogger(__name__)


#: How long feedback on a decision found neither here nor in the database waits, pause by
#: pause, for the decision's row before it answers 404 (the proxy answers before its decision's
#: row commits; feedback that reaches the same replica queues behind that row).
PENDING_PAUSES_S = (0.02, 0.05, 0.1, 0.2)


class ServiceState(Protocol):
    """What the request logic reads of :class:`~feedback.service.RoutingService`."""

    settings: Settings

    @property
    def router(self) -> Router: ...

    @property
    def secret(self) -> bytes: ...

    @property
    def store(self) -> DecisionStore: ...

    @property
    def budget(self) -> float | None: ...

    def session(self) -> Session: ...


class RequestLogic:
    """``POST /route`` and ``POST /feedback`` on a service's live router (the service
    swaps routers on a rebuild, so each request reads the current one)."""

    def __init__(self, service: ServiceState) -> None:
        self.service = service

    # -- requests ------------------------------------------------------------------------------
    async def route(self, req: RouteRequest, identity: str) -> RouteResponse:
        """Embed (batched), choose under the router's lock, commit the decision, answer."""
        d = await self.choose(req, identity)
        await self.record(d)
        return route_response(d)

    async def choose(self, req: RouteRequest, identity: str) -> Decision:
        """Embed and choose; the decision is being written, and :meth:`record` waits for it.
        A regenerate's implicit feedback is attributed to ``identity`` (who asked)."""
        check_messages(self.service.settings, req.prompt, [m.content for m in req.messages or []])
        router = self.service.router
        unknown = sorted(set(req.allowed or ()) - set(router.models))
        if unknown:  # as any request naming a model the pool lacks (it may have just left)
            raise NotFound(f"no model {', '.join(map(repr, unknown))} in the pool")
        cid = req.conversation_id
        if cid is not None and router.conversations.last(cid) is None:
            prev = await to_thread.run_sync(self._last_model, cid)
            if prev is not None:
                router.conversations.remember(cid, prev)
        chars = self.service.settings.embed_turn_chars
        query: Any = (
            routed_text(req.prompt, chars)
            if req.prompt is not None
            else routed_messages(
                [m.model_dump() for m in req.messages or []], turns=router.max_turns, chars=chars
            )
        )
        budget = self.budget_for(req)
        try:
            d = await router.aroute(
                query,
                durable=False,
                conversation_id=cid,
                lam=req.lam,
                budget=budget,
                allowed=req.allowed,
                tags=req.tags,
                identity=identity,
            )
        except EncoderError as exc:
            raise Unavailable(f"the prompt encoder failed; retry later ({exc})") from exc
        except ValueError as exc:
            raise Invalid(str(exc)) from exc
        return d

    def budget_for(self, req: RouteRequest) -> float | None:
        """The budget that paces ``req``: its own, else the service's unless it gives λ."""
        return (
            req.budget
            if req.budget is not None
            else (self.service.budget if req.lam is None else None)
        )

    def real_cost(self, d: Decision, budget: float | None, real: float) -> None:
        """Tell the pacer of ``budget`` (if any) that the answer to ``d`` cost ``real``."""
        if budget is not None:
            self.service.router.correct_cost(budget, d.model, real)

    async def record(self, d: Decision) -> None:
        """Wait until decision ``d`` is committed (the answer comes after the commit)."""
        await self.service.store.durable(d.id)

    async def reassign(self, d: Decision, model: str) -> None:
        """Another model than the one chosen answered the committed decision ``d`` (the
        proxy's fallback): feedback on it goes to ``model``, and so does its conversation."""
        await self.service.router.reassign(d.id, model)

    def _last_model(self, conversation_id: str) -> str | None:
        with self.service.session() as s:
            return crud.last_model_of_conversation(session=s, conversation_id=conversation_id)

    async def feedback(
        self, req: FeedbackRequest, idempotency_key: str | None, identity: str
    ) -> FeedbackResponse:
        """Check the token, then let the router count and learn it as ``identity``'s; the
        answer comes after the commit. A decision this replica did not make is read from the
        database."""
        if not verify(self.service.secret, req.decision_id, req.token):
            raise BadToken("missing or invalid decision token")
        try:
            r = await self._afeedback_waiting(req, idempotency_key, identity)
        except UnknownDecisionError as exc:
            raise NotFound(str(exc)) from exc
        except ExpiredDecisionError as exc:
            raise Gone(str(exc)) from exc
        except FeedbackConflict as exc:
            raise Conflict(str(exc), stored=exc.stored.to_dict()) from exc
        except (IdempotencyKeyReused, ValueError) as exc:
            raise Invalid(str(exc)) from exc
        return FeedbackResponse(
            feedback_id=r.feedback_id,
            decision_id=r.decision_id,
            model=r.model,
            kind=r.kind,
            value=r.value,
            weight=r.weight,
            duplicate=r.duplicate,
        )

    async def _afeedback_waiting(
        self, req: FeedbackRequest, idempotency_key: str | None, identity: str
    ) -> FeedbackReceipt:
        """The router's feedback; a decision it finds nowhere is looked for again after each
        of :data:`PENDING_PAUSES_S`: the token says some replica made it, and the proxy
        answers before its decision's row commits, so another replica's row may be a moment
        away."""
        pauses = iter(PENDING_PAUSES_S)
        while True:
            try:
                return await self.service.router.afeedback(
                    req.decision_id,
                    label=req.label,
                    score=req.score,
                    thumbs=req.thumbs,
                    source=req.origin,
                    idempotency_key=idempotency_key,
                    identity=identity,
                )
            except UnknownDecisionError:
                pause = next(pauses, None)
                if pause is None:
                    raise
                await asyncio.sleep(pause)


def route_response(d: Decision) -> RouteResponse:
    """The public view of a decision (``POST /route``'s answer)."""
    assert d.token is not None
    return RouteResponse(
        decision_id=d.id,
        model=d.model,
        scores=d.scores,
        token=d.token,
        weights=d.weights.tolist(),
        propensity=d.propensity,
        lam=d.lam,
        sticky=d.sticky,
    )
