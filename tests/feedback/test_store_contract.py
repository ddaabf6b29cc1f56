"""One suite, every decision store: the embedded Router's memory store, and the service's SQL
store on SQLite and on PostgreSQL, all driven through the Router's own front door
(``route`` / ``feedback`` / ``afeedback``). The rules must agree: counted once, a changed
value refused, idempotency keys, the feedback window, the source and identity caps, concurrent
repeats."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from agent.embedder import HashingEmbedder
from agent.memory_store import MemoryDecisionStore
from agent.router import Router
from agent.source_cap import Limits
from agent.store import (
    ExpiredDecisionError,
    FeedbackConflict,
    IdempotencyKeyReused,
    UnknownDecisionError,
)
from agent.synthetic_log import generate_log

TTL, LIMIT, BUDGET = 600.0, 2, 2.0


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def router(request: pytest.FixtureRequest, clock: Any, h: Any) -> Iterator[Router]:
    settings = {"decision_ttl": TTL, "source_limit": LIMIT, "identity_budget": BUDGET}
    if request.param == "memory":
        log = generate_log(n_prompts=300, n_models=4, seed=0)
        limits = Limits(source_limit=LIMIT, identity_budget=BUDGET)
        yield Router.from_log(
            log,
            embedder=HashingEmbedder(dim=64),
            k=6,
            ttl=TTL,
            source_limit=LIMIT,
            clock=clock,
            store=MemoryDecisionStore(ttl=TTL, limits=limits, clock=clock),
        )
        return
    if request.param == "sqlite":
        app, engine = h.memory_app(h.base_settings(**settings), clock)
    else:
        from feedback.app import create_app

        schema = request.getfixturevalue("pg_schema")
        app, engine = (
            create_app(
                h.base_settings(database_url=h.pg_url, db_schema=schema, **settings),
                clock=clock,
            ),
            None,
        )
    with TestClient(app):
        yield app.state.service.router
    if engine is not None:
        engine.dispose()


def learnt(router: Router) -> tuple[int, str]:
    """How many pieces of feedback the policy has learnt, and what it learnt from them."""
    state = router.state(with_store=False)["policy"]
    return state["t"], json.dumps(state["extra"])


def test_feedback_counts_once_and_a_changed_value_is_refused(router: Router) -> None:
    d = router.route("What is 17 * 23?")
    before = learnt(router)
    first = router.feedback(d.id, label=1)
    assert not first.duplicate and first.applied and first.weight == 1.0
    after = learnt(router)
    assert after[0] == before[0] + 1 and after[1] != before[1]
    again = router.feedback(d.id, label=1)
    assert again.duplicate and again.feedback_id == first.feedback_id
    assert learnt(router) == after  # learnt once
    with pytest.raises(FeedbackConflict, match="changed value") as err:
        router.feedback(d.id, label=0)
    assert err.value.stored.value == 1.0 and err.value.stored.feedback_id == first.feedback_id
    other = router.feedback(d.id, label=0, source="reviewer")  # another source counts
    thumbs = router.feedback(d.id, thumbs="down")  # and so does another kind
    assert not other.duplicate and not thumbs.duplicate
    assert len({first.feedback_id, other.feedback_id, thumbs.feedback_id}) == 3


def test_idempotency_keys(router: Router) -> None:
    d1, d2 = router.route("sort a list"), router.route("capital of France")
    first = router.feedback(d1.id, score=0.5, idempotency_key="k-1")
    assert router.feedback(d1.id, score=0.5, idempotency_key="k-1").duplicate
    with pytest.raises(IdempotencyKeyReused):
        router.feedback(d2.id, score=0.5, idempotency_key="k-1")
    assert not router.feedback(d2.id, score=0.5, idempotency_key="k-2").duplicate
    assert first.value == 0.5


def test_unknown_and_expired_decisions(router: Router, clock: Any) -> None:
    with pytest.raises(UnknownDecisionError, match="no decision"):
        router.feedback("f" * 32, label=1)
    d = router.route("What is 2 + 2?")
    clock.offset += TTL + 1
    with pytest.raises(ExpiredDecisionError, match=f"closes after {TTL:g}s"):
        router.feedback(d.id, label=1)


def test_bad_values_are_refused_before_any_store(router: Router) -> None:
    d = router.route("What is 2 + 2?")
    for bad in ({"label": 2}, {"score": float("nan")}, {"thumbs": "meh"}, {}):
        with pytest.raises(ValueError):
            router.feedback(d.id, **bad)
    assert not router.feedback(d.id, label=1).duplicate  # nothing was stored by the refusals


def test_the_source_cap(router: Router) -> None:
    decisions = [router.route(f"question number {i}") for i in range(4)]
    weights = [router.feedback(d.id, thumbs="up", source="bot").weight for d in decisions]
    assert weights == [1.0, 1.0, pytest.approx(2 / 3), 0.5]
    assert router.feedback(decisions[0].id, thumbs="up").weight == 1.0  # anonymous: uncapped


def test_the_identity_cap(router: Router) -> None:
    prompt = "What is 17 * 23?"
    model = router.route(prompt).model
    weights: list[float] = []
    for _ in range(200):  # decisions for one (cluster, model), each from a fresh source
        d = router.route(prompt)
        if d.model == model:
            receipt = router.feedback(d.id, thumbs="up", source=f"s{len(weights)}", identity="x")
            weights.append(receipt.weight)
        if len(weights) == 4:
            break
    assert weights == [1.0, 1.0, 0.0, 0.0]
    d = router.route(prompt)
    assert router.feedback(d.id, thumbs="up", identity="y").weight == 1.0  # its own budget


def test_concurrent_repeats_count_once(router: Router) -> None:
    d = router.route("What is 17 * 23?")
    receipts: list[Any] = []
    barrier = threading.Barrier(6)

    def send() -> None:
        barrier.wait()
        receipts.append(router.feedback(d.id, thumbs="up", source="app"))

    threads = [threading.Thread(target=send) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.duplicate for r in receipts) == [False] + [True] * 5
    assert len({r.feedback_id for r in receipts}) == 1


def test_the_async_front_door_agrees(router: Router) -> None:
    async def run() -> tuple[Any, Any]:
        d = await router.aroute("What is 17 * 23?")
        first = await router.afeedback(d.id, score=0.25)
        return first, await router.afeedback(d.id, score=0.25)

    first, again = asyncio.run(run())
    assert not first.duplicate and again.duplicate and again.feedback_id == first.feedback_id
