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
from pathlib import Path
from typing import Any, Self

import numpy as np

from agent.clusters import ClusterMap
from agent.contexts import ContextOps
from agent.conversation import Messages, StickyModels
from agent.decision import Decision, OpenDecision, score_map
from agent.embedder import Embedder
from agent.ledger import DecisionLedger
from agent.logs import ReplayLog
from agent.persistence import load_router, save_router
from agent.policy_ops import PolicyOps
from agent.source_cap import SourceCap
from agent.tokens import sign
from agent.warm_start import fit_pool
from policies import BudgetPacer, Context, ModelProfile, Policy, make_policy


class Router(PolicyOps, ContextOps):
    """Wraps an embedder, a cluster map, a warm-started policy and a ledger of open decisions.

    One lock guards the policy, so ``route`` and ``feedback`` are safe from many threads; the
    embedding runs outside it. ``leaf_map`` (optional) is a finer cluster map whose cell, the
    prompt's *leaf*, every :class:`~policies.Context` carries, for policies with leaves.
    ``stickiness`` is the margin of expected utility (posterior mean, not a Thompson draw) by
    which another model must beat the one a conversation was last routed to, to take it over.
    ``store`` is the decision ledger (any object with ``put(OpenDecision)`` and ``get(id)``),
    ``clock`` returns seconds.
    """

    def __init__(
        self,
        policy: Policy,
        cluster_map: ClusterMap,
        embedder: Embedder,
        *,
        leaf_map: ClusterMap | None = None,
        soft: bool = False,
        stickiness: float = 0.05,
        ttl: float = 86400.0,
        source_limit: int = 50,
        source_window: float = 3600.0,
        max_turns: int = 4,
        decay: float = 0.5,
        secret: bytes | None = None,
        clock: Callable[[], float] = time.time,
        store: DecisionLedger | None = None,
    ) -> None:
        self.policy = policy
        self.cluster_map = cluster_map
        self.embedder = embedder
        self.leaf_map = leaf_map
        self.soft = soft
        self.stickiness = stickiness
        self.ttl = ttl
        self.source_limit = source_limit
        self.source_window = source_window
        self.max_turns = max_turns
        self.decay = decay
        self.secret = secret
        self.clock = clock
        self.store = store
        self._lock = threading.RLock()
        self._ledger = store if store is not None else DecisionLedger(ttl=ttl, clock=clock)
        self._sticky = StickyModels()
        self._cap = SourceCap(source_limit, source_window, clock)
        self._pacers: dict[float, BudgetPacer] = {}

    _PARAMS = ("soft", "stickiness", "ttl", "source_limit", "source_window", "max_turns", "decay")

    # -- building ------------------------------------------------------------------------------
    @classmethod
    def from_profiles(
        cls,
        profiles: Sequence[ModelProfile],
        cluster_map: ClusterMap,
        embedder: Embedder,
        *,
        policy: str = "default",
        policy_params: dict[str, Any] | None = None,
        seed: int = 0,
        lam: float | None = None,
        **kwargs: Any,
    ) -> Self:
        """A router whose policy is warm-started from UniRoute profiles; ``policy_params``
        override the named policy's settings (e.g. ``{"propensity_samples": 256}``)."""
        params: dict[str, Any] = {"seed": seed, **(policy_params or {})}
        if lam is not None:
            params["lam"] = lam
        return cls(
            make_policy(policy, **params).warm_start(profiles), cluster_map, embedder, **kwargs
        )

    @classmethod
    def from_log(
        cls,
        log: ReplayLog,
        *,
        embedder: Embedder,
        k: int = 16,
        policy: str = "default",
        policy_params: dict[str, Any] | None = None,
        seed: int = 0,
        val_share: float = 1.0,
        lam: float | None = None,
        **kwargs: Any,
    ) -> Self:
        """Fit clusters on the log's prompts and profiles on its labelled rows, then warm-start.
        A policy with leaves (``n_leaves > 0``, e.g. from ``policy_params``) also gets a leaf
        map of that many cells (at most one per prompt)."""
        leaves = int(getattr(make_policy(policy, **(policy_params or {})), "n_leaves", 0))
        pool = fit_pool(
            log,
            embedder=embedder,
            k=k,
            seed=seed,
            val_share=val_share,
            soft=bool(kwargs.get("soft", False)),
            leaves=leaves,
        )
        return cls.from_profiles(
            pool.profiles,
            pool.cluster_map,
            embedder,
            policy=policy,
            policy_params=policy_params,
            seed=seed,
            lam=lam,
            leaf_map=pool.leaf_map,
            **kwargs,
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
    ) -> Decision:
        """Choose a model. ``budget`` (a target mean cost per request) paces λ online unless
        ``lam`` is given; ``allowed`` restricts the choice to those models; ``tags`` (at most 8
        string values, e.g. ``{"task": "code"}``) are app context the router learns per tag."""
        return self.decide(
            self.context_for(prompt_or_messages, tags),
            conversation_id=conversation_id,
            lam=lam,
            budget=budget,
            allowed=allowed,
        )

    async def aroute(self, prompt_or_messages: str | Messages, **route_kwargs: Any) -> Decision:
        """:meth:`route` for an event loop. The embedding runs off the loop: through the
        embedder's own ``encode_async`` when it has one (a :class:`~agent.batching.
        BatchingEmbedder` then shares encoder calls between concurrent requests), else in a
        worker thread."""
        texts, weights = self.turns(prompt_or_messages)
        encode_async = getattr(self.embedder, "encode_async", None)
        if encode_async is not None:
            vectors = await encode_async(texts)
        else:
            vectors = await asyncio.to_thread(self.embedder.encode, texts)
        tags = route_kwargs.pop("tags", None)
        return self.decide(self.context_from(vectors, weights, texts, tags), **route_kwargs)

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
            eligible = None
            if allowed is not None:
                unknown = sorted(set(allowed) - set(names))
                if unknown or not allowed:
                    raise ValueError(f"allowed must name pool models; unknown: {unknown}")
                eligible = np.isin(np.array(names, dtype=object), list(allowed))
            pacer = None
            if lam is None and budget is not None:
                pacer = self._pacer(budget)
                lam = pacer.lam
            choice = self.policy.select(ctx, eligible=eligible, lam=lam)
            j, sticky = choice.index, False
            if conversation_id is not None:
                prev = self._sticky.last(conversation_id)
                if prev is not None and prev in names:
                    i = names.index(prev)
                    # The gain in expected utility, not between two noisy Thompson draws.
                    util = self.policy.mean_scores(ctx, eligible=eligible, lam=choice.lam)
                    gap = util[j] - util[i]
                    if np.isfinite(util[i]) and gap < self.stickiness:
                        j, sticky = i, i != choice.index
                self._sticky.remember(conversation_id, names[j])
            if pacer is not None:
                pacer.observe(float(self.policy.costs[j]))
            now = self.clock()
            decision_id = uuid.uuid4().hex
            self._ledger.put(
                OpenDecision(
                    decision_id,
                    names[j],
                    ctx.weights,
                    now,
                    conversation_id,
                    leaf=ctx.leaf,
                    item=ctx.item,
                    tags=ctx.tags,
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
            ctx.item,
            ctx.tags,
        )

    def open_decision(self, decision_id: str) -> OpenDecision:
        """The ledger's record of ``decision_id`` (raises if unknown or expired)."""
        return self._ledger.get(decision_id)

    def conversation_model(self, conversation_id: str) -> str | None:
        """The model ``conversation_id`` was last routed to, if this router remembers it."""
        return self._sticky.last(conversation_id)

    def remember_conversation(self, conversation_id: str, model: str) -> None:
        """Tell the router a conversation's current model (e.g. routed by another replica)."""
        self._sticky.remember(conversation_id, model)

    def route_and_call(
        self,
        prompt_or_messages: str | Messages,
        call_llm: Callable[[str, list[dict[str, Any]]], Any],
        **route_kwargs: Any,
    ) -> tuple[Any, Decision]:
        """Route, then call ``call_llm(model, messages)``; return ``(answer, decision)``."""
        decision = self.route(prompt_or_messages, **route_kwargs)
        if isinstance(prompt_or_messages, str):
            messages = [{"role": "user", "content": prompt_or_messages}]
        else:
            messages = [dict(m) for m in prompt_or_messages]
        return call_llm(decision.model, messages), decision

    # -- state ---------------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write the router into the directory ``path`` (see :mod:`agent.persistence`)."""
        save_router(self, path)

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        embedder: Embedder,
        secret: bytes | None = None,
        clock: Callable[[], float] = time.time,
    ) -> Self:
        """Read a router written by :meth:`save`; ``embedder`` must be the one it was built with."""
        return load_router(cls, path, embedder=embedder, secret=secret, clock=clock)
