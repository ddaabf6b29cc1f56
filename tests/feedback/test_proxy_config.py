"""The upstreams file's checks at start-up, and client keys on the proxy and the API."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import pytest

from feedback.proxy.upstreams import UpstreamConfigError, Upstreams
from feedback.serve import serve
from tests.feedback.proxy_helpers import (
    KEY_ENV,
    UPSTREAM_KEY,
    completion,
    proxy_client,
    write_upstreams,
)

ENV = {KEY_ENV: UPSTREAM_KEY}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[default\n", "not valid TOML"),
        ('[default]\nbase_url = "http://x"\nbogus = 1\n', "unknown key 'bogus'"),
        ('[default]\nbase_url = "http://x"\napi_key_env = "RA_UNSET_VAR"\n', "not set"),
        ('[default]\nbase_url = "http://x"\ntimeout_s = "slow"\n', "timeout_s must be"),
        ('[default]\nbase_url = "http://x"\nmax_retries = -1\n', "non-negative"),
        ('[default]\nbase_url = "http://x"\nmodel = "m"\n', "cannot set model"),
        ('[models."a"]\nmodel = "m"\n', 'no base_url for model "a"'),
        ('[upstream]\nbase_url = "http://x"\n', "unknown table(s) upstream"),
        ("", "no [default]"),
    ],
)
def test_a_bad_upstreams_file_is_one_clear_error(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "up.toml"
    path.write_text(text)
    with pytest.raises(UpstreamConfigError, match=re.escape(reason)):
        Upstreams.from_file(path, env=ENV)


def test_missing_file_and_models_outside_the_pool(tmp_path: Path) -> None:
    with pytest.raises(UpstreamConfigError, match="cannot read"):
        Upstreams.from_file(tmp_path / "nope.toml", env=ENV)
    ups = Upstreams.from_dict({"models": {"a": {"base_url": "http://x"}}}, env=ENV)
    with pytest.raises(UpstreamConfigError, match="not in the pool: a"):
        ups.check_pool(["b"])
    with pytest.raises(UpstreamConfigError, match="no upstream for pool model"):
        Upstreams.from_dict({"models": {"b": {"base_url": "http://x"}}}, env=ENV).check_pool(
            ["a", "b"]
        )


def test_the_key_is_read_from_the_environment_and_never_shown(tmp_path: Path) -> None:
    ups = Upstreams.from_file(write_upstreams(tmp_path / "up.toml"), env=ENV)
    up = ups.get("xl-70b")
    assert up.api_key == UPSTREAM_KEY and up.model == "xl-upstream"
    assert UPSTREAM_KEY not in repr(up)
    no_key = Upstreams.from_dict({"default": {"base_url": "http://x", "api_key_env": ""}}, env={})
    assert no_key.get("m").api_key is None


def test_a_model_outside_the_pool_stops_the_start_up(tmp_path: Path, h: Any) -> None:
    path = write_upstreams(tmp_path / "up.toml", extra='[models."gpt-nope"]\nmodel = "x"\n')
    with pytest.raises(UpstreamConfigError, match="gpt-nope"):  # noqa: SIM117
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv(KEY_ENV, UPSTREAM_KEY)
            with proxy_client(h.base_settings(upstreams=str(path)), lambda r: None):  # type: ignore[arg-type,return-value]
                pass


def test_serve_refuses_a_bad_file_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "up.toml"
    path.write_text('[default]\nbase_url = "http://x"\ncolour = "red"\n')
    args = argparse.Namespace(
        config=None, from_log=None, embedder="hashing-64", upstreams=str(path),
        host="127.0.0.1", port=0, log_level="warning", workers=1,
    )  # fmt: skip
    assert serve(args) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "colour" in err


def test_client_keys_guard_v1_route_and_feedback(
    tmp_path: Path, h: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import httpx

    monkeypatch.setenv(KEY_ENV, UPSTREAM_KEY)
    settings = h.base_settings(
        upstreams=str(write_upstreams(tmp_path / "up.toml")), client_keys="ck-1, ck-2"
    )
    chat = {"model": "router", "messages": [{"role": "user", "content": "hi"}]}

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=completion("m"))

    with proxy_client(settings, handler) as c:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic ck-1"}):
            for method, path, body in (
                ("GET", "/v1/models", None),
                ("POST", "/v1/chat/completions", chat),
                ("POST", "/route", {"prompt": "hi"}),
                ("POST", "/feedback", {"decision_id": "x", "label": 1}),
            ):
                r = c.request(method, path, json=body, headers=headers)
                assert r.status_code == 401, (path, headers, r.text)
                assert set(r.json()["error"]) == {"message", "type", "param", "code"}
        ok = {"Authorization": "Bearer ck-2"}
        assert c.get("/v1/models", headers=ok).status_code == 200
        r = c.post("/v1/chat/completions", json=chat, headers=ok)
        assert r.status_code == 200, r.text
        fb = {
            "decision_id": r.headers["x-routing-decision-id"],
            "token": r.headers["x-routing-token"],
            "label": 1,
        }
        assert c.post("/feedback", json=fb, headers=ok).status_code == 201
        assert c.post("/route", json={"prompt": "hi"}, headers=ok).status_code == 200
        assert c.get("/healthz").status_code == 200  # not guarded
