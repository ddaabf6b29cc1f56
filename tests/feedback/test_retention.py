"""Retention: old decisions and feedback are pruned in bounded batches, in the background and
by ``routing-agent prune``, and what the posterior learnt from them survives the prune, a
restart and a rebuild at a later pool revision (on SQLite and PostgreSQL)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import Session, select

from cli import main
from feedback.app import create_app
from feedback.models import DecisionRow, FeedbackRow
from feedback.retention import prune
from feedback.settings import Settings

DAY = 86400.0


def _counts(app: Any) -> tuple[int, int]:
    with Session(app.state.service.engine) as s:
        return (
            int(s.exec(select(func.count()).select_from(FeedbackRow)).one()),
            int(s.exec(select(func.count()).select_from(DecisionRow)).one()),
        )


def _posterior(c: TestClient, h: Any) -> dict[str, Any]:
    post: dict[str, Any] = c.get("/admin/posterior", headers=h.admin()).json()
    return post


def _learn(c: TestClient, h: Any, n: int) -> None:
    for i in range(n):
        d = h.route(c, f"question {i} about sorting lists in python")
        body = {"decision_id": d["decision_id"], "token": d["token"], "label": i % 2}
        assert c.post("/feedback", json=body).status_code == 201


def _same(a: dict[str, Any], b: dict[str, Any], models: list[str]) -> None:
    for key in ("alpha", "beta"):
        for m in models:
            i, j = a["models"].index(m), b["models"].index(m)
            np.testing.assert_allclose(
                np.asarray(a[key])[:, i], np.asarray(b[key])[:, j], rtol=0, atol=1e-9
            )


def test_a_prune_keeps_what_the_posterior_learnt_through_restarts_and_pool_changes(
    shared_settings: Settings, clock: Any, h: Any
) -> None:
    # several prune batches
    settings = shared_settings.with_values({"prune_batch": 7})
    with TestClient(create_app(settings, clock=clock)) as a:
        _learn(a, h, 24)
        learnt = _posterior(a, h)
        assert _counts(a.app) == (24, 24)
        clock.offset += 31 * DAY
        done = prune(a.app.state.service, older_than=30 * DAY)  # type: ignore[attr-defined]
        # Every row went but the newest feedback row (its id must not be reused) and its
        # decision.
        assert (done.feedback, done.decisions) == (23, 23)
        assert _counts(a.app) == (1, 1)
        _same(_posterior(a, h), learnt, learnt["models"])
    with TestClient(create_app(settings, clock=clock)) as b:  # a restart
        _same(_posterior(b, h), learnt, learnt["models"])
        _learn(b, h, 3)  # new feedback gets fresh ids, learnt once
        assert _posterior(b, h)["applied_feedback"] == learnt["applied_feedback"] + 3
        rows = [{"prompt": f"What is {i} + {i}?", "correct": 1} for i in range(8)]
        new = {"name": "newcomer", "cost": 0.0001, "rows": rows}
        assert b.post("/models", json=new, headers=h.admin()).status_code == 201
        assert b.put("/admin/lam", json={"lam": 0.2}, headers=h.admin()).status_code == 200
        live = _posterior(b, h)
        # A replica starting two pool revisions later (B stored no snapshot since) starts
        # from the prune's snapshot, brought to today's pool, plus B's three new rows.
        with TestClient(create_app(settings, clock=clock)) as c:
            after = _posterior(c, h)
            assert after["lam"] == 0.2 and after["revision"] == live["revision"]
            assert sorted(after["models"]) == sorted(live["models"])
            _same(after, live, live["models"])


def test_rows_no_snapshot_holds_are_kept(shared_settings: Settings, clock: Any, h: Any) -> None:
    with TestClient(create_app(shared_settings, clock=clock)) as a:
        _learn(a, h, 5)
        clock.offset += 31 * DAY
        service = a.app.state.service  # type: ignore[attr-defined]
        service.snapshot = lambda: False  # as if every attempt found the pool changed
        done = prune(service, older_than=30 * DAY)
        assert (done.feedback, done.decisions) == (0, 0) and _counts(a.app) == (5, 5)


def test_a_reset_is_not_undone_by_an_older_snapshot(
    shared_settings: Settings, clock: Any, h: Any
) -> None:
    with TestClient(create_app(shared_settings, clock=clock)) as a:
        initial = _posterior(a, h)
        _learn(a, h, 6)
        assert a.post("/admin/snapshot", headers=h.admin()).json()["ok"]
        assert a.post("/admin/reset", headers=h.admin()).status_code == 200
    with TestClient(create_app(shared_settings, clock=clock)) as b:
        post = _posterior(b, h)
        assert post["learnt"] == 0  # the warm start, as before any feedback
        assert post["alpha"] == initial["alpha"] and post["beta"] == initial["beta"]


def test_the_service_prunes_in_the_background(clock: Any, h: Any, tmp_path: Any) -> None:
    settings = h.base_settings(
        database_url=f"sqlite:///{tmp_path / 'bg.db'}", prune_interval=0.05, prune_batch=2
    )
    with TestClient(create_app(settings, clock=clock)) as a:
        _learn(a, h, 6)
        clock.offset += 31 * DAY
        deadline = time.monotonic() + 30
        while _counts(a.app) != (1, 1) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _counts(a.app) == (1, 1)


@pytest.mark.parametrize("value", ["-1", "inf"])
def test_a_bad_retention_setting_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="retention"):
        Settings().with_values({"retention": value})


def test_a_retention_shorter_than_a_window_in_use_is_refused() -> None:
    with pytest.raises(ValueError, match="shorter than the decision TTL"):
        Settings().with_values({"retention": 3 * DAY, "decision_ttl": 4 * DAY})
    with pytest.raises(ValueError, match="shorter than the identity window"):
        Settings().with_values({"retention": 3600, "decision_ttl": 600})
    assert Settings().with_values({"retention": 0}).retention == 0  # keep forever


# -- routing-agent prune ---------------------------------------------------------------------
@pytest.fixture
def old_db(tmp_path: Any, h: Any, clock: Any) -> str:
    """A SQLite file whose 5 decisions and feedback are 40 days old."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    clock.offset = -40 * DAY
    with TestClient(create_app(h.base_settings(database_url=url), clock=clock)) as c:
        _learn(c, h, 5)
    return url


def test_prune_cli_deletes_old_rows(old_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prune", "--older-than", "30d", "--db", old_db]) == 0
    assert "pruned 4 feedback rows and 4 decisions from before" in capsys.readouterr().out
    assert main(["prune", "--older-than", "48h", "--db", old_db]) == 0  # nothing left to do
    assert "pruned 0 feedback rows and 0 decisions" in capsys.readouterr().out


def _run(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse's refusal
        return int(exc.code or 0)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("30", "'30' is not a duration: give a number and a unit"),
        ("-1d", "'-1d' is not a duration"),
        ("0d", "it must be more than 0"),
        ("12x", "'12x' is not a duration"),
        ("12h", "--older-than of 43200s is shorter than the decision TTL (86400s)"),
    ],
)
def test_prune_cli_refuses_bad_input_in_one_line(
    old_db: str, value: str, reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(["prune", f"--older-than={value}", "--db", old_db]) == 2
    err = capsys.readouterr().err
    assert reason in err and len(err.strip().splitlines()) == 1, err


def test_prune_cli_refuses_a_database_without_a_pool(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(["prune", "--older-than", "30d", "--db", f"sqlite:///{tmp_path / 'x.db'}"]) == 2
    assert "no routing-agent pool in this database" in capsys.readouterr().err
