"""The proxy's HTTP clients on the wire, against stubs on free ports of 127.0.0.1: TLS with a
private CA, the environment's proxies (a CONNECT proxy), an upstream that never answers, one
that drops the connection after reading the request, and one that redirects."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.feedback.proxy_helpers import proxy_client
from tests.feedback.stub_upstream import StubUpstream, served
from tests.feedback.wire_stubs import (
    Seen,
    connect_proxy,
    dropping,
    private_ca,
    raw_server,
    redirecting,
    silent,
)

CHAT = {"messages": [{"role": "user", "content": "What is 17 * 23?"}]}
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture(autouse=True)
def no_proxy_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def _settings(h: Any, tmp_path: Path, upstreams: str, **extra: Any) -> Any:
    path = tmp_path / "upstreams.toml"
    path.write_text(upstreams)
    return h.base_settings(upstreams=str(path), **extra)


def _default(url: str, extra: str = "") -> str:
    return f'[default]\nbase_url = "{url}/v1"\napi_key_env = ""\ntimeout_s = 5\n' + extra


def _error(r: Any) -> dict[str, Any]:
    body: dict[str, Any] = r.json()
    assert set(body["error"]) == {"message", "type", "param", "code"}, body
    return body["error"]


def test_tls_with_a_private_ca(tmp_path: Path, h: Any, caplog: pytest.LogCaptureFixture) -> None:
    ca = private_ca(tmp_path)
    tls = {"ssl_certfile": str(ca.cert_file), "ssl_keyfile": str(ca.key_file)}
    with served(StubUpstream().app, **tls) as url:
        trusted = f'[models."xl-70b"]\nca_bundle = "{ca.ca_file}"\n'
        with proxy_client(_settings(h, tmp_path, _default(url, trusted)), None) as c:
            r = c.post("/v1/chat/completions", json={"model": "xl-70b", **CHAT})
            assert r.status_code == 200, r.text
            with caplog.at_level(logging.WARNING, logger="feedback.proxy.caller"):
                r = c.post("/v1/chat/completions", json={"model": "tiny-1b", **CHAT})
    assert r.status_code == 502
    message = _error(r)["message"]
    assert "TLS certificate verification failed" in message and "ca_bundle" in message
    assert "TLS certificate verification failed" in caplog.text


def test_a_ca_bundle_that_is_not_pem_stops_the_start_up(tmp_path: Path, h: Any) -> None:
    from feedback.proxy.upstreams import UpstreamConfigError

    bad = tmp_path / "not-a-ca.pem"
    bad.write_text("hello")
    settings = _settings(h, tmp_path, _default("http://x", f'ca_bundle = "{bad}"\n'))
    with pytest.raises(UpstreamConfigError, match="ca_bundle"), proxy_client(settings, None):
        pass


def test_upstream_calls_go_through_the_proxy_variables(
    tmp_path: Path, h: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca = private_ca(tmp_path)
    tls = {"ssl_certfile": str(ca.cert_file), "ssl_keyfile": str(ca.key_file)}
    seen = Seen()
    with (
        served(StubUpstream().app) as plain,
        served(StubUpstream().app, **tls) as secure,
        raw_server(connect_proxy(seen)) as port,
    ):
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{port}")
        table = f'[models."xl-70b"]\nbase_url = "{secure}/v1"\nca_bundle = "{ca.ca_file}"\n'
        with proxy_client(_settings(h, tmp_path, _default(plain, table)), None) as c:
            for model in ("tiny-1b", "xl-70b"):
                r = c.post("/v1/chat/completions", json={"model": model, **CHAT})
                assert r.status_code == 200, r.text
    plain_at, secure_at = plain.split("//")[1], secure.split("//")[1]
    assert seen.to(plain_at) == [f"POST {plain}/v1/chat/completions HTTP/1.1".encode()]
    assert seen.to(secure_at) == [f"CONNECT {secure_at} HTTP/1.1".encode()]


def test_a_proxy_variable_httpx_cannot_use_stops_the_start_up(
    tmp_path: Path, h: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from feedback.proxy.upstreams import UpstreamConfigError

    monkeypatch.setenv("ALL_PROXY", "ftp://127.0.0.1:21")
    settings = _settings(h, tmp_path, _default("http://127.0.0.1:9"))
    with pytest.raises(UpstreamConfigError, match="ALL_PROXY"), proxy_client(settings, None):
        pass


def test_no_proxy_skips_the_proxy(tmp_path: Path, h: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = Seen()
    with served(StubUpstream().app) as plain, raw_server(connect_proxy(seen)) as port:
        monkeypatch.setenv("ALL_PROXY", f"http://127.0.0.1:{port}")
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        with proxy_client(_settings(h, tmp_path, _default(plain)), None) as c:
            r = c.post("/v1/chat/completions", json={"model": "tiny-1b", **CHAT})
            assert r.status_code == 200, r.text
    assert seen.to(plain.split("//")[1]) == []


@pytest.mark.parametrize("stub", [silent, dropping], ids=["never-answers", "drops"])
def test_a_written_request_is_never_sent_to_the_same_upstream_again(
    tmp_path: Path, h: Any, stub: Any
) -> None:
    seen = Seen()
    with served(StubUpstream().app) as good, raw_server(stub(seen)) as port:
        table = (
            f'[models."tiny-1b"]\nbase_url = "http://127.0.0.1:{port}/v1"\n'
            "timeout_s = 0.5\nmax_retries = 3\n"
        )
        with proxy_client(_settings(h, tmp_path, _default(good, table)), None) as c:
            r = c.post("/v1/chat/completions", json={"model": "tiny-1b", **CHAT})
            assert r.status_code == 502
            assert _error(r)["code"] == "upstream_failed"
    assert seen.posts() == 1  # max_retries resends only what the upstream never processed


def test_a_redirect_is_an_upstream_error_naming_the_location(tmp_path: Path, h: Any) -> None:
    seen = Seen()
    elsewhere = "https://elsewhere.example/v1/chat/completions"
    with served(StubUpstream().app) as good, raw_server(redirecting(seen, elsewhere)) as port:
        table = f'[models."tiny-1b"]\nbase_url = "http://127.0.0.1:{port}/v1"\n'
        with proxy_client(_settings(h, tmp_path, _default(good, table)), None) as c:
            client = openai.OpenAI(
                base_url="http://testserver/v1", api_key="x", http_client=c, max_retries=0
            )
            with pytest.raises(openai.APIStatusError) as err:
                client.chat.completions.create(model="tiny-1b", messages=CHAT["messages"])  # type: ignore[arg-type]
            metrics = c.get("/metrics").text
    assert err.value.status_code == 502 and elsewhere in err.value.message
    assert "307" in err.value.message
    assert seen.posts() == 1
    assert "x-routing-decision-id" not in err.value.response.headers
    assert 'routing_decisions_total{model="tiny-1b"}' not in metrics  # not answered
