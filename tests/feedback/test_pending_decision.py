"""Feedback on a decision whose row another replica has not committed yet.

The proxy answers before its decision's row commits. Feedback that reaches the same replica
queues behind that row. Feedback that reaches another replica waits a moment for it, then
counts once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Self

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine

import feedback.request_logic as request_logic
from agent.tokens import sign
from feedback.app import create_app
from feedback.schemas import RouteRequest
from feedback.settings import Settings
from feedback.writer import Job


class _Hold(Job):
    """Holds the writer thread (and so every job queued behind it) until ``release`` is set."""

    release = threading.Event()

    @classmethod
    def run_batch(cls, conn: Connection, jobs: Sequence[Self]) -> None:
        assert cls.release.wait(30)
        for j in jobs:
            j.written = True

    @classmethod
    def finish_batch(cls, engine: Engine, jobs: Sequence[Self]) -> None:
        """Nothing to add."""


def _feedback(c: TestClient, decision_id: str, token: str) -> Any:
    return c.post("/feedback", json={"decision_id": decision_id, "token": token, "thumbs": "up"})


def test_feedback_elsewhere_waits_for_the_decision_row(
    shared_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(request_logic, "PENDING_PAUSES_S", (0.05,) * 100)
    with TestClient(create_app(shared_settings)) as a, TestClient(create_app(shared_settings)) as b:
        service_a, writer_b = a.app.state.service, b.app.state.service._writer  # type: ignore[attr-defined]
        assert a.portal is not None
        _Hold.release.clear()
        held = service_a._writer.enqueue(_Hold())
        # The decision's row queues behind the held job, as a proxied answer's may still be
        # on its way to the database when the client has the answer.
        route = RouteRequest(prompt="How do I sort a list?")
        d = a.portal.call(service_a.requests.choose, route, "addr:testclient")
        before = writer_b.batches
        with ThreadPoolExecutor(1) as pool:
            sent = pool.submit(_feedback, b, d.id, d.token)
            deadline = time.monotonic() + 30
            while writer_b.batches == before and time.monotonic() < deadline:
                time.sleep(0.005)  # until b has looked the decision up and not found it
            assert writer_b.batches > before and not sent.done()
            _Hold.release.set()  # now the decision's row commits
            held.result(timeout=30)
            r = sent.result(timeout=30)
        assert r.status_code == 201, r.text
        assert r.json()["model"] == d.model and r.json()["duplicate"] is False
        again = _feedback(a, d.id, d.token)  # the same feedback at a: counted once
        assert again.status_code == 200 and again.json()["duplicate"] is True


def test_feedback_on_a_decision_never_stored_is_404_after_the_wait(
    shared_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(request_logic, "PENDING_PAUSES_S", (0.01, 0.01))
    with TestClient(create_app(shared_settings)) as c:
        service = c.app.state.service  # type: ignore[attr-defined]
        before = service._writer.batches
        r = _feedback(c, "never-stored", sign(service._secret, "never-stored"))
        assert r.status_code == 404
        assert service._writer.batches - before == 3  # the lookup and its two retries
