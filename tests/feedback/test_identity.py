"""Feedback is attributed to an identity (the client key that matched, as an id, else the
address), a claimed source is scoped under it, and one identity's total weight on a (cluster,
model) is capped across every source it claims and across replicas."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import Session, select

from feedback.app import create_app
from feedback.models import FeedbackRow
from feedback.settings import Settings

KEY = "client-key-1"


def _rows(app: Any) -> list[FeedbackRow]:
    with Session(app.state.service.engine) as s:
        return list(s.exec(select(FeedbackRow).order_by(FeedbackRow.id)).all())


def _send(c: TestClient, d: dict[str, Any], headers: Any = None, **body: Any) -> dict[str, Any]:
    body = {"decision_id": d["decision_id"], "token": d["token"], **body}
    r = c.post("/feedback", json=body, headers=headers or {})
    assert r.status_code in (200, 201), r.text
    return dict(r.json())


def _route(c: TestClient, prompt: str, model: str, headers: Any = None) -> dict[str, Any]:
    r = c.post("/route", json={"prompt": prompt, "allowed": [model]}, headers=headers or {})
    assert r.status_code == 200, r.text
    return dict(r.json())


def _a_choice(c: TestClient, headers: Any = None) -> tuple[str, str]:
    """A prompt and the model the router chooses for it unrestricted: under the greedy policy,
    a decision restricted to that model teaches fully (:mod:`agent.propensity`), and positive
    feedback keeps it the choice."""
    r = c.post("/route", json={"prompt": "sort this list of numbers"}, headers=headers or {})
    return "sort this list of numbers", str(r.json()["model"])


def test_feedback_is_attributed_to_the_key_that_matched_never_the_key(h: Any, clock: Any) -> None:
    app, engine = h.memory_app(h.base_settings(client_keys=f"{KEY},other"), clock)
    with TestClient(app) as c:
        for spelling in (f"Bearer {KEY}", f"bearer   {KEY} "):
            auth = {"Authorization": spelling}
            d = c.post("/route", json={"prompt": "hi"}, headers=auth).json()
            _send(c, d, auth, label=1, source="alice")
            _send(c, d, auth, label=1)  # no source: the identity itself
        rows = _rows(app)
        identities = {r.identity for r in rows}
        assert len(identities) == 1 and identities.pop().startswith("key:")
        assert all(KEY not in r.identity and KEY not in r.source for r in rows)
        assert [r.source.split("/", 1)[1] for r in rows] == ["alice", "", "alice", ""]
    engine.dispose()


def test_two_identities_on_one_decision_count_twice_and_a_repeat_once(h: Any, clock: Any) -> None:
    app, engine = h.memory_app(h.base_settings(client_keys="ka,kb"), clock)
    with TestClient(app) as c:
        a, b = {"Authorization": "Bearer ka"}, {"Authorization": "Bearer kb"}
        d = c.post("/route", json={"prompt": "hi"}, headers=a).json()
        first = _send(c, d, a, label=1)
        assert _send(c, d, a, label=1)["duplicate"]
        other = _send(c, d, b, label=1)
        assert not other["duplicate"] and other["feedback_id"] != first["feedback_id"]
    engine.dispose()


def _cap_settings(h: Any, **values: Any) -> Settings:
    defaults = {"identity_budget": 3.0, "policy": "greedy"}
    settings: Settings = h.base_settings(**{**defaults, **values})
    return settings


def test_fresh_sources_do_not_escape_the_identity_cap(h: Any, clock: Any) -> None:
    app, engine = h.memory_app(_cap_settings(h), clock)
    with TestClient(app) as c:
        prompt, model = _a_choice(c)
        weights = [
            _send(c, _route(c, prompt, model), label=1, source=f"fresh-{i}")["weight"]
            for i in range(6)
        ]
        assert weights[:3] == [1.0, 1.0, 1.0] and weights[3:] == [0.0, 0.0, 0.0]
        assert sum(weights) == 3.0  # the budget, whatever the sources
        applied = c.get("/admin/posterior", headers=h.admin()).json()["applied_feedback"]
        assert applied == 6  # counted (stored, once each), though three moved nothing
    engine.dispose()


def test_the_cap_is_per_identity(h: Any, clock: Any) -> None:
    app, engine = h.memory_app(_cap_settings(h, client_keys="ka,kb"), clock)
    with TestClient(app) as c:
        a, b = {"Authorization": "Bearer ka"}, {"Authorization": "Bearer kb"}
        prompt, model = _a_choice(c, a)
        for who in (a, b):
            weights = [
                _send(c, _route(c, prompt, model, who), who, thumbs="up")["weight"]
                for _ in range(4)
            ]
            assert weights == [1.0, 1.0, 1.0, 0.0]
    engine.dispose()


def test_the_cap_holds_across_replicas_through_the_database(
    shared_settings: Settings, h: Any, clock: Any
) -> None:
    settings = shared_settings.with_values({"identity_budget": 3.0, "policy": "greedy"})
    with (
        TestClient(create_app(settings, clock=clock)) as a,
        TestClient(create_app(settings, clock=clock)) as b,
    ):
        prompt, model = _a_choice(a)
        weights = [
            _send(r, _route(r, prompt, model), label=1, source=f"s{i}")["weight"]
            for i, r in enumerate([a, b] * 3)
        ]
        assert sum(weights) == pytest.approx(3.0) and weights[-1] == 0.0


def test_the_cap_window_slides(h: Any, clock: Any) -> None:
    app, engine = h.memory_app(_cap_settings(h, identity_window=3600.0), clock)
    with TestClient(app) as c:
        prompt, model = _a_choice(c)
        spent = [_send(c, _route(c, prompt, model), label=1)["weight"] for _ in range(4)]
        assert spent == [1.0, 1.0, 1.0, 0.0]
        clock.offset += 3601
        assert _send(c, _route(c, prompt, model), label=1)["weight"] == 1.0
    engine.dispose()


def test_one_identity_moves_the_shared_corrections_by_its_shared_budget_in_all(
    h: Any, clock: Any
) -> None:
    """Wherever its feedback lands (any cluster, any model), one identity's total weight on the
    parts shared by every model is its shared budget; the per-model weight is untouched, a
    second identity has a budget of its own, and each row stores what it was given."""
    settings = _cap_settings(h, identity_shared_budget=1.5, client_keys="ka,kb")
    app, engine = h.memory_app(settings, clock)
    prompts = ["sort this list of numbers", "Is 91 a prime number?", "write a haiku about rain"]
    with TestClient(app) as c:
        for key in ("ka", "kb"):
            auth = {"Authorization": f"Bearer {key}"}
            for p in prompts:
                model = str(c.post("/route", json={"prompt": p}, headers=auth).json()["model"])
                assert _send(c, _route(c, p, model, auth), auth, label=1)["weight"] == 1.0
        rows = _rows(app)
    engine.dispose()
    by_identity: dict[str, list[float]] = {}
    for r in rows:
        by_identity.setdefault(r.identity, []).append(r.shared or 0.0)
    assert [r.weight for r in rows] == [1.0] * 6
    assert sorted(by_identity.values()) == [[1.0, 0.5, 0.0], [1.0, 0.5, 0.0]]


def test_what_the_shared_budget_let_through_is_what_a_restart_replays(
    tmp_path: Any, h: Any
) -> None:
    """The posterior rebuilt from the stored rows (no snapshot) learns each row's shared
    weight again, not its full weight."""
    settings = h.base_settings(
        database_url=f"sqlite:///{tmp_path / 'db.sqlite'}", identity_shared_budget=0.25
    )
    prompts = ["sort this list of numbers", "Is 91 a prime number?", "write a haiku about rain"]
    with TestClient(create_app(settings)) as c:
        for p in prompts * 4:
            _send(c, c.post("/route", json={"prompt": p}).json(), label=0)
        router = c.app.state.service.router  # type: ignore[attr-defined]
        before = [router.view().mean_scores(router.context_for(p)) for p in prompts]
        with c.app.state.service.engine.begin() as conn:  # type: ignore[attr-defined]
            conn.execute(text("DELETE FROM ra_snapshot"))  # the restart replays every row
        shared = [r.shared for r in _rows(c.app)]
    assert shared[0] == 0.25 and sum(x or 0.0 for x in shared) == pytest.approx(0.25)
    with TestClient(create_app(settings)) as c:
        router = c.app.state.service.router  # type: ignore[attr-defined]
        after = [router.view().mean_scores(router.context_for(p)) for p in prompts]
    assert np.allclose(before, after, atol=1e-9)


@pytest.mark.parametrize(
    "values",
    [{"identity_budget": -1}, {"identity_window": 0}, {"identity_shared_budget": -0.5}],
)
def test_nonsense_caps_are_refused_at_start_up(values: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="identity_budget|identity_window|shared_budget"):
        Settings().with_values(values)
