"""The schema is the validator: what ``/openapi.json`` allows of model names, label outcomes and
λ is what the service takes, and what it refuses it refuses with a 4xx and a reason (the cases
schemathesis found: non-printable model names, an empty outcome key)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from feedback.model_names import MODEL_NAME

ROWS = [{"prompt": f"What is {i} * 2?", "correct": 1} for i in range(8)]


def _new_model(client: TestClient, h: Any, name: str) -> Any:
    return client.post(
        "/models", json={"name": name, "cost": 0.001, "rows": ROWS}, headers=h.admin()
    )


def _reason(r: Any) -> str:
    assert r.status_code == 422, r.text
    return json.dumps(r.json())


@pytest.mark.parametrize("name", ["router"])
def test_no_model_may_take_the_proxys_name(client: TestClient, h: Any, name: str) -> None:
    assert "the proxy's own name" in _reason(_new_model(client, h, name))


@pytest.mark.parametrize("name", ["../x", "a/../b", "a//b", "/x", "x/", "./x", "a/ /b"])
def test_model_names_hold_no_path_segments(client: TestClient, h: Any, name: str) -> None:
    assert "each part between '/'" in _reason(_new_model(client, h, name))


@pytest.mark.parametrize("name", ["o\x95M", "zero\u200bwidth", "tab\there", "bom\ufeff", "\ue000"])
def test_model_names_are_printable(client: TestClient, h: Any, name: str) -> None:
    assert "printable characters only" in _reason(_new_model(client, h, name))


def test_the_schema_spells_the_name_rules(client: TestClient, h: Any) -> None:
    schema = client.get("/openapi.json").json()["components"]["schemas"]
    name = schema["ModelCreate"]["properties"]["name"]
    assert name["pattern"] == MODEL_NAME and name["not"] == {"const": "router"}
    assert "format" not in name  # nothing the schema cannot say itself
    rule = re.compile(MODEL_NAME)
    for ok in ("openai/gpt-4o", "modèle ünïcode ✓", "org/team/model:v1 (beta) #2?"):
        assert rule.fullmatch(ok)
        assert _new_model(client, h, ok).status_code == 201
    for bad in ("../x", "a//b", "o\x95M", " "):
        assert not rule.fullmatch(bad)


def test_a_label_outcome_names_a_model(client: TestClient, h: Any) -> None:
    schema = client.get("/openapi.json").json()["components"]["schemas"]
    outcomes = schema["LabelRequest"]["properties"]["outcomes"]
    assert outcomes["propertyNames"]["minLength"] == 1 and "patternProperties" not in outcomes
    assert outcomes["additionalProperties"] == {"type": "number", "minimum": 0.0, "maximum": 1.0}
    for bad in ({"": 1}, {" ": 1}):
        r = client.post("/admin/labels", json={"prompt": "hi", "outcomes": bad}, headers=h.admin())
        assert "must not be empty" in _reason(r)


def test_lam_over_100_is_refused(client: TestClient, h: Any) -> None:
    r = client.put("/admin/lam", json={"lam": 100.5}, headers=h.admin())
    assert "less than or equal to 100" in _reason(r)
    assert client.put("/admin/lam", json={"lam": 100}, headers=h.admin()).status_code == 200
    schema = client.get("/openapi.json").json()["components"]["schemas"]
    assert schema["LamUpdate"]["properties"]["lam"]["maximum"] == 100


def test_the_pool_cannot_be_emptied(client: TestClient, h: Any) -> None:
    names = [m["name"] for m in client.get("/models").json()]
    for name in names[:-1]:
        assert client.delete(f"/models/{name}", headers=h.admin()).status_code == 200
    r = client.delete(f"/models/{names[-1]}", headers=h.admin())
    assert r.status_code == 409 and "last model of the pool" in r.json()["detail"]
    assert [m["name"] for m in client.get("/models").json()] == names[-1:]


def test_a_model_no_longer_in_the_pool_is_404_not_422(client: TestClient, h: Any) -> None:
    """Schema-valid when the schema was read (``allowed`` lists the pool): a 404 says the
    model left, as every other request naming a model the pool lacks."""
    gone = client.get("/models").json()[0]["name"]
    assert client.delete(f"/models/{gone}", headers=h.admin()).status_code == 200
    r = client.post("/route", json={"prompt": "hi", "allowed": [gone]})
    assert r.status_code == 404 and gone in r.json()["detail"]
    # A model made before the name rules can still be named, found or not.
    assert client.delete("/models/..%2Fx", headers=h.admin()).status_code == 404


def test_a_prompt_key_at_the_schemas_maximum_is_looked_up_not_refused(
    client: TestClient, h: Any
) -> None:
    """JSON Schema validators compare numbers this large as doubles, where 2**63 + 191 is the
    schema's maximum, 2**63 - 1: such a key is schema-valid, and matches no prompt (404)."""
    model = client.get("/models").json()[0]["name"]
    for key in (2**63 - 1, 2**63 + 191):
        body = {"prompt_key": key, "outcomes": {model: 1}}
        r = client.post("/admin/labels", json=body, headers=h.admin())
        assert r.status_code == 404, r.text
    body = {"prompt_key": 2**64, "outcomes": {model: 1}}
    assert "must be a prompt key" in _reason(
        client.post("/admin/labels", json=body, headers=h.admin())
    )


def test_a_price_far_above_the_pool_does_not_break_budgeted_routing(
    client: TestClient, h: Any
) -> None:
    """The schema allows any price up to 1e6; the budget pacer's step overflowed on one
    thousands of times the pool's (a 500 on the next budgeted request)."""
    name = client.get("/models").json()[0]["name"]
    assert client.patch(f"/models/{name}", json={"cost": 1e6}, headers=h.admin()).status_code == 200
    for _ in range(3):
        r = client.post("/route", json={"prompt": "hi", "budget": 1e-9, "allowed": [name]})
        assert r.status_code == 200, r.text
