"""A database from before the one ``context`` column: ``ra_decision`` and ``ra_label`` kept a
decision's context in separate columns (``weights``, ``leaf``, ``prompt_key`` or, earlier,
``item``, ``tags``, ``cells``). The start-up folds them into ``context`` and drops them; every
old row reads back as it was written, and the service routes, takes feedback on an old
decision and replays to the posterior it had."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, inspect, text

from feedback.app import create_app
from feedback.settings import Settings

PROMPTS = [
    "Is 91 a prime number?",
    "sort this list of numbers",
    "write a haiku about the sea",
    "how do I reverse a string in Python?",
]
#: Every column an older version kept a context in.
OLD_COLUMNS = {"weights", "leaf", "prompt_key", "item", "tags", "cells"}


def _name(engine: Engine, schema: str | None, table: str) -> str:
    return f'"{schema}"."{table}"' if schema else f'"{table}"'


def to_previous_schema(engine: Engine, schema: str | None, *, key: str = "prompt_key") -> None:
    """Turn ``ra_decision`` and ``ra_label`` back into the previous version's tables, their
    rows as it wrote them (:func:`feedback.sql_store.decision_row` and ``add_label`` then):
    the context's fields in their own columns (``key``: the prompt key's column), ``leaf``
    -1, no ``context``. On PostgreSQL the columns are NOT NULL without a default, as the
    previous ``create_all`` made them (SQLite cannot add such a column to a table)."""
    pg = engine.dialect.name == "postgresql"
    with engine.begin() as conn:
        for table in ("ra_decision", "ra_label"):
            name = _name(engine, schema, table)
            for column, ddl in (
                ("weights", "TEXT"),
                ("leaf", "INTEGER"),
                (key, "BIGINT"),
                ("tags", "TEXT"),
                ("cells", "TEXT"),
            ):
                conn.execute(text(f'ALTER TABLE {name} ADD COLUMN "{column}" {ddl}'))
            rows = conn.execute(text(f'SELECT "id", "context" FROM {name}')).all()
            for rid, raw in rows:
                ctx = json.loads(raw)
                conn.execute(
                    text(
                        f'UPDATE {name} SET "weights" = :w, "leaf" = -1, "{key}" = :k, '
                        '"tags" = :t, "cells" = :c WHERE "id" = :id'
                    ),
                    {
                        "w": json.dumps([float(x) for x in ctx["weights"]]),
                        "k": int(ctx["prompt_key"]),
                        "t": json.dumps(list(ctx["tags"])),
                        "c": json.dumps(list(ctx["cells"])),
                        "id": rid,
                    },
                )
            conn.execute(text(f'ALTER TABLE {name} DROP COLUMN "context"'))
            if pg:
                for column in ("weights", "leaf", key, "tags", "cells"):
                    conn.execute(text(f'ALTER TABLE {name} ALTER COLUMN "{column}" SET NOT NULL'))
        conn.execute(text(f"DELETE FROM {_name(engine, schema, 'ra_snapshot')}"))


def contexts(engine: Engine, schema: str | None) -> dict[str, dict[str, Any]]:
    """Every stored context, by table and row id."""
    out: dict[str, dict[str, Any]] = {}
    with engine.connect() as conn:
        for table in ("ra_decision", "ra_label"):
            rows = conn.execute(text(f'SELECT "id", "context" FROM {_name(engine, schema, table)}'))
            out.update({f"{table}/{rid}": json.loads(raw) for rid, raw in rows})
    return out


def columns(engine: Engine, schema: str | None, table: str) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns(table, schema=schema)}


def posterior(c: TestClient) -> np.ndarray:
    router = c.app.state.service.router  # type: ignore[attr-defined]
    return np.array(
        [router.view().mean_scores(router.context_for(p, observe=False)) for p in PROMPTS]
    )


def test_an_older_database_is_folded_into_the_context_column(
    shared_settings: Settings, h: Any
) -> None:
    settings, schema = shared_settings, shared_settings.db_schema
    with TestClient(create_app(settings)) as c:
        service = c.app.state.service  # type: ignore[attr-defined]
        models = service.router.models
        # a label first: a replay teaches the labels before the feedback rows
        label = {"prompt": PROMPTS[2], "outcomes": {models[0]: 1, models[1]: 0.25}}
        assert c.post("/admin/labels", json=label, headers=h.admin()).status_code == 201
        for i, p in enumerate(PROMPTS * 3):
            d = h.route(c, p, tags={"task": f"t{i % 2}"})
            body = {"decision_id": d["decision_id"], "token": d["token"], "label": i % 2}
            assert c.post("/feedback", json=body).status_code == 201
        pending = h.route(c, PROMPTS[0])  # feedback on it comes after the upgrade
        engine = service.engine
        written = contexts(engine, schema)
        before = posterior(c)
    assert any(ctx["tags"] for ctx in written.values())
    assert any(ctx["cells"] for ctx in written.values())
    assert sum(k.startswith("ra_label/") for k in written) == 1
    to_previous_schema(engine, schema)
    assert "context" not in columns(engine, schema, "ra_decision")

    with TestClient(create_app(settings)) as c:  # the upgrade, then a replay of every row
        engine = c.app.state.service.engine  # type: ignore[attr-defined]
        for table in ("ra_decision", "ra_label"):
            assert "context" in columns(engine, schema, table)
            assert not OLD_COLUMNS & columns(engine, schema, table)
        assert contexts(engine, schema) == written  # every old row, as it was written
        np.testing.assert_allclose(posterior(c), before, rtol=0, atol=1e-12)
        # feedback on a decision made before the upgrade: read from its folded row
        body = {"decision_id": pending["decision_id"], "token": pending["token"], "label": 1}
        r = c.post("/feedback", json=body)
        assert r.status_code == 201 and r.json()["model"] == pending["model"], r.text
        learnt = posterior(c)
        assert not np.allclose(learnt, before)
        d = h.route(c, PROMPTS[1], tags={"task": "new"})  # new rows have the one column
        body = {"decision_id": d["decision_id"], "token": d["token"], "thumbs": "up"}
        assert c.post("/feedback", json=body).status_code == 201
        learnt = posterior(c)
        with engine.begin() as conn:
            conn.execute(text(f"DELETE FROM {_name(engine, schema, 'ra_snapshot')}"))
    with TestClient(create_app(settings)) as c:  # a second start finds nothing to fold
        np.testing.assert_allclose(posterior(c), learnt, rtol=0, atol=1e-12)
        engine = c.app.state.service.engine  # type: ignore[attr-defined]
        assert contexts(engine, schema)[f"ra_decision/{d['decision_id']}"]["tags"] == ["task=new"]


def test_the_item_column_of_an_older_database_is_its_prompt_key(tmp_path: Path, h: Any) -> None:
    settings = h.base_settings(database_url=f"sqlite:///{tmp_path / 'old.db'}")
    with TestClient(create_app(settings)) as c:
        d = h.route(c, PROMPTS[0])
        engine = c.app.state.service.engine  # type: ignore[attr-defined]
        written = contexts(engine, None)
    assert written[f"ra_decision/{d['decision_id']}"]["prompt_key"] >= 0
    to_previous_schema(engine, None, key="item")  # as the version that called it item left it
    with TestClient(create_app(settings)) as c:
        body = {"decision_id": d["decision_id"], "token": d["token"], "label": 1}
        assert c.post("/feedback", json=body).status_code == 201
        engine = c.app.state.service.engine  # type: ignore[attr-defined]
        assert contexts(engine, None) == written
        assert not OLD_COLUMNS & columns(engine, None, "ra_decision")


def test_an_old_row_that_does_not_read_stops_the_start_up_and_stays(tmp_path: Path, h: Any) -> None:
    """A row whose old columns make no context is neither dropped nor guessed at: the
    start-up fails naming it, and its columns are still there to be mended."""
    settings = h.base_settings(database_url=f"sqlite:///{tmp_path / 'old.db'}")
    with TestClient(create_app(settings)) as c:
        d = h.route(c, PROMPTS[0])
        engine = c.app.state.service.engine  # type: ignore[attr-defined]
    to_previous_schema(engine, None)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE ra_decision SET cells = '[1, \"x\"]' WHERE id = :id"),
            {"id": d["decision_id"]},
        )
    with pytest.raises(ValueError, match=rf"ra_decision row '{d['decision_id']}'.*'cells'"):
        with TestClient(create_app(settings)):
            pass
    assert OLD_COLUMNS - {"item"} <= columns(engine, None, "ra_decision")
    with engine.connect() as conn:
        n = conn.execute(text("SELECT COUNT(*) FROM ra_decision")).scalar()
    assert n == 1
