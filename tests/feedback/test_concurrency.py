"""Concurrency on a shared database (SQLite file and real PostgreSQL): duplicates sent at once
count once, two replicas fed concurrently learn every row and agree (to within the order they
learnt them in), and what was learnt live is what the rows say."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from fastapi.testclient import TestClient
from sqlmodel import Session, delete, func, select

from feedback.app import create_app
from feedback.models import FeedbackRow, PolicySnapshot
from feedback.settings import Settings


def _learnt(c: TestClient) -> dict[str, Any]:
    """What the replica's policy has learnt: its feedback count and its corrections."""
    state = c.app.state.service.router.state(with_store=False)["policy"]  # type: ignore[attr-defined]
    return {"updates": state["t"], "learnt": state["extra"]}


def _rebuilt(settings: Settings) -> dict[str, Any]:
    """What a replica started on the database with no snapshot learns from the rows alone."""
    with TestClient(create_app(settings)) as c:
        with Session(c.app.state.service.engine) as s:  # type: ignore[attr-defined]
            s.execute(delete(PolicySnapshot))
            s.commit()
        c.app.state.service.rebuild()  # type: ignore[attr-defined]
        return _learnt(c)


def _means(post: dict[str, Any]) -> np.ndarray:
    alpha, beta = np.asarray(post["alpha"]), np.asarray(post["beta"])
    return np.asarray(alpha / (alpha + beta))


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
        taught = sum(w > 0 for w in weights)  # the rows capped to 0 teach nothing
        assert [_learnt(r)["updates"] for r in replicas] == [taught, taught]
        # The corrections are learnt by assumed density filtering, whose result depends a
        # little on the order the rows come in: the two agree closely, not exactly.
        gap = np.abs(_means(posts[0]) - _means(posts[1]))
        moved = np.abs(_means(posts[0]) - _means({"alpha": posts[0]["alpha0"],
                                                  "beta": posts[0]["beta0"]}))  # fmt: skip
        assert gap.max() < 0.05 and gap.mean() < 0.025 and gap.max() < moved.max() / 4
    # A replica rebuilt from the rows alone learns them in id order: the same each time.
    assert _rebuilt(settings) == _rebuilt(settings)


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
    # the live router learns exactly what a rebuild from the rows does
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
        assert c.get("/admin/posterior", headers=h.admin()).json()["applied_feedback"] == 8
        live = _learnt(c)
        with Session(c.app.state.service.engine) as s:  # type: ignore[attr-defined]
            stored = sorted(s.exec(select(FeedbackRow.weight)).all(), reverse=True)
    assert stored == weights and live["updates"] == 8
    # the live router learnt each row with the weight it was answered and stored with
    assert _rebuilt(settings) == live


def test_rows_are_learnt_off_the_writers_thread_in_id_order(h: Any, clock: Any) -> None:
    """The database writer's thread only hands a committed row over: the request that sent
    it learns it (and every earlier row of the replica), in id order."""
    app, engine = h.memory_app(h.base_settings(), clock)
    with TestClient(app) as c:
        service = c.app.state.service  # type: ignore[attr-defined]
        learnt: list[tuple[int, str]] = []
        committed = service._committed

        def spy(fid: int, learn: Any) -> None:
            def learn_and_note() -> bool:
                learnt.append((fid, threading.current_thread().name))
                return bool(learn())

            committed(fid, learn_and_note)

        service._committed = spy
        service.store._committed = spy
        decisions = [h.route(c, f"question {i} about sorting") for i in range(12)]
        before = _learnt(c)["updates"]
        with ThreadPoolExecutor(6) as pool:
            answers = list(
                pool.map(
                    lambda d: c.post(
                        "/feedback",
                        json={"decision_id": d["decision_id"], "token": d["token"], "label": 1},
                    ),
                    decisions,
                )
            )
        assert all(a.status_code == 201 for a in answers)
        assert _learnt(c)["updates"] - before == 12  # each learnt by the time it was answered
        ids = [fid for fid, _ in learnt]
        assert ids == sorted(ids) and len(ids) == 12
        assert not any(name == service._writer.name for _, name in learnt)
    engine.dispose()


def test_a_committed_row_whose_request_went_away_is_learnt_by_the_next_sync(
    h: Any, clock: Any
) -> None:
    app, engine = h.memory_app(h.base_settings(), clock)
    with TestClient(app) as c:
        service = c.app.state.service  # type: ignore[attr-defined]
        taught: list[int] = []
        row = service.applied.hwm + 1
        service._committed(row, lambda: taught.append(row) or True)  # its request never asks
        service.sync()
        assert taught == [row] and not service._backlog
    engine.dispose()
