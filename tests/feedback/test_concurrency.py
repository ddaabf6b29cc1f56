"""Concurrency on a shared database (SQLite file and real PostgreSQL): duplicates sent at once
count once, and two replicas fed concurrently converge to the same posterior."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import numpy as np
from fastapi.testclient import TestClient
from sqlmodel import Session, delete, func, select

from feedback.app import create_app
from feedback.models import DecisionRow, FeedbackRow, PolicySnapshot
from feedback.settings import Settings


def _rows(client: TestClient) -> int:
    with Session(client.app.state.service.engine) as s:  # type: ignore[attr-defined]
        return int(s.exec(select(func.count()).select_from(FeedbackRow)).one())


def test_concurrent_duplicates_count_once(shared_settings: Settings, h: Any) -> None:
    with TestClient(create_app(shared_settings)) as c:
        d = h.route(c)
        body = {
            "decision_id": d["decision_id"],
            "token": d["token"],
            "thumbs": "up",
            "source": "app-1",
        }
        barrier = threading.Barrier(12)

        def send(i: int) -> tuple[int, int]:
            headers = {"Idempotency-Key": "same-key"} if i % 2 else {}
            barrier.wait()
            r = c.post("/feedback", json=body, headers=headers)
            return r.status_code, r.json()["feedback_id"]

        with ThreadPoolExecutor(12) as pool:
            results = list(pool.map(send, range(12)))
        codes = sorted(code for code, _ in results)
        assert codes == [200] * 11 + [201]
        assert len({fid for _, fid in results}) == 1
        assert _rows(c) == 1
        post = c.get("/admin/posterior", headers=h.admin()).json()
        assert post["applied_feedback"] == 1


def test_concurrent_changed_values_one_counts_the_rest_see_it(
    shared_settings: Settings, h: Any
) -> None:
    """Racing labels 1 and 0 for one (decision, source), on two replicas: exactly one is
    stored (201); each repeat of its value is a 200 duplicate, each other value a 409 that
    shows the stored one."""
    with TestClient(create_app(shared_settings)) as a, TestClient(create_app(shared_settings)) as b:
        d = h.route(a)
        body = {"decision_id": d["decision_id"], "token": d["token"], "source": "app-1"}
        barrier = threading.Barrier(12)

        def send(i: int) -> tuple[int, int, dict[str, Any]]:
            barrier.wait()
            r = (a, b)[i % 2].post("/feedback", json={**body, "label": (i // 2) % 2})
            return r.status_code, (i // 2) % 2, r.json()

        with ThreadPoolExecutor(12) as pool:
            results = list(pool.map(send, range(12)))
        won = [label for code, label, _ in results if code == 201]
        assert len(won) == 1, results
        for code, label, out in results:
            if code == 201:
                continue
            if label == won[0]:
                assert code == 200 and out["duplicate"] and out["value"] == won[0], out
            else:
                assert code == 409 and out["stored"]["value"] == won[0], out
        assert _rows(a) == 1


def test_two_replicas_converge(shared_settings: Settings, h: Any) -> None:
    settings = shared_settings.with_values({"poll_interval": 0.05})
    with TestClient(create_app(settings)) as a, TestClient(create_app(settings)) as b:
        replicas = [a, b]
        decisions = [
            h.route(replicas[i % 2], f"question number {i} about sorting") for i in range(40)
        ]

        def send(i: int) -> tuple[int, float]:
            d = decisions[i % len(decisions)]
            value = {"label": i % 2} if i % 3 else {"score": (i % 5) / 4}
            r = replicas[(i // 2) % 2].post(
                "/feedback",
                json={
                    "decision_id": d["decision_id"],
                    "token": d["token"],
                    "source": f"user-{i}",
                    **value,
                },
            )
            return r.status_code, float(r.json()["weight"])

        with ThreadPoolExecutor(8) as pool:
            codes, weights = zip(*pool.map(send, range(200)), strict=True)
        assert list(codes) == [201] * 200
        # One client (one address, 200 sources) is one identity: its weight on each
        # (cluster, model) is capped, and both replicas learn the same capped weights.
        assert sum(weights) < 200
        assert _rows(a) == 200
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the background poll, not an explicit sync
            counts = [r.get("/healthz").json()["applied_feedback"] for r in replicas]
            if counts == [200, 200]:
                break
            time.sleep(0.05)
        assert counts == [200, 200]
        posts = [r.get("/admin/posterior", headers=h.admin()).json() for r in replicas]
        assert posts[0]["applied_feedback"] == posts[1]["applied_feedback"] == 200
        assert posts[0]["models"] == posts[1]["models"]
        for key in ("alpha", "beta"):
            np.testing.assert_allclose(posts[0][key], posts[1][key], rtol=0, atol=1e-9)
        gained = np.sum(posts[0]["alpha"]) + np.sum(posts[0]["beta"])
        prior = np.sum(posts[0]["alpha0"]) + np.sum(posts[0]["beta0"])
        assert abs(gained - prior - sum(weights)) < 1e-6


def test_pool_change_reaches_the_other_replica(shared_settings: Settings, h: Any) -> None:
    settings = shared_settings.with_values({"poll_interval": 0.05})
    with TestClient(create_app(settings)) as a, TestClient(create_app(settings)) as b:
        d = h.route(b)
        new = {
            "name": "late-arrival",
            "cost": 0.0,
            "rows": [{"prompt": "What is 2 + 2?", "correct": 1}],
        }
        assert a.post("/models", json=new, headers=h.admin()).status_code == 201
        deadline = time.monotonic() + 10
        while "late-arrival" not in b.get("/models").text and time.monotonic() < deadline:
            time.sleep(0.05)
        assert h.route(b, allowed=["late-arrival"])["model"] == "late-arrival"
        r = a.post(
            "/feedback", json={"decision_id": d["decision_id"], "token": d["token"], "label": 1}
        )
        assert r.status_code == 201
        pa, pb = (x.get("/admin/posterior", headers=h.admin()).json() for x in (a, b))
        assert pa["models"] == pb["models"] and pa["alpha"] == pb["alpha"]


def test_concurrent_feedback_from_one_source_is_capped_as_if_sequential(
    shared_settings: Settings, h: Any
) -> None:
    settings = shared_settings.with_values({"source_limit": 2})
    with TestClient(create_app(settings)) as c:
        decisions = [h.route(c, f"question {i} about graphs") for i in range(8)]
        barrier = threading.Barrier(8)

        def send(d: dict[str, Any]) -> float:
            barrier.wait()
            body = {"decision_id": d["decision_id"], "token": d["token"], "label": 1}
            r = c.post("/feedback", json={**body, "user": "spammer"})
            assert r.status_code == 201, r.text
            return float(r.json()["weight"])

        with ThreadPoolExecutor(8) as pool:
            weights = sorted(pool.map(send, decisions), reverse=True)
        assert weights == [1.0, 1.0] + [2 / n for n in range(3, 9)]
        post = c.get("/admin/posterior", headers=h.admin()).json()
        gained = np.sum(post["alpha"]) + np.sum(post["beta"])
        prior = np.sum(post["alpha0"]) + np.sum(post["beta0"])
        assert abs(gained - prior - sum(weights)) < 1e-9


def test_leaf_evidence_is_stored_and_rebuilt(shared_settings: Settings, h: Any) -> None:
    shared_settings = replace(shared_settings, leaves=64)
    with TestClient(create_app(shared_settings)) as a:
        for i in range(12):
            d = h.route(a, f"task {i % 3}: sort these numbers")
            body = {"decision_id": d["decision_id"], "token": d["token"], "label": i % 2}
            assert a.post("/feedback", json=body).status_code == 201
        live = a.app.state.service.router.policy.posterior  # type: ignore[attr-defined]
        leaf_s, leaf_f = live.leaf_s.copy(), live.leaf_f.copy()
        engine = a.app.state.service.engine  # type: ignore[attr-defined]
        with Session(engine) as s:
            leaves = set(s.exec(select(DecisionRow.leaf)).all())
    assert leaf_s.sum() + leaf_f.sum() > 0 and min(leaves) >= 0
    with Session(engine) as s:  # no snapshot: replay the feedback rows and their leaves
        s.execute(delete(PolicySnapshot))
        s.commit()
    engine.dispose()
    with TestClient(create_app(shared_settings)) as b:  # rebuilt from the rows alone
        rebuilt = b.app.state.service.router.policy.posterior  # type: ignore[attr-defined]
        np.testing.assert_allclose(rebuilt.leaf_s, leaf_s, atol=1e-12)
        np.testing.assert_allclose(rebuilt.leaf_f, leaf_f, atol=1e-12)


def test_prompt_memory_is_stored_and_rebuilt(shared_settings: Settings, h: Any) -> None:
    """The default policy's prompt memory survives a restart with no snapshot: each decision
    row keeps its prompt key, and the feedback rows replay into it."""
    prompts = ["Is 91 a prime number?", "Translate 'good night' into French."]
    with TestClient(create_app(shared_settings)) as a:
        for i in range(8):
            d = h.route(a, prompts[i % 2])
            body = {"decision_id": d["decision_id"], "token": d["token"], "thumbs": "down"}
            assert a.post("/feedback", json=body).status_code == 201
        live = a.app.state.service.router.policy.posterior.items  # type: ignore[attr-defined]
        memory = {key: live.get(key).copy() for key in live._rows}
        engine = a.app.state.service.engine  # type: ignore[attr-defined]
        with Session(engine) as s:
            keys = set(s.exec(select(DecisionRow.prompt_key)).all())
    assert len(memory) == 2 and keys == set(memory)  # 63-bit keys round-trip through BIGINT
    assert sum(row[2].sum() for row in memory.values()) == 8
    with Session(engine) as s:
        s.execute(delete(PolicySnapshot))
        s.commit()
    engine.dispose()
    with TestClient(create_app(shared_settings)) as b:
        rebuilt = b.app.state.service.router.policy.posterior.items  # type: ignore[attr-defined]
        assert set(rebuilt._rows) == set(memory)
        for key, row in memory.items():
            np.testing.assert_allclose(rebuilt.get(key), row, atol=1e-12)
