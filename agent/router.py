"""The embeddable router: prompt → cluster weights → policy choice, and feedback → posterior.

>>> import numpy as np
>>> from agent.clusters import ClusterMap
>>> from agent.embedder import HashingEmbedder
>>> from agent.logs import ReplayLog
>>> prompts = [f"sort list {i}" for i in range(6)] + [f"capital of country {i}" for i in range(6)]
>>> correct = np.array([[1.0, 1.0]] * 6 + [[0.0, 1.0]] * 6)
>>> log = ReplayLog("toy", [str(i) for i in range(12)], prompts, ["cheap", "big"], correct,
...                 np.tile([0.001, 0.01], (12, 1)), [""] * 12)
>>> router = Router.from_log(log, embedder=HashingEmbedder(dim=64), k=2,
...                          policy="greedy", lam=0.5)
>>> d = router.route("sort list 3")
>>> d.model, sorted(d.scores), router.route("capital of country 2").model
('cheap', ['big', 'cheap'], 'big')
>>> router.feedback(d.id, thumbs="up").weight
1.0
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from agent.building import Builders
from agent.clusters import ClusterMap, LevelMap, MapStack
from agent.contexts import ContextOps, eligible_mask, level_sizes
from agent.conversation import Messages, StickyModels, as_messages, keep_model
from agent.decision import Decision, OpenDecision, score_map
from agent.embedder import Embedder
from agent.memory_store import MemoryDecisionStore
from agent.nominations import Candidates, Nominating
from agent.persistence import Persistence
from agent.policy_ops import PolicyOps
from agent.propensity import teach_factor
from agent.regenerate import RegenerateWatch
from agent.shift import ShiftMeter
from agent.source_cap import Limits
from agent.store import DecisionStore
from agent.tokens import sign
from policies import BudgetPacer, Context, Policy


class Router(Builders, PolicyOps, ContextOps, Nominating, Persistence):
    """Wraps an embedder, a cluster map, a warm-started policy and a store of open decisions.

    One lock guards the policy, so ``route`` and ``feedback`` are safe from many threads; the
    embedding runs outside it. ``level_maps`` are the maps of the warm start's extra
    partitions (:mod:`agent.level_maps`: task or K-means), one per level of ``default``'s
    profiles. ``shift`` (:class:`~agent.shift.ShiftMeter`) measures how unlike the fit prompts
    the traffic is.
    ``stickiness`` is the margin of expected utility (posterior mean, not a Thompson draw) by
    which another model must beat the one a conversation was last routed to, to take it over.
    ``store`` keeps the decisions and counts their feedback (:class:`~agent.store.DecisionStore`;
    by default in memory, with ``ttl`` and the per-source cap), ``clock`` returns seconds.
    """

    def __init__(
        self,
        policy: Policy,
        cluster_map: ClusterMap,
        embedder: Embedder,
        *,
        soft: bool = False,
        stickiness: float = 0.05,
        ttl: float = 86400.0,
        source_limit: int = 50,
        source_window: float = 3600.0,
        max_turns: int = 4,
        decay: float = 0.5,
        secret: bytes | None = None,
        clock: Callable[[], float] = time.time,
        store: DecisionStore | None = None,
        regenerate_window: float | None = None,
        shift: ShiftMeter | None = None,
        label_candidates: int = 0,
        level_maps: Sequence[LevelMap] = (),
    ) -> None:
        want = level_sizes(policy)
        sizes = tuple(m.k_ for m in level_maps)
        if sizes != want:
            raise ValueError(f"level maps of {sizes} cells for a policy with levels of {want}")
        self.shift = shift
        self.label_candidates = label_candidates
        self.candidates = Candidates(label_candidates)
        self.policy = policy
        self.cluster_map = cluster_map
        self.embedder = embedder
        self.level_maps = tuple(level_maps)
        self.level_stack = MapStack(self.level_maps)
        self.soft = soft
        self.stickiness = stickiness
        self.ttl = ttl
        self.source_limit = source_limit
        self.source_window = source_window
        self.max_turns = max_turns
        self.decay = decay
        self.secret = secret
        self.clock = clock
        # not ``store or ...``: an empty memory store has no length, and would be replaced
        self.store: DecisionStore = (
            store
            if store is not None
            else MemoryDecisionStore(
                ttl=ttl,
                limits=Limits(source_limit=source_limit, source_window=source_window),
                clock=clock,
            )
        )
        self.regenerate_window = regenerate_window
        self.regenerates = (
            RegenerateWatch(window=regenerate_window, clock=clock) if regenerate_window else None
        )
        self._lock = threading.RLock()
        self.conversations = StickyModels()
        self._pacers: dict[float, BudgetPacer] = {}

    _PARAMS = (
        "soft",
        "stickiness",
        "ttl",
        "source_limit",
        "source_window",
        "max_turns",
        "decay",
        "regenerate_window",
        "label_candidates",
    )

    # -- routing -------------------------------------------------------------------------------
    @property
    def models(self) -> list[str]:
        with self._lock:
            return self.policy.models

    @property
    def lam(self) -> float:
        return float(self.policy.lam)

    @lam.setter
    def lam(self, value: float) -> None:
        if not (np.isfinite(value) and value >= 0):
            raise ValueError(f"λ must be a finite number >= 0, got {value}")
        with self._lock:
            self.policy.lam = float(value)

    def route(
        self,
        prompt_or_messages: str | Messages,
        *,
        conversation_id: str | None = None,
        lam: float | None = None,
        budget: float | None = None,
        allowed: Sequence[str] | None = None,
        tags: Mapping[str, str] | None = None,
        identity: str = "",
    ) -> Decision:
        """Choose a model. ``budget`` (a target mean cost per request) paces λ online unless
        ``lam`` is given; ``allowed`` restricts the choice to those models (feedback on such a
        decision teaches as its propensity says, :mod:`agent.propensity`); ``tags`` (at most 8
        string values, e.g. ``{"task": "code"}``) are app context kept with the decision for
        reports; the router does not learn from them (:mod:`agent.tags`).
        With ``regenerate_window``, asking a conversation's last user turn again within the
        window gives the answer it replaces a thumbs-down (source ``implicit-regenerate``,
        from ``identity``: who asked, see :mod:`agent.source_cap`)."""
        if (again := self.replaced(conversation_id, prompt_or_messages)) is not None:
            self.thumbs_down_replaced(again, identity)
        texts, weights = self.turns(prompt_or_messages)
        ctx = self.context_from(self.embedder.encode(texts), weights, texts, tags)
        d = self.decide(
            ctx, conversation_id=conversation_id, lam=lam, budget=budget, allowed=allowed
        )
        self.candidates.offer(ctx, texts[-1])
        self.answered(conversation_id, prompt_or_messages, d.id)
        return d

    async def aroute(
        self, prompt_or_messages: str | Messages, *, durable: bool = True, **route_kwargs: Any
    ) -> Decision:
        """:meth:`route` for an event loop. The embedding runs off the loop: through the
        embedder's own ``encode_async`` when it has one (a :class:`~agent.batching.
        BatchingEmbedder` then shares encoder calls between concurrent requests), else in a
        worker thread. ``durable``: return once the store has written the decision (else the
        caller awaits ``store.durable(decision.id)``, e.g. after calling the model)."""
        cid = route_kwargs.get("conversation_id")
        identity = route_kwargs.pop("identity", "")
        if (again := self.replaced(cid, prompt_or_messages)) is not None:
            await self.athumbs_down_replaced(again, identity)
        texts, weights = self.turns(prompt_or_messages)
        encode_async = getattr(self.embedder, "encode_async", None)
        if encode_async is not None:
            vectors = await encode_async(texts)
        else:
            vectors = await asyncio.to_thread(self.embedder.encode, texts)
        tags = route_kwargs.pop("tags", None)
        ctx = self.context_from(vectors, weights, texts, tags)
        d = self.decide(ctx, **route_kwargs)
        self.candidates.offer(ctx, texts[-1])
        self.answered(cid, prompt_or_messages, d.id)
        if durable:
            await self.store.durable(d.id)
        return d

    def decide(
        self,
        ctx: Context,
        *,
        conversation_id: str | None = None,
        lam: float | None = None,
        budget: float | None = None,
        allowed: Sequence[str] | None = None,
    ) -> Decision:
        """:meth:`route` for a context already computed (e.g. from a batched embedding)."""
        if lam is not None and not (np.isfinite(lam) and lam >= 0):
            raise ValueError(f"λ must be a finite number >= 0, got {lam}")
        with self._lock:
            names = self.policy.models
            eligible = eligible_mask(names, allowed)
            pacer = None
            if lam is None and budget is not None:
                pacer = self._pacer(budget)
                lam = pacer.lam
            choice = self.policy.select(ctx, eligible=eligible, lam=lam)
            j, sticky = choice.index, False
            if conversation_id is not None:
                prev = self.conversations.last(conversation_id)
                if prev is not None and prev in names:
                    i = names.index(prev)
                    j = keep_model(self.policy, ctx, choice, i, self.stickiness, eligible)
                    sticky = j != choice.index
                self.conversations.remember(conversation_id, names[j])
            if pacer is not None:
                pacer.observe(float(self.policy.costs[j]))
            teach = teach_factor(self.policy, ctx, eligible, j, lam=choice.lam)
        now = self.clock()
        decision_id = uuid.uuid4().hex
        # outside the lock: a store's own lock is taken before the router's when feedback learns
        self.store.put(
            OpenDecision(
                decision_id,
                names[j],
                ctx.weights,
                now,
                conversation_id,
                leaf=ctx.leaf,
                prompt_key=ctx.prompt_key,
                tags=ctx.tags,
                lam=choice.lam,
                cells=ctx.cells,
                teach=teach,
            )
        )
        return Decision(
            decision_id,
            names[j],
            score_map(names, choice.scores),
            ctx.weights,
            None if sticky else choice.propensity,
            choice.lam,
            now,
            conversation_id,
            sticky,
            sign(self.secret, decision_id) if self.secret else None,
            ctx.leaf,
            ctx.prompt_key,
            ctx.tags,
            ctx.cells,
        )

    def open_decision(self, decision_id: str) -> OpenDecision:
        """The store's record of ``decision_id`` (raises if unknown or expired)."""
        return self.store.get(decision_id)

    async def reassign(self, decision_id: str, model: str) -> None:
        """Another model than the one chosen answered ``decision_id`` (a proxy's fallback):
        feedback on it goes to ``model``, and so does its conversation."""
        record = self.store.get(decision_id)
        await self.store.reassign(decision_id, model)
        if record.conversation_id is not None:
            self.conversations.remember(record.conversation_id, model)

    def route_and_call(
        self,
        prompt_or_messages: str | Messages,
        call_llm: Callable[[str, list[dict[str, Any]]], Any],
        **route_kwargs: Any,
    ) -> tuple[Any, Decision]:
        """Route, then call ``call_llm(model, messages)``; return ``(answer, decision)``."""
        decision = self.route(prompt_or_messages, **route_kwargs)
        return call_llm(decision.model, as_messages(prompt_or_messages)), decision
