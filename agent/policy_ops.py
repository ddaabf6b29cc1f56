"""What changes a :class:`~agent.router.Router`'s policy after its warm start: feedback and
pool changes, and read-outs of the posterior. The ``Router``'s half that writes to the policy."""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from agent.clusters import ClusterMap, LevelMap
from agent.contexts import level_cells
from agent.conversation import Messages
from agent.decision import FeedbackReceipt, OpenDecision, feedback_value
from agent.embedder import Embedder
from agent.regenerate import SOURCE as REGENERATE
from agent.regenerate import RegenerateWatch, last_user_turn
from agent.source_cap import Influence
from agent.store import Claim, Claimed, DecisionError, DecisionStore
from agent.warm_start import profile_from_rows
from policies import BudgetPacer, Context, ModelProfile, Policy, validate_feedback

logger = logging.getLogger(__name__)


class PolicyOps:
    """Feedback, direct updates and pool changes, each under the router's lock."""

    policy: Policy
    cluster_map: ClusterMap
    level_maps: tuple[LevelMap, ...]
    embedder: Embedder
    soft: bool
    store: DecisionStore
    regenerates: RegenerateWatch | None
    clock: Callable[[], float]
    _lock: threading.RLock
    _pacers: dict[float, BudgetPacer]

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
        return _receipt(self.store.claim(claim, self._learn), claim)

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
        return _receipt(await self.store.aclaim(claim, self._learn), claim)

    # -- implicit feedback: regenerates ---------------------------------------------------------
    def replaced(self, conversation_id: str | None, query: str | Messages) -> str | None:
        """The decision a request regenerates (same conversation and last user turn within
        the window), if the router watches for regenerates."""
        if conversation_id is None or self.regenerates is None:
            return None
        return self.regenerates.previous(conversation_id, last_user_turn(query))

    def answered(self, conversation_id: str | None, query: str | Messages, decision: str) -> None:
        """Remember which decision answers the conversation's last user turn."""
        if conversation_id is not None and self.regenerates is not None:
            self.regenerates.remember(conversation_id, last_user_turn(query), decision)

    def thumbs_down_replaced(self, decision_id: str, identity: str = "") -> None:
        """A regenerate's verdict on the answer it replaces, from ``identity`` (who asked);
        never fails the new request."""
        try:
            self.feedback(decision_id, thumbs="down", source=REGENERATE, identity=identity)
        except (DecisionError, ValueError) as exc:  # gone, or already judged otherwise
            logger.info("implicit regenerate feedback on %s not counted: %s", decision_id, exc)

    async def athumbs_down_replaced(self, decision_id: str, identity: str = "") -> None:
        """:meth:`thumbs_down_replaced` for an event loop."""
        try:
            await self.afeedback(decision_id, thumbs="down", source=REGENERATE, identity=identity)
        except (DecisionError, ValueError) as exc:
            logger.info("implicit regenerate feedback on %s not counted: %s", decision_id, exc)

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

    def _learn(self, record: OpenDecision, claim: Claim, power: Influence) -> bool:
        return self.apply(
            record.weights,
            record.model,
            claim.value,
            kind=claim.kind,
            weight=power.weight,
            shared=power.shared,
            prompt_key=record.prompt_key,
            tags=record.tags,
            cells=record.cells,
        )

    def apply(
        self,
        weights: np.ndarray,
        model: str,
        value: float,
        *,
        kind: str,
        weight: float = 1.0,
        shared: float | None = None,
        prompt_key: int = -1,
        tags: tuple[str, ...] = (),
        cells: Sequence[int] = (),
    ) -> bool:
        """Fold feedback into the policy directly (no store); False if ``model`` has left
        the pool or ``weight`` is 0 (capped away). ``shared`` is its weight on the parts the
        policy shares between models (default ``weight``; :mod:`agent.source_cap`). Services
        use this to replay persisted feedback (with the decision's prompt key and level
        cells)."""
        if weight <= 0:
            return False
        with self._lock:
            if model not in self.policy.models:
                return False
            ctx = Context(
                np.asarray(weights),
                prompt_key=prompt_key,
                tags=tags,
                cells=level_cells(self.policy, cells),
            )
            self.policy.update(ctx, model, value, kind=kind, weight=weight, shared=shared)
            return True

    # -- the pool ------------------------------------------------------------------------------
    def profile_for(
        self, name: str, validation_rows: Sequence[Any], *, cost: float | None = None
    ) -> ModelProfile:
        """Embed and cluster labelled rows ``(prompt, correct, cost)`` into a profile."""
        return profile_from_rows(
            name,
            validation_rows,
            embedder=self.embedder,
            cluster_map=self.cluster_map,
            cost=cost,
            soft=self.soft,
            level_maps=self.level_maps,
        )

    def add_model(
        self, name: str, cost: float | None, validation_rows: Sequence[Any]
    ) -> ModelProfile:
        """Onboard a model from labelled validation rows alone; nothing else is retrained."""
        profile = self.profile_for(name, validation_rows, cost=cost)
        with self._lock:
            self.policy.add_model(profile)
        return profile

    def add_profile(self, profile: ModelProfile) -> None:
        with self._lock:
            self.policy.add_model(profile)

    def remove_model(self, name: str) -> None:
        with self._lock:
            self.policy.remove_model(name)

    def set_price(self, name: str, cost: float) -> None:
        with self._lock:
            self.policy.set_price(name, cost)

    def correct_cost(self, budget: float, estimated: float, real: float) -> None:
        """The answer to a decision paced by ``budget`` cost ``real``, not the ``estimated``
        cost its pacer observed (a proxy learns the real cost from the upstream's usage)."""
        with self._lock:
            pacer = self._pacers.get(budget)
            if pacer is not None:
                pacer.correct(estimated, real)

    def costs(self) -> dict[str, float]:
        with self._lock:
            return dict(zip(self.policy.models, self.policy.costs.tolist(), strict=True))

    def pacer_state(self) -> list[list[Any]]:
        """Every budget pacer's JSON-safe state, as ``[budget, state]`` pairs."""
        with self._lock:
            return [[b, p.to_state()] for b, p in self._pacers.items()]

    def load_pacer_state(self, state: Sequence[Sequence[Any]]) -> None:
        """Resume the pacers :meth:`pacer_state` described."""
        with self._lock:
            for budget, pstate in state:
                self._pacer(float(budget)).load_state(pstate)

    def _pacer(self, budget: float) -> BudgetPacer:
        """The pacer of ``budget`` (created on first use; call under the lock)."""
        pacer = self._pacers.get(budget)
        if pacer is None:
            pacer = BudgetPacer(
                budget, cost_scale=self.policy.cost_scale, start_lam=self.policy.lam
            )
            self._pacers[budget] = pacer
        return pacer

    def view(self) -> Policy:
        """A consistent, read-only snapshot of the policy, taken under the lock: a copy, so
        what is read from it (scores, choice probabilities, its Beta summaries) neither races
        with routing and feedback nor draws from the live policy's random stream."""
        with self._lock:
            return copy.deepcopy(self.policy)

    def policy_state(self) -> dict[str, Any]:
        """The policy's JSON-safe state, read under the lock."""
        with self._lock:
            return self.policy.to_state()

    def posterior(self) -> dict[str, Any]:
        """A JSON-safe summary of what the policy believes per (cluster, model): Beta
        parameters of its current estimate and of its warm start
        (:meth:`policies.Policy.cluster_betas`)."""
        with self._lock:
            alpha, beta, alpha0, beta0 = self.policy.cluster_betas()
            return {
                "models": self.policy.models,
                "alpha": alpha.tolist(),
                "beta": beta.tolist(),
                "alpha0": alpha0.tolist(),
                "beta0": beta0.tolist(),
            }


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
