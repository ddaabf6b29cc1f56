"""Where decisions wait for their feedback: the :class:`DecisionStore` protocol, and the rules
every store applies to a piece of feedback, written once.

A store keeps each decision until its feedback window (the TTL) closes, and *claims* each piece
of feedback: the same (decision, kind, source) counts once, a changed value is refused, and
what one source, and one identity, may weigh is capped (:mod:`agent.source_cap`). A claimed
source is scoped under the identity that sent it: two identities' feedback on one decision
are two pieces, and inventing sources does not escape the identity's cap. The embedded
:class:`~agent.router.Router` uses the in-memory :class:`~agent.memory_store.MemoryDecisionStore`;
the service uses a SQL store with group commit (:mod:`feedback.sql_store`). Both call the
functions below, and one test suite runs against both (``tests/feedback/test_store_contract.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from agent.decision import OpenDecision
from agent.source_cap import Influence


class DecisionError(LookupError):
    """Feedback that cannot be matched to a live decision."""


class UnknownDecisionError(DecisionError):
    """No decision with this id was made (or it was forgotten long ago)."""


class ExpiredDecisionError(DecisionError):
    """The decision exists but its feedback window (TTL) has closed."""


class FeedbackConflict(ValueError):
    """This (decision, kind, source) already holds another value; the stored one counts."""

    def __init__(self, message: str, stored: StoredFeedback) -> None:
        super().__init__(message)
        self.stored = stored


class IdempotencyKeyReused(ValueError):
    """An idempotency key sent again with a different feedback request."""


def scoped(identity: str, source: str) -> str:
    """The source as stored: scoped under its identity (``""``: an in-process caller).

    >>> scoped("", "app"), scoped("key:1f2e", "app"), scoped("addr:10.0.0.1", "")
    ('app', 'key:1f2e/app', 'addr:10.0.0.1/')
    """
    return f"{identity}/{source}" if identity else source


def unscoped(identity: str, stored: str) -> str:
    """The source a client claimed, from the stored one.

    >>> unscoped("key:1f2e", "key:1f2e/app"), unscoped("", "app"), unscoped("a", "a/")
    ('app', 'app', '')
    """
    prefix = f"{identity}/" if identity else ""
    return stored[len(prefix) :] if stored.startswith(prefix) else stored


@dataclass(frozen=True, slots=True)
class Claim:
    """One piece of feedback asking to count. ``source`` is the claimed source (``""`` when
    none); ``identity`` who sent it (``""``: an in-process caller, see
    :mod:`agent.source_cap`)."""

    decision_id: str
    kind: str
    value: float
    source: str
    idempotency_key: str | None
    now: float
    identity: str = ""

    @property
    def stored_source(self) -> str:
        """The source as stored: scoped under the identity."""
        return scoped(self.identity, self.source)

    @property
    def triple(self) -> tuple[str, str, str]:
        """What counts once: (decision, kind, source scoped under its identity)."""
        return (self.decision_id, self.kind, self.stored_source)


@dataclass(frozen=True, slots=True)
class StoredFeedback:
    """A counted piece of feedback. ``value`` is None only for feedback recorded before
    stores kept values (a router saved by an older version): any repeat of it is a duplicate.
    ``source`` is the claimed one; ``identity`` who sent it."""

    feedback_id: int
    decision_id: str
    kind: str
    value: float | None
    source: str
    weight: float
    idempotency_key: str | None = None
    identity: str = ""

    @property
    def triple(self) -> tuple[str, str, str]:
        return (self.decision_id, self.kind, scoped(self.identity, self.source))

    def to_dict(self) -> dict[str, Any]:
        return {
            "feedback_id": self.feedback_id,
            "decision_id": self.decision_id,
            "kind": self.kind,
            "value": self.value,
            "source": self.source or None,
            "weight": self.weight,
        }


@dataclass(frozen=True, slots=True)
class Claimed:
    """A claim's outcome: the stored feedback (the new row, or the one a duplicate repeats),
    the model it is about, and whether it moved the posterior."""

    stored: StoredFeedback
    model: str
    duplicate: bool
    applied: bool


#: How a store hands a new claim to the router: learn ``value`` of ``kind`` on the decision's
#: cell with the claim's influence (its weight); returns False if nothing was learnt (the
#: model has left the pool, or the weight is 0).
Learn = Callable[[OpenDecision, Claim, Influence], bool]


class DecisionStore(Protocol):
    """Decisions and feedback claims. ``put`` remembers a decision (a durable store also starts
    writing it); ``durable`` waits until it is written; ``claim`` counts a piece of feedback
    once and calls ``learn`` for a new one, exactly once, before it returns."""

    def put(self, record: OpenDecision) -> None: ...

    async def durable(self, decision_id: str) -> None: ...

    def get(self, decision_id: str) -> OpenDecision: ...

    async def reassign(self, decision_id: str, model: str) -> None: ...

    def claim(self, claim: Claim, learn: Learn) -> Claimed: ...

    async def aclaim(self, claim: Claim, learn: Learn) -> Claimed: ...


def check_open(decision_id: str, created_at: float, now: float, ttl: float) -> None:
    """Raise :class:`ExpiredDecisionError` once a decision's feedback window has closed.

    >>> check_open("d1", created_at=0.0, now=10.0, ttl=10)
    >>> check_open("d1", created_at=0.0, now=11.0, ttl=10)
    Traceback (most recent call last):
    ...
    agent.store.ExpiredDecisionError: decision 'd1' is 11s old; feedback closes after 10s
    """
    age = now - created_at
    if age > ttl:
        raise ExpiredDecisionError(
            f"decision {decision_id!r} is {age:.0f}s old; feedback closes after {ttl:g}s"
        )


def settle_repeat(stored: StoredFeedback, claim: Claim) -> StoredFeedback:
    """A claim that collides with ``stored`` (same triple, or same idempotency key): the same
    value again is a duplicate (``stored`` answers it), another value is refused.

    >>> row = StoredFeedback(7, "d1", "label", 1.0, "", 1.0)
    >>> settle_repeat(row, Claim("d1", "label", 1.0, "", None, 0.0)).feedback_id
    7
    >>> settle_repeat(row, Claim("d1", "label", 0.0, "", None, 0.0))
    Traceback (most recent call last):
    ...
    agent.store.FeedbackConflict: label feedback on decision 'd1' from an anonymous source is \
already stored with value 1; a changed value (0) is refused, the stored one counts
    """
    same_key = claim.idempotency_key is not None and stored.idempotency_key == claim.idempotency_key
    if same_key and stored.triple != claim.triple:
        raise IdempotencyKeyReused(
            "Idempotency-Key was already used for a different feedback request"
        )
    if stored.value is not None and stored.value != claim.value:
        who = f"source {stored.source!r}" if stored.source else "an anonymous source"
        raise FeedbackConflict(
            f"{stored.kind} feedback on decision {stored.decision_id!r} from {who} is already "
            f"stored with value {stored.value:g}; a changed value ({claim.value:g}) is refused, "
            "the stored one counts",
            stored,
        )
    return stored
