"""Schemathesis over the OpenAPI schema (in-memory SQLite app, admin key supplied): no 5xx,
and every response matches its documented schema. Bounded: a few hundred cases."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

MAX_EXAMPLES = 30  # per operation and phase; about 300 cases over the 10 operations


@pytest.fixture(scope="module")
def api_schema(h: Any) -> Iterator[Any]:
    import time

    app, engine = h.memory_app(h.base_settings(), time.time)
    with TestClient(app):  # runs the lifespan; schemathesis then calls the started app
        yield schemathesis.openapi.from_asgi("/openapi.json", app)
    engine.dispose()


def test_no_server_errors(api_schema: Any, h: Any) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10
    calls: list[int] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            calls.append(1)
            case.call_and_validate(
                headers=h.admin(), checks=[not_a_server_error, response_schema_conformance]
            )

        check()
    assert len(calls) >= 100
