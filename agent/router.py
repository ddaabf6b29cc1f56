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
import copy
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Self

import numpy as np

from agent.clusters import ClusterMap, LevelMap, MapStack
from agent.contexts import eligible_mask, level_cells, level_sizes
from agent.conversation import (
    Messages,
    StickyModels,
    conversation_turns,
    keep_model,
    pool_embedding,
    prompt_key,
)
from agent.decision import (
    Decision,
    FeedbackReceipt,
    Lesson,
    OpenDecision,
    feedback_value,
    label_lessons,
    score_map,
)
from agent.embedder import Embedder
from agent.level_maps import default_levels
from agent.logs import ReplayLog
from agent.memory_store import MemoryDecisionStore
from agent.nominations import Candidates, Nomination, check_outcomes
from agent.persistence import read_dir, saved_shift, write_dir
from agent.propensity import teach_factor
from agent.regenerate import SOURCE as REGENERATE
from agent.regenerate import RegenerateWatch, last_user_turn
from agent.shift import ShiftMeter
from agent.source_cap import Influence, Limits
from agent.store import Claim, Claimed, DecisionError, DecisionStore
from agent.tags import normalise_tags
from agent.tokens import sign
from agent.warm_start import fit_pool, profile_from_rows
from policies import (
    BudgetPacer,
    Context,
    ModelProfile,
    OnlineUniRoute,
    Policy,
    make_policy,
    validate_feedback,
)

logger = logging.getLogger(__name__)


