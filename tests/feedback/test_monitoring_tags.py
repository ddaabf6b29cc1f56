"""Per-tag tables: each app tag value's requests, cost, share per model and observed accuracy,
computed from the columns and shown as one table per value once any decision has tags."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from feedback.monitoring.by_tag import tag_section
from feedback.monitoring.sections import tag_section as tag_html
from tests.feedback.monitoring_columns import inputs


def test_counts_costs_shares_and_accuracy_per_value() -> None:
    inp = inputs([0, 1, 1, 0, 1, -1], [0.001, 0.01, 0.01, 0.001, 0.01, 0.5])
    r = np.array([1.0, 0.0, np.nan, np.nan, 1.0, 1.0])
    tagged = [
        (0, ["task=code"]),
        (1, ["task=code", "tenant=acme"]),
        (2, ["task=code"]),
        (4, ["task=chat", "tenant=acme"]),
        (5, ["task=chat"]),  # a model no longer in the pool: left out, as in the savings
    ]
    got = tag_section(inp, r, tagged)
    assert got["decisions_with_tags"] == 4 and list(got["keys"]) == ["task", "tenant"]
    code = got["keys"]["task"]["values"]["code"]
    assert code["requests"] == 3 and code["cost"] == pytest.approx(0.021)
    assert code["feedback"] == 2 and code["accuracy"] == pytest.approx(0.5)
    assert list(code["models"]) == ["big", "small"]  # most requested first
    big = code["models"]["big"]
    assert big == {
        "requests": 2,
        "share": pytest.approx(2 / 3),
        "cost": pytest.approx(0.02),
        "feedback": 1,
        "accuracy": 0.0,
    }
    assert code["models"]["small"]["accuracy"] == 1.0
    chat = got["keys"]["task"]["values"]["chat"]
    assert chat["requests"] == 1 and chat["models"]["big"]["share"] == 1.0
    acme = got["keys"]["tenant"]["values"]["acme"]
    assert acme["requests"] == 2 and acme["accuracy"] == pytest.approx(0.5)
    assert got["keys"]["task"]["other"] == {"values": 0, "requests": 0}


def test_values_past_the_limit_are_summed_up() -> None:
    inp = inputs([0] * 6, [0.001] * 6)
    tagged = [(i, [f"tenant=t{i % 4}"]) for i in range(6)]
    got = tag_section(inp, np.full(6, np.nan), tagged, max_values=2)["keys"]["tenant"]
    assert list(got["values"]) == ["t0", "t1"]  # 2 requests each, ahead of t2 and t3
    assert got["other"] == {"values": 2, "requests": 2}
    assert got["values"]["t0"]["accuracy"] is None


def test_html_is_one_table_per_value_and_nothing_without_tags() -> None:
    inp = inputs([0, 1], [0.001, 0.01])
    got = tag_section(inp, np.array([1.0, np.nan]), [(0, ["task=<b>"]), (1, ["task=chat"])])
    page = tag_html(got)
    assert page.count("<table") == 2 and "<b>" not in page and "task=&lt;b&gt;" in page
    assert "accuracy 1.000 (1 with feedback)" in page and "accuracy not known yet" in page
    assert tag_html(tag_section(inp, np.full(2, np.nan), [])) == ""


def test_the_service_reports_tags_it_was_sent(client: TestClient, h: Any) -> None:
    sent: dict[str, int] = {}
    models: dict[str, dict[str, int]] = {}
    for i in range(12):
        task = "sql" if i % 3 else "chat"
        d = h.route(client, f"Write SQL for report {i}", tags={"task": task})
        sent[task] = sent.get(task, 0) + 1
        models.setdefault(task, {}).setdefault(d["model"], 0)
        models[task][d["model"]] += 1
        if i % 2 == 0:
            body = {"decision_id": d["decision_id"], "token": d["token"], "label": 1}
            assert client.post("/feedback", json=body).status_code == 201
    h.route(client, "no tags here")
    report = client.get("/report").json()
    tags = report["tags"]
    assert tags["decisions_with_tags"] == 12
    values = tags["keys"]["task"]["values"]
    assert {v: s["requests"] for v, s in values.items()} == sent
    for task, counts in models.items():
        assert {m: s["requests"] for m, s in values[task]["models"].items()} == counts
    assert values["sql"]["feedback"] == 4 and values["sql"]["accuracy"] == 1.0
    page = client.get("/report.html").text
    assert '<h2 id="tags">Per tag</h2>' in page
    assert len(re.findall(r"<caption>task=(sql|chat): ", page)) == 2


def test_no_tag_section_without_tags(client: TestClient, h: Any) -> None:
    h.route(client, "What is 2 + 2?")
    assert client.get("/report").json()["tags"] == {"decisions_with_tags": 0, "keys": {}}
    assert 'id="tags"' not in client.get("/report.html").text
