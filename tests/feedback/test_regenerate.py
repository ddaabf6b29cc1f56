"""Implicit feedback from regenerates: the same conversation and last user turn again within
the window gives the replaced answer a thumbs-down from source implicit-regenerate."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from feedback.app import create_app
from feedback.models import FeedbackRow
from feedback.settings import Settings


def feedback_rows(app: Any) -> list[FeedbackRow]:
    with Session(app.state.service.engine) as s:
        return list(s.exec(select(FeedbackRow)).all())


def chat(c: TestClient, text: str, cid: str = "chat-1") -> dict[str, Any]:
    r = c.post(
        "/route", json={"messages": [{"role": "user", "content": text}], "conversation_id": cid}
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_a_regenerate_thumbs_down_the_answer_it_replaces(shared_settings: Settings) -> None:
    with TestClient(create_app(shared_settings)) as c:
        first = chat(c, "Write a haiku about SQL joins")
        chat(c, "Now one about indexes")  # a new turn: not a regenerate
        assert feedback_rows(c.app) == []
        second = chat(c, "Now one about indexes")  # the same turn again: a regenerate
        third = chat(c, "now one  about INDEXES")  # and again, case and spacing aside
        rows = feedback_rows(c.app)
        # From the client that asked again: its identity (its address; no keys are set).
        assert [(r.kind, r.value, r.source, r.identity) for r in rows] == [
            ("thumbs", 0.0, "addr:testclient/implicit-regenerate", "addr:testclient")
        ] * 2
        judged = {r.decision_id for r in rows}
        assert first["decision_id"] not in judged and second["decision_id"] in judged
        assert third["decision_id"] not in judged
        chat(c, "Now one about indexes", cid="chat-2")  # another conversation: nothing
        assert len(feedback_rows(c.app)) == 2


def test_the_setting_turns_it_off(shared_settings: Settings) -> None:
    settings = shared_settings.with_values({"implicit_regenerate": False})
    with TestClient(create_app(settings)) as c:
        chat(c, "Same question")
        chat(c, "Same question")
        assert feedback_rows(c.app) == []