class Router:
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

    Its surface, by concept: building (:meth:`from_profiles`, :meth:`from_log`), routing
    (:meth:`route`, :meth:`aroute`, :meth:`reassign`), learning (:meth:`feedback`,
    :meth:`afeedback`, and :meth:`learn`, the one door every outcome goes through), labelling
    (:meth:`nominate`, :meth:`lessons`), the pool (:meth:`add_model`, :meth:`remove_model`,
    :meth:`set_price`, :meth:`correct_cost`), reading (:attr:`models`, :attr:`lam`,
    :meth:`context_for`, :meth:`view`) and persistence (:meth:`state`, :meth:`from_state`,
    :meth:`save`, :meth:`load`, :meth:`inherit`).
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
        self._candidates = Candidates(label_candidates)
        # nominations follow the policy's seed, so a seeded router nominates reproducibly
        self._nominations = np.random.default_rng(
            None if policy.seed is None else [policy.seed, 0x4E4F4D]
        )
        self.policy = policy
        self.cluster_map = cluster_map
        self.embedder = embedder
        self.level_maps = tuple(level_maps)
        self._level_stack = MapStack(self.level_maps)  # the level maps' scorers in one matrix
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
        self._store: DecisionStore = (
            store
            if store is not None
            else MemoryDecisionStore(
                ttl=ttl,
                limits=Limits(source_limit=source_limit, source_window=source_window),
                clock=clock,
            )
        )
        self.regenerate_window = regenerate_window
        self._regenerates = (
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
        blend: Sequence[float] | None = None,
        shift: ShiftMeter | None = None,
        **kwargs: Any,
    ) -> Self:
        """A router whose policy is warm-started from UniRoute profiles; ``policy_params``
        override the named policy's settings (e.g. ``{"propensity_samples": 256}``).

        For ``default``: the warm start's stacking weights ``blend`` (equal when None) and
        the ``shift`` meter (:class:`agent.shift.ShiftMeter`;
        without one the policy sees no shift). The router observes a copy of ``shift``, so
        routers built from one pool's meter do not share what they see."""
        params: dict[str, Any] = {"seed": seed}
        online = isinstance(make_policy(policy), OnlineUniRoute)
        if online:
            kwargs["shift"] = None if shift is None else ShiftMeter.from_state(shift.to_state())
        params.update(policy_params or {})
        if lam is not None:
            params["lam"] = lam
        made = make_policy(policy, **params).warm_start(profiles, blend=blend)
        return cls(made, cluster_map, embedder, **kwargs)

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
        ``default`` also gets the log's extra partitions (the task partition where the log
        names tasks, else K-means ones: :func:`agent.level_maps.default_levels`), stacked by
        their validation outcomes, and a shift meter fitted on the prompts."""
        online = isinstance(make_policy(policy), OnlineUniRoute)
        pool = fit_pool(
            log,
            embedder=embedder,
            k=k,
            seed=seed,
            val_share=val_share,
            soft=bool(kwargs.get("soft", False)),
            levels=default_levels(log) if online else (),
        )
        return cls.from_profiles(
            pool.profiles,
            pool.cluster_map,
            embedder,
            policy=policy,
            policy_params=policy_params,
            seed=seed,
            lam=lam,
            level_maps=pool.level_maps,
            blend=pool.blend,
            shift=pool.shift if online else None,
            **kwargs,
        )

    # -- routing -------------------------------------------------------------------------------
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
        if (again := self._replaced(conversation_id, prompt_or_messages)) is not None:
            self._thumbs_down_replaced(again, identity)
        texts, weights = self._turns(prompt_or_messages)
        ctx = self._context_from(self.embedder.encode(texts), weights, texts, tags)
        d = self._decide(
            ctx, conversation_id=conversation_id, lam=lam, budget=budget, allowed=allowed
        )
        self._candidates.offer(ctx, texts[-1])
        self._answered(conversation_id, prompt_or_messages, d.id)
        return d

    async def aroute(
        self, prompt_or_messages: str | Messages, *, durable: bool = True, **route_kwargs: Any
    ) -> Decision:
        """:meth:`route` for an event loop. The embedding runs off the loop: through the
        embedder's own ``encode_async`` when it has one (a :class:`~agent.batching.
        BatchingEmbedder` then shares encoder calls between concurrent requests), else in a
        worker thread. ``durable``: return once the store has written the decision (else the
        caller awaits its store's ``durable(decision.id)``, e.g. after calling the model)."""
        cid = route_kwargs.get("conversation_id")
        identity = route_kwargs.pop("identity", "")
        if (again := self._replaced(cid, prompt_or_messages)) is not None:
            await self._athumbs_down_replaced(again, identity)
        texts, weights = self._turns(prompt_or_messages)
        encode_async = getattr(self.embedder, "encode_async", None)
        if encode_async is not None:
            vectors = await encode_async(texts)
        else:
            vectors = await asyncio.to_thread(self.embedder.encode, texts)
        tags = route_kwargs.pop("tags", None)
        ctx = self._context_from(vectors, weights, texts, tags)
        d = self._decide(ctx, **route_kwargs)
        self._candidates.offer(ctx, texts[-1])
        self._answered(cid, prompt_or_messages, d.id)
        if durable:
            await self._store.durable(d.id)
        return d

    async def reassign(self, decision_id: str, model: str) -> None:
        """Another model than the one chosen answered ``decision_id`` (a proxy's fallback):
        feedback on it goes to ``model``, and so does its conversation."""
        record = self._store.get(decision_id)
        await self._store.reassign(decision_id, model)
        if record.conversation_id is not None:
            self.conversations.remember(record.conversation_id, model)

    def _decide(
        self,
        ctx: Context,
        *,
        conversation_id: str | None = None,
        lam: float | None = None,
        budget: float | None = None,
        allowed: Sequence[str] | None = None,
    ) -> Decision:
        """:meth:`route` for a context already computed."""
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
        self._store.put(
            OpenDecision(
                decision_id,
                names[j],
                replace(ctx, shift=0.0),  # the request's, not the prompt's: never learnt from
                now,
                conversation_id,
                lam=choice.lam,
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
            ctx.prompt_key,
            ctx.tags,
            ctx.cells,
        )

    def _pacer(self, budget: float) -> BudgetPacer:
        """The pacer of ``budget`` (created on first use; call under the lock)."""
        pacer = self._pacers.get(budget)
        if pacer is None:
            pacer = BudgetPacer(
                budget, cost_scale=self.policy.cost_scale, start_lam=self.policy.lam
            )
            self._pacers[budget] = pacer
        return pacer

    def _turns(self, prompt_or_messages: str | Messages) -> tuple[list[str], np.ndarray]:
        """The texts to embed for a prompt or conversation, and their pooling weights."""
        return conversation_turns(prompt_or_messages, max_turns=self.max_turns, decay=self.decay)

    def _context_from(
        self,
        vectors: np.ndarray,
        turn_weights: np.ndarray,
        texts: Sequence[str] | None = None,
        tags: Mapping[str, str] | None = None,
        *,
        observe: bool = True,
    ) -> Context:
        """The context of already-embedded turns (``vectors`` from :meth:`_turns`' ``texts``;
        without the texts the context has no prompt key). Bad ``tags`` raise ``ValueError``
        (see :func:`agent.tags.normalise_tags`). ``observe=False`` leaves the shift meter
        alone (the context then has no shift)."""
        vec = pool_embedding(vectors, turn_weights)
        weights = self.cluster_map.weights(vec, soft=self.soft)[0]
        shift = 0.0
        if observe and self.shift is not None:
            shift = self.shift.observe(vec)
        key = prompt_key(texts) if texts is not None else -1
        cells = tuple(self._level_stack.cells(vec[0])) if self.level_maps else ()
        tagged = normalise_tags(tags)
        return Context(
            weights / weights.sum(), prompt_key=key, tags=tagged, cells=cells, shift=shift
        )

    # -- implicit feedback: regenerates ----------------------------------------------------------
    def _replaced(self, conversation_id: str | None, query: str | Messages) -> str | None:
        """The decision a request regenerates (same conversation and last user turn within
        the window), if the router watches for regenerates."""
        if conversation_id is None or self._regenerates is None:
            return None
        return self._regenerates.previous(conversation_id, last_user_turn(query))

    def _answered(self, conversation_id: str | None, query: str | Messages, decision: str) -> None:
        """Remember which decision answers the conversation's last user turn."""
        if conversation_id is not None and self._regenerates is not None:
            self._regenerates.remember(conversation_id, last_user_turn(query), decision)

    def _thumbs_down_replaced(self, decision_id: str, identity: str = "") -> None:
        """A regenerate's verdict on the answer it replaces, from ``identity`` (who asked);
        never fails the new request."""
        try:
            self.feedback(decision_id, thumbs="down", source=REGENERATE, identity=identity)
        except (DecisionError, ValueError) as exc:  # gone, or already judged otherwise
            logger.info("implicit regenerate feedback on %s not counted: %s", decision_id, exc)

    async def _athumbs_down_replaced(self, decision_id: str, identity: str = "") -> None:
        """:meth:`_thumbs_down_replaced` for an event loop."""
        try:
            await self.afeedback(decision_id, thumbs="down", source=REGENERATE, identity=identity)
        except (DecisionError, ValueError) as exc:
            logger.info("implicit regenerate feedback on %s not counted: %s", decision_id, exc)

    # -- learning ------------------------------------------------------------------------------
    def feedback(
        self,
        decision_id: str,
        *,
        label: float | bool | None = None,
        score: float | None = None,
        thumbs: str | bool | int | None = None,
        source: str | None = None,
        idempotency_key: str | None = None,
        identity: str = "",
    ) -> FeedbackReceipt:
        """Learn from one piece of feedback on an open decision. The decision store counts the
        same (decision, kind, source) once (the stored row answers a repeat) and refuses a
        changed value (:class:`~agent.store.FeedbackConflict`); ``identity`` says who sent it
        (a service's authenticated client; ``""``, in process), and caps its weight
        (:mod:`agent.source_cap`). Raises ``ValueError`` for bad values and
        :class:`~agent.store.DecisionError` for unknown or expired decisions."""
        claim = self._claim(decision_id, label, score, thumbs, source, idempotency_key, identity)
        return _receipt(self._store.claim(claim, self._learn_claim), claim)

    async def afeedback(
        self,
        decision_id: str,
        *,
        label: float | bool | None = None,
        score: float | None = None,
        thumbs: str | bool | int | None = None,
        source: str | None = None,
        idempotency_key: str | None = None,
        identity: str = "",
    ) -> FeedbackReceipt:
        """:meth:`feedback` for an event loop: a durable store answers after its commit."""
        claim = self._claim(decision_id, label, score, thumbs, source, idempotency_key, identity)
        return _receipt(await self._store.aclaim(claim, self._learn_claim), claim)

    def learn(self, lesson: Lesson) -> bool:
        """Fold one outcome into the policy: the one door every piece of learning goes
        through (live feedback, once its store has counted it; a service's replay of
        committed feedback rows; a labeller's outcomes, :meth:`lessons`). False if the
        lesson's model has left the pool or its weight is 0 (capped away). Its level cells
        are read as the policy's levels allow (a row decided by a pool built with other levels
        counts as in no cell there: :func:`agent.contexts.level_cells`)."""
        if lesson.weight <= 0:
            return False
        with self._lock:
            if lesson.model not in self.policy.models:
                return False
            at = lesson.context
            ctx = replace(at, cells=level_cells(self.policy, at.cells), shift=0.0)
            self.policy.update(
                ctx,
                lesson.model,
                lesson.value,
                kind=lesson.kind,
                weight=lesson.weight,
                shared=lesson.shared,
            )
            return True

    def _claim(
        self,
        decision_id: str,
        label: float | bool | None,
        score: float | None,
        thumbs: str | bool | int | None,
        source: str | None,
        idempotency_key: str | None,
        identity: str,
    ) -> Claim:
        kind, value = feedback_value(label=label, score=score, thumbs=thumbs)
        validate_feedback(value, kind)
        return Claim(
            decision_id, kind, value, source or "", idempotency_key, self.clock(), identity
        )

    def _learn_claim(self, record: OpenDecision, claim: Claim, power: Influence) -> bool:
        """The store's learn callback: a counted claim, at the weight its caps left it."""
        return self.learn(
            Lesson.of(
                record, claim.value, kind=claim.kind, weight=power.weight, shared=power.shared
            )
        )

    # -- labelling -----------------------------------------------------------------------------
    def nominate(self, n: int = 10) -> list[Nomination]:
        """``n`` recent prompts to label (needs ``label_candidates > 0``): a uniform random
        sample of the recent prompts, so labels follow the traffic. (Ranking them by what
        their labels would teach, the knowledge gradient, taught no more than a sample on the
        shared logs and was removed: BENCHMARKS.md, "Ablation".)"""
        if not self._candidates.capacity:
            raise ValueError("this router keeps no prompts to nominate: build it with "
                             "label_candidates=N")  # fmt: skip
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        candidates = self._candidates.snapshot()
        chosen = self._nominations.permutation(len(candidates))[:n]
        return [Nomination(candidates[i][0], candidates[i][2]) for i in chosen]

    def lessons(
        self,
        prompt: int | str,
        outcomes: Mapping[str, float],
        *,
        tags: Mapping[str, str] | None = None,
    ) -> list[Lesson]:
        """What a labeller's outcomes (0/1, or a score in [0, 1], per pool model) on one
        prompt teach: one lesson per model, to give to :meth:`learn`. ``prompt`` is a
        nominated prompt's key (its context as it was routed; it leaves the candidates) or any
        prompt's text (embedded, without showing it to the shift meter; ``tags`` as for
        routing). Raises ``ValueError`` for bad outcomes (the candidates are then untouched)
        and ``KeyError`` for a key that is not a candidate."""
        check_outcomes(outcomes, self.models)
        if isinstance(prompt, str):
            if not prompt.strip():
                raise ValueError("a prompt to label must not be empty")
            ctx = self.context_for(prompt, tags, observe=False)
        elif tags:
            raise ValueError("tags go with a prompt's text; a nominated prompt keeps its own")
        else:
            ctx = self._candidates.take(prompt)
        return label_lessons(replace(ctx, shift=0.0), outcomes)

    # -- the pool ------------------------------------------------------------------------------
    def add_model(
        self,
        model: str | ModelProfile,
        cost: float | None = None,
        validation_rows: Sequence[Any] = (),
        *,
        add: bool = True,
    ) -> ModelProfile:
        """Onboard a model, nothing else retrained: a profile as it is, or a name whose
        labelled validation rows ``(prompt, correct, cost)`` the router embeds and clusters
        into its profile (``cost`` per request; None: the rows' mean). Returns the profile;
        ``add=False`` only computes it (a service stores it before every replica adds it)."""
        if isinstance(model, ModelProfile):
            profile = model
        else:
            profile = profile_from_rows(
                model,
                validation_rows,
                embedder=self.embedder,
                cluster_map=self.cluster_map,
                cost=cost,
                soft=self.soft,
                level_maps=self.level_maps,
            )
        if add:
            with self._lock:
                self.policy.add_model(profile)
        return profile

    def remove_model(self, name: str) -> None:
        """Take ``name`` out of the pool (feedback on its open decisions is then not learnt)."""
        with self._lock:
            self.policy.remove_model(name)

    def set_price(self, name: str, cost: float) -> None:
        """``name``'s cost per request from now on."""
        with self._lock:
            self.policy.set_price(name, cost)

    def correct_cost(self, budget: float, model: str, real: float) -> None:
        """An answer by ``model`` to a decision paced by ``budget`` cost ``real``, not the
        model's price its pacer observed (a proxy learns the real cost from the upstream's
        usage). Nothing if ``model`` has left the pool or no request was paced by ``budget``."""
        with self._lock:
            pacer = self._pacers.get(budget)
            names = self.policy.models
            if pacer is not None and model in names:
                pacer.correct(float(self.policy.costs[names.index(model)]), real)

    # -- reading -------------------------------------------------------------------------------
    @property
    def models(self) -> list[str]:
        """The pool's model names, in the policy's order."""
        with self._lock:
            return self.policy.models

    @property
    def lam(self) -> float:
        """The cost weight λ the policy routes with when a request names none (settable)."""
        return float(self.policy.lam)

    @lam.setter
    def lam(self, value: float) -> None:
        if not (np.isfinite(value) and value >= 0):
            raise ValueError(f"λ must be a finite number >= 0, got {value}")
        with self._lock:
            self.policy.lam = float(value)

    def context_for(
        self,
        prompt_or_messages: str | Messages,
        tags: Mapping[str, str] | None = None,
        *,
        observe: bool = True,
    ) -> Context:
        """The context of a prompt or of a conversation's recent user turns, with the app's
        ``tags``: what the policy routes and learns on. The shift meter observes it unless
        ``observe=False`` (the context then has no shift)."""
        texts, w = self._turns(prompt_or_messages)
        return self._context_from(self.embedder.encode(texts), w, texts, tags, observe=observe)

    def view(self) -> Policy:
        """A consistent, read-only snapshot of the policy, taken under the lock: a copy, so
        what is read from it (scores, choice probabilities, its Beta summaries, costs) neither
        races with routing and feedback nor draws from the live policy's random stream."""
        with self._lock:
            return copy.deepcopy(self.policy)

    # -- persistence ---------------------------------------------------------------------------
    def state(self, *, with_store: bool = True) -> dict[str, Any]:
        """Everything needed to resume, as plain JSON-safe data: parameters, embedder id,
        policy, conversations, budget pacers, the shift meter (where the router has one) and
        (``with_store``, for a store that keeps its decisions in memory) the open decisions
        with their feedback."""
        with self._lock:
            state: dict[str, Any] = {
                "params": {p: getattr(self, p) for p in self._PARAMS},
                "embedder": self.embedder.id,
                "policy": self.policy.to_state(),
                "sticky": self.conversations.to_state(),
                "pacers": [[b, p.to_state()] for b, p in self._pacers.items()],
            }
        if self.shift is not None:
            state["shift"] = self.shift.to_state()
        if with_store:
            to_state = getattr(self._store, "to_state", None)
            if to_state is None:
                raise TypeError(f"{type(self._store).__name__} keeps its decisions itself")
            state["store"] = to_state()
        return state

    @classmethod
    def from_state(cls, state: dict[str, Any], cluster_map: ClusterMap, **kwargs: Any) -> Self:
        """The router :meth:`state` described, around ``cluster_map``. ``kwargs`` are the
        constructor's: the embedder, level maps, secret, clock, store, and any parameter
        to take instead of the saved one (a service restores a snapshot under today's
        settings)."""
        params = {**state.get("params", {}), **kwargs, "shift": saved_shift(state)}
        router = cls(Policy.from_state(state["policy"]), cluster_map, **params)
        router.conversations.load_state(state.get("sticky", {}))
        router._load_pacers(state.get("pacers", []))
        if "store" in state:
            store: Any = router._store
            store.load_state(state["store"])
        return router

    def save(self, path: str | Path) -> None:
        """Write the router into the directory ``path`` (created if missing):
        :mod:`agent.persistence`."""
        write_dir(path, self.state(), self.cluster_map, self.level_maps)

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        embedder: Embedder,
        secret: bytes | None = None,
        clock: Callable[[], float] = time.time,
    ) -> Self:
        """Read a router written by :meth:`save`; ``embedder`` must be the one it was built
        with."""
        state, cmap, level_maps = read_dir(path, embedder.id)
        return cls.from_state(
            state, cmap, embedder=embedder, level_maps=level_maps, secret=secret, clock=clock
        )

    def inherit(self, live: Router) -> None:
        """Take over what the traffic taught the router ``live`` beyond its policy, as a
        service's rebuilt router replaces it: its prompts to label, shift meter, regenerate
        watch (all three shared), budget pacers and conversations (copied)."""
        with live._lock:
            pacers = [[b, p.to_state()] for b, p in live._pacers.items()]
        self._candidates = live._candidates
        self.shift = live.shift
        self._load_pacers(pacers)
        self.conversations.load_state(live.conversations.to_state())
        self._regenerates = live._regenerates

    def _load_pacers(self, state: Sequence[Sequence[Any]]) -> None:
        """Resume the budget pacers ``[budget, state]`` pairs describe."""
        with self._lock:
            for budget, pstate in state:
                self._pacer(float(budget)).load_state(pstate)


def _receipt(claimed: Claimed, claim: Claim) -> FeedbackReceipt:
    row = claimed.stored
    value = row.value if row.value is not None else claim.value
    return FeedbackReceipt(
        row.decision_id,
        claimed.model,
        row.kind,
        value,
        row.weight,
        duplicate=claimed.duplicate,
        applied=claimed.applied,
        feedback_id=row.feedback_id,
    )
