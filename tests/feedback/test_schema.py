"""Schemathesis with every check over the OpenAPI schema, as ``st run --checks all`` runs it
(examples, coverage, fuzzing and stateful phases, positive and negative data), in process
against the app on in-memory SQLite with every key configured and given. Bounded: about a
thousand requests.

One thing the fuzzer is told, not a check turned off: that 413 is a right answer to any body:
a schema-valid body can pass ``max_body_bytes`` (256 messages of 32,000 characters), and no
JSON Schema keyword caps a body's size in bytes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status
from schemathesis.engine.events import EngineFinished, FatalError, NonFatalError, ScenarioFinished

CLIENT_KEY = "schema-client-key"
READ_KEY = "schema-read-key"
MAX_EXAMPLES = 25  # per operation and phase
#: Statuses every check takes as a refusal or an acceptance of a body alike (see above).
_OK_STATUSES = ["2xx", "3xx", 401, 403, 404, 409, 413, 429, "5xx"]
_REJECT_STATUSES = [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429, "5xx"]


def _config(admin_key: str) -> SchemathesisConfig:
    return SchemathesisConfig.from_dict(
        {
            "seed": 11,
            "workers": 1,
            "generation": {"max-examples": MAX_EXAMPLES, "mode": "all"},
            "phases": {"stateful": {"max-steps": 8}},
            "checks": {
                "enabled": True,
                "positive_data_acceptance": {"expected-statuses": _OK_STATUSES},
                "negative_data_rejection": {"expected-statuses": _REJECT_STATUSES},
            },
            "auth": {
                "openapi": {
                    "clientKey": {"bearer": CLIENT_KEY},
                    "adminKey": {"api_key": admin_key},
                    "readBasic": {"username": "scraper", "password": READ_KEY},
                }
            },
        }
    )


@pytest.fixture(scope="module")
def app(h: Any) -> Iterator[FastAPI]:
    import time

    settings = h.base_settings(client_keys=CLIENT_KEY, read_keys=READ_KEY)
    app, engine = h.memory_app(settings, time.time)
    with TestClient(app):  # runs the lifespan; schemathesis then calls the started app
        yield app
    engine.dispose()


def _failures(events: Iterator[Any]) -> tuple[list[str], int, list[str]]:
    """Each failed check as ``operation: code title``, the requests made, and engine errors."""
    failures: list[str] = []
    errors: list[str] = []
    requests = 0
    for event in events:
        if isinstance(event, ScenarioFinished):
            requests += len(event.recorder.interactions)
            for case_id, checks in event.recorder.checks.items():
                for check in checks:
                    info = check.failure_info
                    if check.status == Status.FAILURE and info is not None:
                        failures.append(_describe(event, case_id, info.failure))
        elif isinstance(event, NonFatalError | FatalError):
            errors.append(str(getattr(event, "info", event)))
        elif isinstance(event, EngineFinished):
            failures += [f"after run: {f.code} {f.title}" for f in event.failures]
    return sorted(set(failures)), requests, errors


def _describe(event: ScenarioFinished, case_id: str, failure: Any) -> str:
    """A failed check, with the request and the answer that failed it."""
    what = f"{event.label} ({event.phase.value}): {failure.code} {failure.title}"
    seen = event.recorder.interactions.get(case_id)
    if seen is not None and seen.response is not None:
        body = (seen.request.body or b"")[:300]
        what += (
            f" -- sent {body!r}, got {seen.response.status_code} {seen.response.content[:300]!r}"
        )
    return what


def test_every_check_passes(app: FastAPI, h: Any) -> None:
    schema = schemathesis.openapi.from_asgi(
        "/openapi.json",
        app,
        config=_config(h.api_key),
        headers={"Authorization": f"Bearer {READ_KEY}"},
    )
    assert len(list(schema.get_all_operations())) >= 17
    failures, requests, errors = _failures(schemathesis.engine.from_schema(schema).execute())
    assert errors == [], "\n".join(errors)
    assert failures == [], "\n".join(failures)
    assert requests >= 500  # it did call the app
