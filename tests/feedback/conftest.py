"""Fixtures: the app on in-memory SQLite (``StaticPool`` + ``dependency_overrides``), on a
SQLite file, and on the real PostgreSQL at 127.0.0.1:5432 in a per-test schema.

PostgreSQL tests skip when the server is unreachable, unless ``ROUTING_AGENT_REQUIRE_PG=1``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, create_engine

from feedback.app import create_app
from feedback.deps import get_db
from feedback.settings import Settings
from tests.feedback.proxy_helpers import (
    KEY_ENV,
    UPSTREAM_KEY,
    Upstream,
    proxy_client,
    write_upstreams,
)

PG_URL = os.environ.get(
    "ROUTING_AGENT_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
API_KEY = "test-admin-key"


class Clock:
    """A settable clock: ``clock()`` is real time plus ``offset``."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        import time

        return time.time() + self.offset


def base_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": "sqlite://",
        "embedder": "hashing-64",
        "api_key": API_KEY,
        "synthetic_prompts": 300,
        "k": 6,
        "poll_interval": 0.0,
        "snapshot_interval": 0.0,
        "decision_ttl": 3600.0,
    }
    values.update(overrides)
    return Settings(**values)


def pg_available() -> str | None:
    """None if PostgreSQL answers, else the reason it does not."""
    dsn = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    try:
        with psycopg.connect(dsn, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return f"PostgreSQL at {PG_URL} unreachable: {exc}".strip()


def require_pg() -> None:
    reason = pg_available()
    if reason is None:
        return
    if os.environ.get("ROUTING_AGENT_REQUIRE_PG") == "1":
        pytest.fail(f"{reason} (ROUTING_AGENT_REQUIRE_PG=1)")
    pytest.skip(reason)


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh schema on the real PostgreSQL, dropped afterwards."""
    require_pg()
    schema = f"ra_test_{uuid.uuid4().hex[:12]}"
    yield schema
    dsn = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def memory_app(settings: Settings, clock: Callable[[], float]) -> tuple[FastAPI, Engine]:
    engine = create_engine(
        "sqlite://", connect_args={"check_same_thread": False}, poolclass=StaticPool
    )
    app = create_app(settings, engine=engine, clock=clock)

    def _db() -> Iterator[Session]:
        with Session(engine, expire_on_commit=False) as session:
            yield session

    app.dependency_overrides[get_db] = _db
    return app, engine


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["sqlite", "postgresql"])
def client(request: pytest.FixtureRequest, clock: Clock) -> Iterator[TestClient]:
    """The app on in-memory SQLite, then on PostgreSQL."""
    if request.param == "sqlite":
        app, engine = memory_app(base_settings(), clock)
        with TestClient(app) as c:
            yield c
        engine.dispose()
    else:
        schema = request.getfixturevalue("pg_schema")
        app = create_app(base_settings(database_url=PG_URL, db_schema=schema), clock=clock)
        with TestClient(app) as c:
            yield c


@pytest.fixture(params=["sqlite-file", "postgresql"])
def shared_settings(request: pytest.FixtureRequest, tmp_path: Any) -> Settings:
    """Settings for a database several app instances and threads can share."""
    if request.param == "sqlite-file":
        return base_settings(database_url=f"sqlite:///{tmp_path / 'ra.db'}")
    schema = request.getfixturevalue("pg_schema")
    return base_settings(database_url=PG_URL, db_schema=schema)


class Helpers:
    """Small request helpers, handed to tests by the ``h`` fixture."""

    api_key = API_KEY
    pg_url = PG_URL
    base_settings = staticmethod(base_settings)
    memory_app = staticmethod(memory_app)

    @staticmethod
    def route(c: Any, prompt: str = "What is 17 * 23?", **extra: Any) -> dict[str, Any]:
        r = c.post("/route", json={"prompt": prompt, **extra})
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    @staticmethod
    def admin() -> dict[str, str]:
        return {"X-API-Key": API_KEY}


@pytest.fixture(scope="session")
def h() -> type[Helpers]:
    return Helpers


# -- the proxy against a fake upstream (tests/feedback/test_proxy*.py) ------------------------
@pytest.fixture
def upstream() -> Upstream:
    return Upstream()


@pytest.fixture
def proxied(
    tmp_path: Path, upstream: Upstream, h: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    monkeypatch.setenv(KEY_ENV, UPSTREAM_KEY)
    settings = h.base_settings(upstreams=str(write_upstreams(tmp_path / "up.toml")))
    with proxy_client(settings, upstream) as c:
        yield c
