"""Engines for SQLite (default, a local file) and PostgreSQL (``DATABASE_URL``)."""

from __future__ import annotations

import re
import time
from typing import Any

from sqlalchemy import Connection, Engine, event, inspect, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import StaticPool
from sqlmodel import SQLModel, create_engine

from feedback import models  # noqa: F401  (registers the tables on SQLModel.metadata)
from feedback.models import SOURCE_CHARS
from feedback.settings import Settings

_SCHEMA = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql", "postgres"))


def make_engine(settings: Settings) -> Engine:
    """An engine for ``settings.database_url``; in-memory SQLite shares one connection."""
    url = settings.database_url
    if is_postgres(url):
        connect_args: dict[str, Any] = {}
        if settings.db_schema:
            if not _SCHEMA.match(settings.db_schema):
                raise ValueError(f"invalid schema name {settings.db_schema!r}")
            connect_args["options"] = f"-csearch_path={settings.db_schema}"
        return create_engine(
            url, pool_size=20, max_overflow=40, pool_pre_ping=False, connect_args=connect_args
        )
    if url in ("sqlite://", "sqlite:///:memory:"):
        return create_engine(url, connect_args={"check_same_thread": False}, poolclass=StaticPool)
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30},
        pool_size=20,
        max_overflow=40,
    )
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def create_tables(engine: Engine, settings: Settings) -> None:
    """Create the schema (PostgreSQL) and the tables if missing; safe for racing replicas."""
    if is_postgres(settings.database_url):
        with engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(727274)"))
            if settings.db_schema:
                conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{settings.db_schema}"'))
                conn.execute(text(f'SET LOCAL search_path TO "{settings.db_schema}"'))
            SQLModel.metadata.create_all(conn)
            _add_missing_columns(conn, settings.db_schema)
    else:
        for attempt in range(5):  # worker processes may race to create the same tables
            try:
                with engine.begin() as conn:
                    SQLModel.metadata.create_all(conn)
                    _add_missing_columns(conn, None)
                return
            except OperationalError:
                if attempt == 4:
                    raise
                time.sleep(0.2 * (attempt + 1))


#: Columns added after the first release: (table, column, DDL type and default).
_ADDED_COLUMNS = (
    ("ra_decision", "leaf", "INTEGER NOT NULL DEFAULT -1"),
    ("ra_decision", "prompt_key", "BIGINT NOT NULL DEFAULT -1"),
    ("ra_decision", "tags", "TEXT NOT NULL DEFAULT '[]'"),
    ("ra_decision", "cells", "TEXT NOT NULL DEFAULT '[]'"),
    ("ra_model", "levels", "TEXT NOT NULL DEFAULT '[]'"),
    ("ra_label", "cells", "TEXT NOT NULL DEFAULT '[]'"),
    ("ra_decision", "teach", "FLOAT NOT NULL DEFAULT 1"),
    ("ra_feedback", "identity", "VARCHAR(64) NOT NULL DEFAULT ''"),
    ("ra_feedback", "cell", "INTEGER NOT NULL DEFAULT -1"),
    ("ra_feedback", "model", "VARCHAR(200) NOT NULL DEFAULT ''"),
    ("ra_feedback", "watched", "BOOLEAN NOT NULL DEFAULT TRUE"),
    ("ra_snapshot", "basis", "TEXT NOT NULL DEFAULT ''"),
    ("ra_feedback", "shared", "FLOAT"),
)

#: Indexes added after the first release: (name, table, columns).
_ADDED_INDEXES = (("ix_ra_feedback_identity", "ra_feedback", ("identity", "created_at")),)


#: Columns renamed since: (table, old name, new name).
_RENAMED_COLUMNS = (("ra_decision", "item", "prompt_key"),)


def _add_missing_columns(conn: Connection, schema: str | None) -> None:
    """Bring a database made by an older version up to date (``create_all`` adds no columns)."""
    inspector = inspect(conn)
    for table, old, new in _RENAMED_COLUMNS:
        have = {c["name"] for c in inspector.get_columns(table, schema=schema)}
        if old in have and new not in have:
            name = f'"{schema}"."{table}"' if schema else f'"{table}"'
            conn.execute(text(f'ALTER TABLE {name} RENAME COLUMN "{old}" TO "{new}"'))
    inspector = inspect(conn)  # it caches the columns it has read
    for table, column, ddl in _ADDED_COLUMNS:
        have = {c["name"] for c in inspector.get_columns(table, schema=schema)}
        if column not in have:
            name = f'"{schema}"."{table}"' if schema else f'"{table}"'
            conn.execute(text(f'ALTER TABLE {name} ADD COLUMN "{column}" {ddl}'))
    for index, table, columns in _ADDED_INDEXES:
        name = f'"{schema}"."{table}"' if schema else f'"{table}"'
        cols = ", ".join(f'"{c}"' for c in columns)
        conn.execute(text(f'CREATE INDEX IF NOT EXISTS "{index}" ON {name} ({cols})'))
    if conn.dialect.name == "postgresql":  # SQLite does not enforce a VARCHAR's length
        _widen(conn, schema, "ra_feedback", "source", SOURCE_CHARS)


def _widen(conn: Connection, schema: str | None, table: str, column: str, chars: int) -> None:
    """Let ``column`` hold ``chars`` characters (it held fewer in an older version)."""
    for c in inspect(conn).get_columns(table, schema=schema):
        length = getattr(c["type"], "length", None)
        if c["name"] == column and length is not None and length < chars:
            name = f'"{schema}"."{table}"' if schema else f'"{table}"'
            conn.execute(text(f'ALTER TABLE {name} ALTER COLUMN "{column}" TYPE VARCHAR({chars})'))


def drop_tables(engine: Engine) -> None:
    SQLModel.metadata.drop_all(engine)
