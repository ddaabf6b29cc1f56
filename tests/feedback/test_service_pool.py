"""The shared pool: what the first replica builds (cluster map, level maps, profiles, and for
``default`` the warm start's stacking weights and the shift meter's reference) is stored once
in the database, so every replica builds the same router; and a stored snapshot this version
cannot restore (an older version's, or another policy's) is passed over for a clean rebuild."""

from __future__ import annotations

import json
import logging
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from feedback import crud
from feedback.app import create_app
from feedback.bootstrap import BLEND, SHIFT
from feedback.models import PolicySnapshot
from feedback.settings import Settings

PROMPTS = [f"question number {i} about sorting lists in python" for i in range(15)] + [
    f"qzx{i % 7} vwk{i % 5} frobnicate{i % 11}" for i in range(15)
]

#: What the ``default`` policy of the version before the rewrite saved (Thompson sampling on
#: Beta cells with leaves, a prompt memory, tag corrections and a drift guard), abridged: its
#: parameters and the parts it had, each in its old form.
OLD_DEFAULT_POLICY: dict[str, Any] = {
    "class": "Thompson",
    "params": {
        "explore": 0.5, "info_tempering": 1.0, "pool_tempering": 0.5, "propensity_samples": 0,
        "lam": 0.1, "prior_scale": 1.0, "shrink": 4.0, "n_leaves": 32, "leaf_strength": 5.0,
        "item_strength": 2.0, "max_items": 100000, "tag_strength": 10.0, "stale_strength": 2.0,
        "multires": True, "discount": 1.0, "drift": 0.002, "thumbs": [0.8, 0.3], "seed": 0,
    },
    "posterior": {"alpha0": [[19.5, 35.9]], "beta0": [[20.5, 4.1]], "leaf_s": [], "items": {}},
    "rng": {"bit_generator": "PCG64", "state": {"state": 1, "inc": 3}, "has_uint32": 0,
            "uinteger": 0},
    "t": 1,
    "decided": 1,
    "evidence": 1.0,
    "guard": {"adwin": {}, "alarms": []},
    "extra": {},
}  # fmt: skip


def _learn(c: TestClient, h: Any, n: int) -> None:
    for i in range(n):
        d = h.route(c, PROMPTS[i % len(PROMPTS)])
        body = {"decision_id": d["decision_id"], "token": d["token"], "label": i % 2}
        assert c.post("/feedback", json=body).status_code == 201


def _posterior(c: TestClient, h: Any) -> dict[str, Any]:
    post: dict[str, Any] = c.get("/admin/posterior", headers=h.admin()).json()
    return post


def test_the_pool_stores_the_blend_and_the_shift_reference_and_replicas_agree(
    shared_settings: Settings, h: Any
) -> None:
    with TestClient(create_app(shared_settings)) as a, TestClient(create_app(shared_settings)) as b:
        ra = a.app.state.service.router  # type: ignore[attr-defined]
        rb = b.app.state.service.router  # type: ignore[attr-defined]
        with Session(a.app.state.service.engine) as s:  # type: ignore[attr-defined]
            blend = json.loads(crud.get_meta(session=s, key=BLEND) or "null")
            reference = json.loads(crud.get_meta(session=s, key=SHIFT) or "null")
        # the stacking weights, one per partition (all prompts, the clusters, the task level)
        assert len(blend) == len(ra.policy.blend.sizes) == 3
        np.testing.assert_allclose(ra.policy.blend.weights, np.asarray(blend) / sum(blend))
        # the shift meter's reference, nothing seen yet: each replica starts from it
        assert reference["seen"] == 0 and ra.shift.to_state() == rb.shift.to_state() == reference
        assert ra.shift is not rb.shift
        # Both replicas built the same router: the same decisions, draw for draw, for the
        # same prompts in the same order (one seed).
        assert ra.state(with_store=False)["policy"] == rb.state(with_store=False)["policy"]
        da = [h.route(a, p) for p in PROMPTS]
        db = [h.route(b, p) for p in PROMPTS]
        assert [d["model"] for d in da] == [d["model"] for d in db]
        assert [d["scores"] for d in da] == [d["scores"] for d in db]
        assert ra.shift.to_state() == rb.shift.to_state() and ra.shift.seen == len(PROMPTS)
        # not a coincidence of a pool with one good model: the decisions vary
        assert len({d["model"] for d in da}) > 1


def _replace_snapshot_policy(settings: Settings, policy: dict[str, Any], old: bool) -> None:
    """Overwrite the newest snapshot's policy state (and, ``old``, drop its shift meter, as
    before the router had one)."""
    with TestClient(create_app(settings)) as c:
        engine = c.app.state.service.engine  # type: ignore[attr-defined]
    with Session(engine) as s:
        row = s.exec(select(PolicySnapshot).order_by(col(PolicySnapshot.id).desc())).first()
        assert row is not None
        state = json.loads(row.state)
        state["router"]["policy"] = policy
        if old:
            state["router"].pop("shift", None)
        row.state = json.dumps(state)
        s.add(row)
        s.commit()


def test_a_snapshot_of_the_old_policy_format_is_rebuilt_from_the_profiles(
    shared_settings: Settings, h: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with TestClient(create_app(shared_settings)) as a:
        _learn(a, h, 10)
        learnt = _posterior(a, h)["learnt"]
        assert learnt == 10
    _replace_snapshot_policy(shared_settings, OLD_DEFAULT_POLICY, old=True)
    with caplog.at_level(logging.WARNING, logger="feedback.service"):
        with TestClient(create_app(shared_settings)) as b:
            post = _posterior(b, h)
            router = b.app.state.service.router  # type: ignore[attr-defined]
            assert type(router.policy).__name__ == "OnlineUniRoute"
            assert router.shift is not None
            # the profiles, then every stored feedback row, learnt once
            assert post["applied_feedback"] == 10 and post["learnt"] == learnt
            h.route(b, "What is 2 + 2?")  # and it serves
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("cannot be restored" in m and "another version" in m for m in warned), warned
    # b stored a snapshot of today's form as it stopped: the next start restores it quietly
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="feedback.service"):
        with TestClient(create_app(shared_settings)) as c:
            assert _posterior(c, h)["alpha"] == post["alpha"]
    assert not [r for r in caplog.records if "cannot be restored" in r.getMessage()]


def test_a_snapshot_of_another_policy_is_passed_over(
    shared_settings: Settings, h: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A service restarted with another ``policy`` setting does not resume the old policy's
    snapshot: it starts the new policy from the profiles and replays the feedback."""
    greedy = shared_settings.with_values({"policy": "greedy"})
    with TestClient(create_app(greedy)) as a:
        _learn(a, h, 6)
        assert type(a.app.state.service.router.policy).__name__ == "Greedy"  # type: ignore[attr-defined]
    with caplog.at_level(logging.WARNING, logger="feedback.service"):
        with TestClient(create_app(shared_settings.with_values({"policy": "thompson"}))) as b:
            router = b.app.state.service.router  # type: ignore[attr-defined]
            assert type(router.policy).__name__ == "Thompson"
            assert _posterior(b, h)["learnt"] == 6
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("holds a Greedy policy" in m for m in warned), warned
