"""``POST /route`` and ``POST /feedback``: the request logic of :class:`RoutingService`.

Both run on the event loop. The prompt embedding goes to a micro-batching thread
(:class:`~agent.batching.BatchingEmbedder`) and the writes to a group-commit thread
(:class:`~feedback.writer.GroupCommitter`), whose answer comes only after the commit; the
policy choice itself takes microseconds under the router's lock.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from anyio import to_thread
from sqlmodel import Session

from agent.batching import BatchingEmbedder, EncoderError
from agent.decision import Decision, feedback_value
from agent.ledger import DecisionError
from agent.router import Router
from agent.tokens import sign, verify
from feedback import crud
from feedback.errors import BadToken, Invalid, ServiceError, Unavailable
from feedback.jobs import (
    DecisionInfo,
    DecisionJob,
    DecisionModelJob,
    FeedbackJob,
    FeedbackOwner,
    gone,
)
from feedback.limits import check_messages
from feedback.regenerate import SOURCE as REGENERATE_SOURCE
from feedback.regenerate import RegenerateWatch
from feedback.schemas import FeedbackRequest, FeedbackResponse, RouteRequest, RouteResponse
from feedback.settings import Settings
from feedback.writer import GroupCommitter

logger = logging.getLogger(__name__)


class RequestHandlers:
    """A mixin of :class:`~feedback.service.RoutingService` (split off for size)."""

    settings: Settings
    clock: Callable[[], float]
    _router: Router
    _embedder: BatchingEmbedder
    _writer: GroupCommitter
    _secret: bytes
    _budget: float | None
    _regenerates: RegenerateWatch | None

    def session(self) -> Session:
        raise NotImplementedError

    def _owner(self) -> FeedbackOwner:
        raise NotImplementedError

    # -- requests ------------------------------------------------------------------------------
    async def route(self, req: RouteRequest) -> RouteResponse:
        """Embed (batched), choose under the router's lock, commit the decision, answer."""
        d = await self.choose(req)
        await self.record(d)
        return route_response(d)

    async def choose(self, req: RouteRequest) -> Decision:
        """Embed and choose; the decision is not stored until :meth:`record`."""
        check_messages(self.settings, req.prompt, [m.content for m in req.messages or []])
        router = self._router
        cid = req.conversation_id
        if cid is not None and router.conversation_model(cid) is None:
            prev = await to_thread.run_sync(self._last_model, cid)
            if prev is not None:
                router.remember_conversation(cid, prev)
        query: Any = (
            req.prompt if req.prompt is not None else [m.model_dump() for m in req.messages or []]
        )
        budget = self.budget_for(req)
        turn = last_user_turn(req)
        if cid is not None and self._regenerates is not None:
            again = self._regenerates.previous(cid, turn)
            if again is not None:  # before choosing, so the new choice already knows
                await self._implicit_thumbs_down(again)
        try:
            texts, turn_weights = router.turns(query)
            try:
                vectors = await self._embedder.encode_async(texts)
            except EncoderError as exc:
                raise Unavailable(f"the prompt encoder failed; retry later ({exc})") from exc
            ctx = router.context_from(vectors, turn_weights, texts, req.tags)
            d = router.decide(
                ctx, conversation_id=cid, lam=req.lam, budget=budget, allowed=req.allowed
            )
        except ValueError as exc:
            raise Invalid(str(exc)) from exc
        if cid is not None and self._regenerates is not None:
            self._regenerates.remember(cid, turn, d.id)
        return d

    async def _implicit_thumbs_down(self, decision_id: str) -> None:
        """A regenerate's verdict on the answer it replaces; never fails the new request."""
        body = {
            "decision_id": decision_id,
            "token": sign(self._secret, decision_id),
            "thumbs": "down",
            "source": REGENERATE_SOURCE,
        }
        try:
            await self.feedback(FeedbackRequest.model_validate(body))
        except ServiceError as exc:  # gone, or already judged: the regenerate adds nothing
            logger.info("implicit regenerate feedback on %s not counted: %s", decision_id, exc)

    def budget_for(self, req: RouteRequest) -> float | None:
        """The budget that paces ``req``: its own, else the service's unless it gives λ."""
        return req.budget if req.budget is not None else (self._budget if req.lam is None else None)

    def real_cost(self, d: Decision, budget: float | None, real: float) -> None:
        """Tell the pacer of ``budget`` (if any) that the answer to ``d`` cost ``real``."""
        if budget is None or d.model not in self._router.models:
            return
        estimated = self._router.costs()[d.model]
        self._router.correct_cost(budget, estimated, real)

    async def record(self, d: Decision) -> None:
        """Commit decision ``d`` (the answer comes after the commit)."""
        values = {
            "id": d.id,
            "model": d.model,
            "weights": json.dumps(d.weights.tolist()),
            "lam": d.lam,
            "created_at": d.created_at,
            "conversation_id": d.conversation_id,
            "leaf": d.leaf,
            "item": d.item,
            "tags": json.dumps(list(d.tags)),
        }
        await self._writer.submit(DecisionJob(values))

    async def reassign(self, d: Decision, model: str) -> None:
        """Another model than the one chosen answered the committed decision ``d`` (the
        proxy's fallback): feedback on it goes to ``model``, and so does its conversation."""
        self._router.open_decision(d.id).model = model
        if d.conversation_id is not None:
            self._router.remember_conversation(d.conversation_id, model)
        await self._writer.submit(DecisionModelJob(d.id, model))

    def _last_model(self, conversation_id: str) -> str | None:
        with self.session() as s:
            return crud.last_model_of_conversation(session=s, conversation_id=conversation_id)

    async def feedback(
        self, req: FeedbackRequest, idempotency_key: str | None = None
    ) -> FeedbackResponse:
        """Check, store (group commit) and then learn from one piece of feedback; the answer
        comes after the commit. A decision this replica did not make is read from the DB."""
        if not verify(self._secret, req.decision_id, req.token):
            raise BadToken("missing or invalid decision token")
        kind, value = feedback_value(label=req.label, score=req.score, thumbs=req.thumbs)
        now = self.clock()
        decision: DecisionInfo | None = None
        try:
            rec = self._router.open_decision(req.decision_id)
        except DecisionError:
            pass  # not made here, or past the router's own TTL: the database decides
        else:
            decision = DecisionInfo(
                rec.model, rec.weights, rec.leaf, rec.item, rec.created_at, rec.tags
            )
            age, ttl = now - rec.created_at, self.settings.decision_ttl
            if age > ttl:
                raise gone(req.decision_id, age, ttl)
        job = FeedbackJob(
            self._owner(),
            decision_id=req.decision_id,
            decision=decision,
            kind=kind,
            value=value,
            source=req.origin or "",
            idempotency_key=idempotency_key,
            now=now,
        )
        result: FeedbackResponse = await self._writer.submit(job)
        return result


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


def last_user_turn(req: RouteRequest) -> str:
    """The text a regenerate repeats: the prompt, or the conversation's last user message."""
    if req.prompt is not None:
        return req.prompt
    users = [m.content for m in req.messages or [] if m.role == "user"]
    return users[-1] if users else ""
