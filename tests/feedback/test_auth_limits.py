"""Per-client rate limits on the client endpoints: 429 with Retry-After, keyed on the identity
that authenticated (the key that matched, however spelled; else the address, whatever the
Authorization header says), and the settings that refuse nonsense."""

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


def _limited(tmp_path: Any, **values: Any) -> TestClient:
    settings = Settings().with_values(
        {
            "database_url": f"sqlite:///{tmp_path / 'l.db'}",
            "embedder": "hashing-64",
            "synthetic_prompts": 300,
            "k": 6,
            "poll_interval": 0.0,
            "snapshot_interval": 0.0,
            "rate_limit": 0.5,
            "rate_burst": 10,
            **values,
        }
    )
    return TestClient(create_app(settings))


#: Eight ways to send one key that the check accepts.
SPELLINGS = [
    "Bearer ka",
    "bearer ka",
    "BEARER ka",
    "Bearer  ka",
    " Bearer ka",
    "Bearer ka ",
    "Bearer\tka",
    "bEaReR   ka  ",
]


def test_every_spelling_of_one_key_shares_its_bucket(tmp_path: Any) -> None:
    with _limited(tmp_path, client_keys="ka,kb") as c:
        codes = [
            c.post(
                "/route", json={"prompt": f"q {i}"}, headers={"Authorization": SPELLINGS[i % 8]}
            ).status_code
            for i in range(40)
        ]
        assert set(codes) == {200, 429}
        assert codes.count(200) <= 12  # the burst of 10, and a refill at most
        assert codes[:10] == [200] * 10


def test_random_authorization_headers_share_the_address_bucket(tmp_path: Any) -> None:
    with _limited(tmp_path) as c:  # no client keys: the header is not an identity
        codes = [
            c.post(
                "/route",
                json={"prompt": f"q {i}"},
                headers={"Authorization": f"Bearer made-up-{i}"},
            ).status_code
            for i in range(40)
        ]
        assert codes.count(200) <= 12 and codes[:10] == [200] * 10
