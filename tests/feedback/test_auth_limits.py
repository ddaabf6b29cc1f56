"""Per-client rate limits on the client endpoints: 429 with Retry-After, per key, and the
settings that refuse nonsense."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from feedback.app import create_app
from feedback.settings import Settings


def test_a_client_over_its_rate_gets_429_with_retry_after(tmp_path: Any) -> None:
    settings = Settings().with_values(
        {
            "database_url": f"sqlite:///{tmp_path / 'r.db'}",
            "embedder": "hashing-64",
            "synthetic_prompts": 300,
            "k": 6,
            "poll_interval": 0.0,
            "snapshot_interval": 0.0,
            "client_keys": "ka,kb",
            "rate_limit": 0.5,
            "rate_burst": 3,
        }
    )
    with TestClient(create_app(settings)) as c:
        a = {"Authorization": "Bearer ka"}
        codes = [
            c.post("/route", json={"prompt": f"q {i}"}, headers=a).status_code for i in range(4)
        ]
        assert codes == [200, 200, 200, 429]
        r = c.post("/route", json={"prompt": "again"}, headers=a)
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
        assert r.json()["error"]["code"] == "rate_limit_exceeded"
        # Another key has its own bucket; a wrong key is still a 401, not a 429.
        other = c.post("/route", json={"prompt": "b"}, headers={"Authorization": "Bearer kb"})
        assert other.status_code == 200
        assert c.post("/route", json={"prompt": "x"}).status_code == 401
        assert c.get("/healthz").status_code == 200  # never limited


@pytest.mark.parametrize("values", [{"rate_limit": -1.0}, {"rate_burst": 0}])
def test_bad_rate_settings_are_refused(values: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="rate_limit must be"):
        Settings().with_values(values)
