"""The embeddable Router: routing, feedback, conversations, pool changes, state, threads."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent.conversation import conversation_turns, pool_embedding
from agent.embedder import HashingEmbedder
from agent.router import Router
from agent.store import ExpiredDecisionError, FeedbackConflict, UnknownDecisionError
from agent.synthetic_log import generate_log


@pytest.fixture(scope="module")
def log() -> Any:
    return generate_log(n_prompts=300, n_models=4, seed=1)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(log: Any, **kwargs: Any) -> Router:
    return Router.from_log(log, embedder=HashingEmbedder(dim=64), k=6, **kwargs)


def evidence(router: Router) -> float:
    alpha, beta, alpha0, beta0 = router.view().cluster_betas()
    return float(np.sum(alpha) + np.sum(beta) - np.sum(alpha0) - np.sum(beta0))


def test_route_returns_a_full_decision(log: Any) -> None:
    router = make(log, secret=b"s")
    d = router.route(log.prompts[0])
    assert d.model in router.models and set(d.scores) == set(router.models)
    assert len(d.id) == 32 and d.token is not None and len(d.token) == 64
    assert d.weights.sum() == pytest.approx(1.0)
    assert router.route(log.prompts[0], allowed=[router.models[2]]).model == router.models[2]
    with pytest.raises(ValueError, match="unknown"):
        router.route("x", allowed=["nope"])
    with pytest.raises(ValueError, match="λ"):
        router.route("x", lam=-1.0)


def test_feedback_kinds_duplicates_and_errors(log: Any) -> None:
    clock = Clock()
    router = make(log, policy="greedy", ttl=60, clock=clock)
    d = router.route(log.prompts[1])
    first = router.feedback(d.id, label=1)
    assert first.weight == 1.0
    again = router.feedback(d.id, label=1)  # same (decision, kind, source): the stored row
    assert again.duplicate and again.feedback_id == first.feedback_id
    with pytest.raises(FeedbackConflict, match="changed value"):
        router.feedback(d.id, label=0)
    assert not router.feedback(d.id, label=0, source="other").duplicate
    assert router.feedback(d.id, thumbs="down").kind == "thumbs"
    assert router.feedback(d.id, thumbs=True, source="x").value == 1.0
    assert router.feedback(d.id, score=0.5).value == 0.5
    assert evidence(router) > 3.0
    for bad in ({"label": 2}, {"score": 1.5}, {"thumbs": "meh"}, {}, {"label": 1, "score": 1}):
        with pytest.raises(ValueError):
            router.feedback(d.id, **bad)
    with pytest.raises(UnknownDecisionError):
        router.feedback("f" * 32, label=1)
    clock.now += 61
    with pytest.raises(ExpiredDecisionError, match="closes after 60s"):
        router.feedback(d.id, label=1, source="late")


def test_source_cap_down_weights_a_spammer(log: Any) -> None:
    router = make(log, source_limit=2)
    weights = [
        router.feedback(router.route(p).id, thumbs="up", source="bot").weight
        for p in log.prompts[:4]
    ]
    assert weights == [1.0, 1.0, pytest.approx(2 / 3), 0.5]


def test_a_restricted_decision_teaches_as_its_propensity_says(log: Any) -> None:
    router = make(log, policy="greedy")  # choice probabilities 0 or 1
    prompt = log.prompts[0]
    best = router.route(prompt).model
    other = next(m for m in router.models if m != best)
    assert router.feedback(router.route(prompt, allowed=[best]).id, label=1).weight == 1.0
    everyone = router.route(prompt, allowed=router.models)  # not narrowed
    assert router.feedback(everyone.id, label=1).weight == 1.0
    before = router.view().cluster_betas()
    never = router.feedback(router.route(prompt, allowed=[other]).id, label=1)
    assert never.weight == 0.0 and not never.applied
    for was, now in zip(before, router.view().cluster_betas(), strict=True):
        np.testing.assert_array_equal(was, now)


def test_an_identitys_weight_on_a_cell_is_capped_across_its_sources(log: Any) -> None:
    router = make(log, policy="greedy")
    prompt = log.prompts[0]
    model = router.route(prompt).model
    weights = [
        router.feedback(
            router.route(prompt, allowed=[model]).id, thumbs="up", source=f"s{i}", identity="x"
        ).weight
        for i in range(12)
    ]
    assert weights == [1.0] * 10 + [0.0] * 2  # the default budget: 10 per (cluster, model)
    in_process = router.feedback(router.route(prompt).id, thumbs="up")  # no identity: no cap
    assert in_process.weight == 1.0


def test_messages_route_on_the_conversation(log: Any) -> None:
    router = make(log)
    msgs = [
        {"role": "user", "content": log.prompts[3]},
        {"role": "assistant", "content": "…"},
        {"role": "user", "content": "ok, commit it"},
    ]
    texts, w = conversation_turns(msgs)
    expected = router.cluster_map.weights(pool_embedding(router.embedder.encode(texts), w))[0]
    np.testing.assert_array_equal(router.context_for(msgs).weights, expected)
    assert texts == [log.prompts[3], "ok, commit it"]


def test_sticky_conversation_needs_a_margin_to_switch(log: Any) -> None:
    router = make(log, policy="greedy", stickiness=10.0)
    first = router.route(log.prompts[5], conversation_id="c")
    other = next(m for m in router.models if m != first.model)
    router.conversations.remember("c", other)
    d = router.route(log.prompts[5], conversation_id="c")
    assert d.model == other and d.sticky
    router.stickiness = 0.0
    assert router.route(log.prompts[5], conversation_id="c").model == first.model


def test_pool_changes(log: Any) -> None:
    router = make(log, policy="greedy")
    rows = [(p, 1.0, 0.0) for p in log.prompts[:30]]
    profile = router.add_model("free-oracle", 0.0, rows)
    assert profile.accuracy == 1.0 and router.models[-1] == "free-oracle"
    assert router.route(log.prompts[0]).model == "free-oracle"
    router.set_price("free-oracle", 1e3)
    assert router.route(log.prompts[0]).model != "free-oracle"
    router.remove_model("free-oracle")
    assert "free-oracle" not in router.models
    with pytest.raises(ValueError):
        router.add_model("empty", 0.0, [])


def test_save_load_round_trip(log: Any, tmp_path: Path) -> None:
    router = make(log, stickiness=0.2, secret=b"k")
    open_decision = router.route(log.prompts[7], conversation_id="c9")
    router.feedback(router.route(log.prompts[8]).id, label=1)
    router.save(tmp_path / "r")
    loaded = Router.load(tmp_path / "r", embedder=HashingEmbedder(dim=64), secret=b"k")
    assert loaded.policy.to_state() == router.policy.to_state()
    assert loaded.stickiness == 0.2 and loaded.conversations.last("c9") == open_decision.model
    # the default's shift meter comes back as it was
    assert loaded.shift is not None and router.shift is not None
    assert loaded.shift.to_state() == router.shift.to_state()
    # and so the same choices: Thompson draws from the saved generator, the same cells
    for p in log.prompts[9:30]:
        a, b = router.route(p), loaded.route(p)
        assert (a.model, a.scores, a.cells) == (b.model, b.scores, b.cells)
    assert not loaded.feedback(open_decision.id, label=1).duplicate
    with pytest.raises(ValueError, match="embedder"):
        Router.load(tmp_path / "r", embedder=HashingEmbedder(dim=32))


def test_budget_paces_lam(log: Any) -> None:
    router = make(log)
    lams = [router.route(p, budget=1e-9).lam for p in log.prompts[:20]]
    assert lams[-1] > lams[0]


@pytest.mark.parametrize("policy", ["default", "greedy"])
def test_concurrent_route_and_feedback_lose_nothing(log: Any, policy: str) -> None:
    router = make(log, policy=policy)
    errors: list[BaseException] = []

    def work(w: int) -> None:
        try:
            for i in range(50):
                d = router.route(log.prompts[(w * 50 + i) % len(log.prompts)])
                router.feedback(d.id, label=i % 2)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert router.policy.counters == (400, 400)  # (updates, decisions)
    if policy == "greedy":  # Beta counts: every label is one more observation
        assert evidence(router) == pytest.approx(400.0)


def test_tags_travel_with_the_decision_and_teach_nothing_of_their_own(log: Any) -> None:
    router = make(log, policy="greedy", lam=0.0)
    prompt = log.prompts[2]
    first = router.route(prompt, tags={"task": "code"})
    assert first.tags == ("task=code",) and first.to_dict()["tags"] == ["task=code"]
    assert router._store.get(first.id).context.tags == ("task=code",)  # kept for the reports
    # The same prompt, told apart only by its tag: the model keeps failing on "code".
    for _ in range(30):
        d = router.route(prompt, tags={"task": "code"})
        router.feedback(d.id, label=0)
    code = router.route(prompt, tags={"task": "code"})
    assert code.model != first.model  # the prompt's cells learnt
    chat = router.route(prompt, tags={"task": "chat"})
    assert (chat.model, chat.scores) == (code.model, code.scores)  # the tag taught nothing
    with pytest.raises(ValueError, match="string value"):
        router.route(prompt, tags={"task": 1})  # type: ignore[dict-item]
