"""Restart recovery: a uvicorn process killed with SIGKILL mid-load loses no acknowledged
feedback; after a restart the posterior reflects every committed row exactly once."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from feedback.app import create_app
from feedback.db import make_engine
from feedback.models import FeedbackRow
from feedback.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(settings: Settings, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": settings.database_url,
        "ROUTING_AGENT_DB_SCHEMA": settings.db_schema or "",
        "ROUTING_AGENT_EMBEDDER": settings.embedder,
        "ROUTING_AGENT_SYNTHETIC_PROMPTS": str(settings.synthetic_prompts),
        "ROUTING_AGENT_K": str(settings.k),
        "ROUTING_AGENT_API_KEY": settings.api_key or "",
        "ROUTING_AGENT_SNAPSHOT_INTERVAL": "0.3",
        "ROUTING_AGENT_POLL_INTERVAL": "0.1",
    }
    cmd = [sys.executable, "-m", "feedback.serve", "--port", str(port), "--log-level", "warning"]
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log.read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"server did not start:\n{log.read_text()}")


def test_sigkill_mid_load_then_restart(shared_settings: Settings, tmp_path: Path, h: Any) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    proc = _start(shared_settings, port, log)
    acked: list[int] = []
    stop = threading.Event()
    try:
        with httpx.Client(base_url=base, timeout=5) as c:
            decisions = [
                c.post("/route", json={"prompt": f"task {i}: add {i} and 7"}).json()
                for i in range(60)
            ]

        def load(worker: int) -> None:
            with httpx.Client(base_url=base, timeout=5) as c:
                i = 0
                while not stop.is_set():
                    d = decisions[(worker * 7 + i) % len(decisions)]
                    try:
                        r = c.post(
                            "/feedback",
                            json={
                                "decision_id": d["decision_id"],
                                "token": d["token"],
                                "label": i % 2,
                                "source": f"w{worker}-{i}",
                            },
                        )
                    except httpx.HTTPError:
                        return
                    if r.status_code == 201:
                        acked.append(r.json()["feedback_id"])
                    i += 1

        threads = [threading.Thread(target=load, args=(w,)) for w in range(6)]
        for t in threads:
            t.start()
        # Kill mid-load: once feedback is flowing (a loaded machine may take a while to get
        # the client threads going), then a little later.
        deadline = time.monotonic() + 30
        while len(acked) < 100 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        stop.set()
        for t in threads:
            t.join(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert len(acked) > 50, log.read_text()

    engine = make_engine(shared_settings)
    with Session(engine) as s:
        stored = set(s.exec(select(FeedbackRow.id)).all())
        weights = list(s.exec(select(FeedbackRow.weight).order_by(col(FeedbackRow.id))).all())
    engine.dispose()
    assert set(acked) <= stored

    proc = _start(shared_settings, port, log)
    try:
        post = httpx.get(f"{base}/admin/posterior", headers=h.admin(), timeout=10).json()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    assert post["applied_feedback"] == len(stored)
    # every stored row that teaches (weight > 0) learnt exactly once: the snapshot's rows
    # and the rows after it
    assert post["learnt"] == sum(w > 0 for w in weights)


def test_a_database_from_the_first_release_is_brought_up_to_date(tmp_path: Path, h: Any) -> None:
    """``create_all`` adds no columns to an existing table: the start-up adds them, and folds
    the first release's context (its cluster weights alone) into the ``context`` column."""
    from sqlalchemy import create_engine, inspect, text

    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = create_engine(url)
    with old.begin() as conn:  # ra_decision as the first release made it
        conn.execute(
            text(
                "CREATE TABLE ra_decision (id VARCHAR(32) PRIMARY KEY, model VARCHAR(200) NOT "
                "NULL, weights TEXT NOT NULL, lam FLOAT NOT NULL, created_at FLOAT NOT NULL, "
                "conversation_id VARCHAR(200))"
            )
        )
        conn.execute(text("INSERT INTO ra_decision VALUES ('old', 'm', '[1.0]', 0.1, 0.0, NULL)"))
    old.dispose()
    with TestClient(create_app(h.base_settings(database_url=url))) as c:
        d = h.route(c, "Is 91 a prime number?")
        body = {"decision_id": d["decision_id"], "token": d["token"], "label": 1}
        assert c.post("/feedback", json=body).status_code == 201
        engine = c.app.state.service.engine  # type: ignore[attr-defined]
        columns = {col["name"] for col in inspect(engine).get_columns("ra_decision")}
        with engine.connect() as conn:
            row = conn.execute(
                text("SELECT context, teach FROM ra_decision WHERE id = 'old'")
            ).one()
    assert {"context", "teach"} <= columns and "weights" not in columns
    assert json.loads(row[0]) == {"weights": [1.0], "prompt_key": -1, "tags": [], "cells": []}
    assert row[1] == 1.0


def test_feedback_stored_before_the_shared_budget_replays_with_its_full_weight(
    tmp_path: Path, h: Any
) -> None:
    """An ``ra_feedback`` without the ``shared`` column gains it, and its older rows (NULL
    there) teach the shared corrections with their weight, as they did when they were
    learnt."""
    from sqlalchemy import text

    url = f"sqlite:///{tmp_path / 'old.db'}"
    prompts = ["Is 91 a prime number?", "sort this list of numbers"]
    with TestClient(create_app(h.base_settings(database_url=url, identity_budget=0.0))) as c:
        for p in prompts * 3:
            d = h.route(c, p)
            body = {"decision_id": d["decision_id"], "token": d["token"], "label": 0}
            assert c.post("/feedback", json=body).status_code == 201
        router = c.app.state.service.router  # type: ignore[attr-defined]
        before = [router.view().mean_scores(router.context_for(p)) for p in prompts]
        with c.app.state.service.engine.begin() as conn:  # type: ignore[attr-defined]
            conn.execute(text("DELETE FROM ra_snapshot"))
            conn.execute(text('ALTER TABLE ra_feedback DROP COLUMN "shared"'))
    with TestClient(create_app(h.base_settings(database_url=url, identity_budget=0.0))) as c:
        router = c.app.state.service.router  # type: ignore[attr-defined]
        after = [router.view().mean_scores(router.context_for(p)) for p in prompts]
        with c.app.state.service.engine.connect() as conn:  # type: ignore[attr-defined]
            shared = conn.execute(text("SELECT shared FROM ra_feedback")).scalars().all()
    assert shared == [None] * 6
    assert np.allclose(before, after, atol=1e-9)
