"""``routing-agent serve``: run the service with uvicorn (also ``python -m feedback.serve``)."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import sys
import tempfile
from typing import Any

from feedback.settings import Settings


def add_serve_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``serve`` on a CLI's subparsers; its handler is :func:`serve`."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "serve",
        help="run the routing and feedback HTTP service",
        description="Serve POST /route and POST /feedback. SQLite file by default; "
        "DATABASE_URL selects PostgreSQL; ROUTING_AGENT_API_KEY enables the admin API.",
    )
    _add_arguments(parser)
    parser.set_defaults(func=serve)
    return parser


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--from-log", metavar="PATH", help="build the pool from this replay log")
    parser.add_argument("--config", metavar="FILE", help="settings file (.toml or .json)")
    parser.add_argument(
        "--embedder",
        help="minilm-m2v (default), minilm, minilm-onnx, minilm-onnx-int8 or hashing[-DIM]",
    )
    parser.add_argument(
        "--upstreams",
        metavar="FILE",
        help="upstreams TOML: turns on the OpenAI-compatible proxy at /v1 (see README)",
    )
    parser.add_argument(
        "--insecure",
        action="store_true",
        help="serve on a non-loopback address without client keys (anyone who reaches the "
        "port may route and send feedback); refused otherwise",
    )
    parser.add_argument("--log-level", default="info", help="uvicorn log level")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="uvicorn worker processes; each is a replica following the others (default 1)",
    )


def settings_from_args(args: argparse.Namespace) -> Settings:
    settings = Settings.from_env(os.environ, config=args.config)
    values: dict[str, Any] = {}
    if args.from_log:
        values["from_log"] = args.from_log
    if getattr(args, "embedder", None):
        values["embedder"] = args.embedder
    if getattr(args, "upstreams", None):
        values["upstreams"] = args.upstreams
    return settings.with_values(values)


def is_loopback(host: str) -> bool:
    """Whether ``host`` binds to this machine alone (``localhost`` or a loopback address).

    >>> [is_loopback(h) for h in ("127.0.0.1", "127.8.0.1", "::1", "localhost", "[::1]")]
    [True, True, True, True, True]
    >>> [is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.5", "example.com", "")]
    [False, False, False, False, False]
    """
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_refusal(host: str, settings: Settings, *, insecure: bool) -> str | None:
    """Why serving on ``host`` is refused (None: it is not). Like Redis's protected mode: on
    an address other machines can reach, the client endpoints need client keys unless the
    operator says ``--insecure``."""
    from feedback.access import keys

    if insecure or keys(settings.client_keys) or is_loopback(host):
        return None
    return (
        f"refusing to serve on {host} without client keys: anyone who can reach it could "
        "route and send feedback; set ROUTING_AGENT_CLIENT_KEYS, bind to 127.0.0.1, or pass "
        "--insecure"
    )


#: How long uvicorn lets a worker process start before it restarts it.
WORKER_STARTUP_S = 120


def serve(args: argparse.Namespace) -> int:
    """Start uvicorn on ``args.host:args.port``; returns an exit code."""
    import uvicorn

    from feedback.app import create_app

    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    settings = settings_from_args(args)
    refusal = exposure_refusal(args.host, settings, insecure=getattr(args, "insecure", False))
    if refusal is not None:
        print(f"routing-agent serve: error: {refusal}", file=sys.stderr)
        return 2
    if settings.upstreams:
        from feedback.proxy.upstreams import UpstreamConfigError, Upstreams

        try:  # fail now with one line, not in uvicorn's start-up traceback
            Upstreams.from_file(settings.upstreams)
        except UpstreamConfigError as exc:
            print(f"routing-agent serve: error: {exc}", file=sys.stderr)
            return 2
    opts: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "log_level": args.log_level,
        "access_log": False,
    }
    if getattr(args, "workers", 1) > 1:
        # Worker processes rebuild the settings from the environment.
        if args.config:
            os.environ["ROUTING_AGENT_CONFIG"] = str(args.config)
        for name in ("from_log", "embedder", "upstreams"):
            value = getattr(settings, name)
            if value is not None:
                os.environ[f"ROUTING_AGENT_{name.upper()}"] = str(value)
        from feedback.bootstrap import prepare_database

        prepare_database(settings)  # the expensive part, once, before the workers fork
        # Every worker writes its metrics where /metrics on any of them can sum them.
        os.environ.setdefault(
            "PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="routing-agent-metrics-")
        )
        uvicorn.run(
            "feedback.app:app_from_env",
            factory=True,
            workers=args.workers,
            # A worker loads its encoder and replays feedback before it answers; uvicorn's
            # 5 s default would kill and restart it while it is still starting.
            timeout_worker_healthcheck=WORKER_STARTUP_S,
            **opts,
        )
        return 0
    uvicorn.run(create_app(settings), **opts)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="routing-agent serve", description=__doc__)
    _add_arguments(parser)
    return serve(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
