"""Secure by default: ``serve`` on an address other machines can reach refuses to start
without client keys (one line, exit 2), unless the operator passes ``--insecure``."""

from __future__ import annotations

from typing import Any

import pytest
import uvicorn

from feedback.serve import main


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> list[dict[str, Any]]:
    """uvicorn.run, recorded instead of serving; a clean environment."""
    for var in ("ROUTING_AGENT_CLIENT_KEYS", "ROUTING_AGENT_CONFIG", "DATABASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **opts: calls.append(opts))
    return calls


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "example.com"])
def test_a_reachable_address_without_client_keys_is_refused(
    host: str, started: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--host", host]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert f"refusing to serve on {host} without client keys" in err and "--insecure" in err
    assert started == []


@pytest.mark.parametrize(
    ("argv", "keys"),
    [
        (["--host", "0.0.0.0", "--insecure"], None),  # the operator said so
        (["--host", "0.0.0.0"], "k1,k2"),  # client keys guard the client endpoints
        (["--host", "127.0.0.1"], None),  # loopback: this machine only
        (["--host", "localhost"], None),
        ([], None),  # the default is 127.0.0.1
    ],
)
def test_insecure_client_keys_or_loopback_serve(
    argv: list[str],
    keys: str | None,
    started: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if keys:
        monkeypatch.setenv("ROUTING_AGENT_CLIENT_KEYS", keys)
    assert main(argv) == 0
    assert len(started) == 1
