"""Engines for SQLite (default, a local file) and PostgreSQL (``DATABASE_URL``)."""

from __future__ import annotations

import json
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
from policies.context import Context

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
    ("ra_model", "levels", "TEXT NOT NULL DEFAULT '[]'"),
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

#: The tables whose rows once spread their context over several columns, and those columns
#: (``item``: ``prompt_key``'s first name; ``leaf``: never read). They are folded into the one
#: ``context`` column (:func:`_fold_context`), then dropped.
_CONTEXT_TABLES = ("ra_decision", "ra_label")
_LEGACY_CONTEXT = ("leaf", "item", "prompt_key", "tags", "cells", "weights")  # weights last
_FOLD_BATCH = 1000


def _add_missing_columns(conn: Connection, schema: str | None) -> None:
    """Bring a database made by an older version up to date (``create_all`` adds no columns)."""
    inspector = inspect(conn)
    for table, column, ddl in _ADDED_COLUMNS:
        have = {c["name"] for c in inspector.get_columns(table, schema=schema)}
        if column not in have:
            conn.execute(text(f'ALTER TABLE {_name(schema, table)} ADD COLUMN "{column}" {ddl}'))
    for index, table, columns in _ADDED_INDEXES:
        cols = ", ".join(f'"{c}"' for c in columns)
        conn.execute(
            text(f'CREATE INDEX IF NOT EXISTS "{index}" ON {_name(schema, table)} ({cols})')
        )
    for table in _CONTEXT_TABLES:
        _fold_context(conn, schema, table)
    if conn.dialect.name == "postgresql":  # SQLite does not enforce a VARCHAR's length
        _widen(conn, schema, "ra_feedback", "source", SOURCE_CHARS)


def _name(schema: str | None, table: str) -> str:
    return f'"{schema}"."{table}"' if schema else f'"{table}"'


def _fold_context(conn: Connection, schema: str | None, table: str) -> None:
    """Give an older ``table``, whose rows kept their context in separate columns
    (``weights``, ``prompt_key`` or ``item``, ``tags``, ``cells``, ``leaf``), the one
    ``context`` column, filled from them row by row (in batches, through
    :meth:`~policies.context.Context.from_row`, so a row that would not read back stops the
    start-up instead of being stored wrong), then drop the old columns.

    Safe to repeat after a failure part way (SQLite runs DDL outside the transaction): only
    rows still without a context are filled, and no old column is dropped before every row
    has one, ``weights`` (the marker of an unfolded table) last."""
    have = {c["name"] for c in inspect(conn).get_columns(table, schema=schema)}
    legacy = [c for c in _LEGACY_CONTEXT if c in have]
    if not legacy:
        return
    name = _name(schema, table)
    if "context" not in have:
        conn.execute(text(f"ALTER TABLE {name} ADD COLUMN \"context\" TEXT NOT NULL DEFAULT ''"))
    if "weights" in have:
        key = next((c for c in ("prompt_key", "item") if c in have), None)
        reads = [
            '"id"',
            '"weights"',
            f'"{key}"' if key else "-1",
            '"tags"' if "tags" in have else "'[]'",
            '"cells"' if "cells" in have else "'[]'",
        ]
        select = f"SELECT {', '.join(reads)} FROM {name} WHERE \"context\" = ''"
        last: Any = None
        while True:
            after = "" if last is None else ' AND "id" > :last'
            params = {} if last is None else {"last": last}
            rows = conn.execute(
                text(f'{select}{after} ORDER BY "id" LIMIT {_FOLD_BATCH}'), params
            ).all()
            if not rows:
                break
            filled = [{"id": r[0], "context": _legacy_context(table, *r)} for r in rows]
            conn.execute(text(f'UPDATE {name} SET "context" = :context WHERE "id" = :id'), filled)
            last = rows[-1][0]
    for column in legacy:
        conn.execute(text(f'ALTER TABLE {name} DROP COLUMN "{column}"'))
    if conn.dialect.name == "postgresql":
        conn.execute(text(f'ALTER TABLE {name} ALTER COLUMN "context" DROP DEFAULT'))


def _legacy_context(table: str, row_id: Any, weights: Any, key: Any, tags: Any, cells: Any) -> str:
    """One older row's context columns as its ``context`` JSON (raises, naming the row, if
    they do not make a context)."""
    try:
        row = {
            "weights": json.loads(weights),
            "prompt_key": -1 if key is None else int(key),
            "tags": json.loads(tags or "[]"),
            "cells": json.loads(cells or "[]"),
        }
        return json.dumps(Context.from_row(row).to_row())
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"{table} row {row_id!r}: its stored context is unreadable: {exc}"
        ) from exc


def _widen(conn: Connection, schema: str | None, table: str, column: str, chars: int) -> None:
    """Let ``column`` hold ``chars`` characters (it held fewer in an older version)."""
    for c in inspect(conn).get_columns(table, schema=schema):
        length = getattr(c["type"], "length", None)
        if c["name"] == column and length is not None and length < chars:
            name = _name(schema, table)
            conn.execute(text(f'ALTER TABLE {name} ALTER COLUMN "{column}" TYPE VARCHAR({chars})'))


def drop_tables(engine: Engine) -> None:
    SQLModel.metadata.drop_all(engine)
