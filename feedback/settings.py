"""Service settings: defaults, then a JSON/TOML config file, then ``ROUTING_AGENT_*`` variables.

``DATABASE_URL`` selects the database (default: a SQLite file in the working directory);
``ROUTING_AGENT_API_KEY`` guards the admin endpoints; ``ROUTING_AGENT_UPSTREAMS`` turns on the
OpenAI-compatible proxy and ``ROUTING_AGENT_CLIENT_KEYS`` guards it (see :mod:`feedback.proxy`);
``ROUTING_AGENT_READ_KEYS`` guards the read endpoints (see :mod:`feedback.access`).
"""

from __future__ import annotations

import json
import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from feedback.proxy.health import BreakerRules

from agent.source_cap import Limits

DEFAULT_DATABASE_URL = "sqlite:///routing-agent.db"


@dataclass(frozen=True)
class Settings:
    """Everything the service reads at start-up.

    >>> s = Settings.from_env({"DATABASE_URL": "sqlite://", "ROUTING_AGENT_K": "4"})
    >>> s.database_url, s.k, s.embedder
    ('sqlite://', 4, 'minilm-m2v')
    """

    database_url: str = DEFAULT_DATABASE_URL
    #: PostgreSQL schema for all tables (created if missing); None means the default schema.
    db_schema: str | None = None
    api_key: str | None = None
    #: HMAC key for decision tokens; None means one generated and shared through the database.
    secret: str | None = None
    #: Seconds after a decision during which feedback is accepted; later feedback gets 410.
    decision_ttl: float = 86400.0
    #: Seconds between polls for feedback committed by other replicas and for pool changes.
    poll_interval: float = 1.0
    #: Seconds between policy snapshots (0 disables periodic snapshots).
    snapshot_interval: float = 300.0
    #: How long an id skipped by the database sequence may still turn up (a slow commit).
    gap_timeout: float = 300.0
    #: The prompt encoder: a name of :data:`agent.encoders.ENCODERS` (or ``hashing-DIM``).
    embedder: str = "minilm-m2v"
    embedding_cache: str | None = None
    #: Most texts embedded in one batch, and how long (ms) a batch waits for more requests.
    embed_batch: int = 64
    embed_wait_ms: float = 2.0
    #: Intra-op threads of the neural encoder (0: its default, one per core). One thread keeps
    #: the embedding from fighting the HTTP loop and other processes for a small machine's cores.
    embed_threads: int = 1
    #: Recent prompt embeddings kept in memory (an LRU; 0 disables it).
    embed_cache_rows: int = 10_000
    #: Most writes (decisions, feedback) committed in one transaction by the writer thread.
    commit_batch: int = 512
    k: int = 16
    policy: str = "default"
    #: Recent prompts (text and context, in memory only) ``GET /admin/nominations`` ranks for
    #: labelling (0: none kept, and the endpoint answers 409).
    label_candidates: int = 1000
    #: Posterior draws per decision for Thompson's Monte Carlo propensity (0: none). The
    #: monitoring report's off-policy estimates need propensities.
    propensity_samples: int = 256
    seed: int = 0
    lam: float | None = None
    soft: bool = False
    stickiness: float = 0.05
    source_limit: int = 50
    source_window: float = 3600.0
    #: Most weight one identity (a client key, else an address) may put on one (cluster,
    #: model) within ``identity_window`` seconds, across every source it claims (0: no cap).
    identity_budget: float = 10.0
    identity_window: float = 86400.0
    #: Most weight one identity's feedback may put, within ``identity_window``, on the parts of
    #: the policy shared by every model (``default``'s difficulty corrections).
    identity_shared_budget: float = 0.25
    #: Seconds decisions and feedback are kept (older rows are pruned; 0: kept forever).
    retention: float = 30 * 86400.0
    #: Seconds between background prunes (0: none), and most rows one delete statement takes.
    prune_interval: float = 3600.0
    prune_batch: int = 1000
    #: A replay log to build the pool from when the database holds none (default: synthetic).
    from_log: str | None = None
    synthetic_prompts: int = 2400
    #: Largest request body in bytes; a bigger one gets 413 before it is parsed.
    max_body_bytes: int = 33_554_432
    #: Most messages in one conversation (more: 422 on ``POST /route``, 400 on the proxy).
    max_messages: int = 2048
    #: Most characters in a prompt or in one message's text (more: 422 on ``POST /route``, 400
    #: on the proxy); images and other non-text parts count only towards ``max_body_bytes``.
    max_message_chars: int = 1_048_576
    #: Characters of each of the last user turns the prompt encoder reads (each turn's tail, cut
    #: at a word break): what routing costs does not grow with the conversation.
    embed_turn_chars: int = 2000
    #: Seconds a built monitoring report (``/report``, ``/report.html``) is served before it is
    #: rebuilt in the background; the stale copy is served meanwhile.
    report_ttl: float = 10.0
    #: The OpenAI-compatible proxy's upstreams file (TOML); None leaves ``/v1/*`` off.
    upstreams: str | None = None
    #: Comma list of client keys; when set, ``/v1/*``, ``/route`` and ``/feedback`` need
    #: ``Authorization: Bearer KEY``. Unset: those endpoints are open.
    client_keys: str | None = None
    #: Comma list of read keys; when set, the read endpoints (``/report``, ``/report.html``,
    #: ``/metrics``, ``GET /models``, ``/openapi.json``, ``/docs``) need a known key: a read,
    #: client or admin key as ``Authorization: Bearer`` or Basic password, or ``X-API-Key``.
    #: Unset: they are open. ``/healthz`` is always open.
    read_keys: str | None = None
    #: Most models one proxied request tries (the chosen one, then the next best) on upstream
    #: failures: 5xx, timeouts, connection errors.
    proxy_attempts: int = 3
    #: A regenerate (same conversation and last user turn within ``regenerate_window``
    #: seconds) gives the answer it replaces a thumbs-down from source implicit-regenerate.
    implicit_regenerate: bool = True
    regenerate_window: float = 600.0
    #: Requests a second each client (client key, else address) may make on average to
    #: ``/v1/*``, ``/route`` and ``/feedback``; 0: no limit. Beyond it: 429 with Retry-After.
    rate_limit: float = 0.0
    #: How many requests a client may make at once before the rate limit applies.
    rate_burst: int = 20
    #: A pool model's circuit breaker opens after this many failed upstream calls in a row
    #: (0: never for that reason) ...
    breaker_failures: int = 3
    #: ... or when this share of its calls in the last ``breaker_window`` seconds failed, once
    #: there were ``breaker_min_calls`` of them (0: never for that reason).
    breaker_error_rate: float = 0.5
    breaker_window: float = 60.0
    breaker_min_calls: int = 10
    #: Seconds an open breaker keeps routed requests away before a probe may go through.
    breaker_cooldown: float = 30.0
    #: Most connections to upstreams at once (per trust store), and most kept idle for reuse.
    upstream_connections: int = 100
    upstream_keepalive: int = 20

    def __post_init__(self) -> None:
        if not (math.isfinite(self.rate_limit) and self.rate_limit >= 0) or self.rate_burst < 1:
            raise ValueError(
                f"rate_limit must be >= 0 and rate_burst >= 1, got {self.rate_limit} and "
                f"{self.rate_burst}"
            )
        for name in ("label_candidates", "prune_interval"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("embed_turn_chars", "upstream_connections", "upstream_keepalive"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        self.breaker_rules()  # raises for a breaker setting out of range
        _ = self.limits  # refuses nonsense caps now, not at the first feedback
        if self.prune_batch < 1:
            raise ValueError(f"prune_batch must be >= 1, got {self.prune_batch}")
        check_retention(self, self.retention, "retention")

    def breaker_rules(self) -> BreakerRules:
        """The circuit breakers' rules (``breaker_*``)."""
        from feedback.proxy.health import BreakerRules

        return BreakerRules(
            failures=self.breaker_failures,
            error_rate=self.breaker_error_rate,
            window=self.breaker_window,
            min_calls=self.breaker_min_calls,
            cooldown=self.breaker_cooldown,
        )

    @property
    def limits(self) -> Limits:
        """The influence caps (:mod:`agent.source_cap`)."""
        return Limits(
            source_limit=self.source_limit,
            source_window=self.source_window,
            identity_budget=self.identity_budget,
            identity_window=self.identity_window,
            shared_budget=self.identity_shared_budget,
        )

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    def with_values(self, values: Mapping[str, Any]) -> Self:
        """A copy with ``values`` (strings are converted to each field's type)."""
        unknown = sorted(set(values) - set(self.field_names()))
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(unknown)}")
        return replace(self, **{k: _convert(k, v) for k, v in values.items()})

    @classmethod
    def from_file(cls, path: str | Path) -> Self:
        """Settings from a ``.json`` or ``.toml`` file (a ``[routing_agent]`` table or flat)."""
        p = Path(path)
        text = p.read_text()
        data = tomllib.loads(text) if p.suffix.lower() == ".toml" else json.loads(text)
        if not isinstance(data, dict):
            raise ValueError(f"{p}: a config file must hold a table of settings")
        return cls().with_values(data.get("routing_agent", data))

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, config: str | Path | None = None
    ) -> Self:
        """Defaults, then ``config``, then ``DATABASE_URL`` and ``ROUTING_AGENT_<FIELD>``."""
        env = os.environ if env is None else env
        base = cls.from_file(config) if config else cls()
        values: dict[str, Any] = {}
        if env.get("DATABASE_URL"):
            values["database_url"] = env["DATABASE_URL"]
        for name in cls.field_names():
            key = f"ROUTING_AGENT_{name.upper()}"
            if env.get(key):
                values[name] = env[key]
        return base.with_values(values)


_TYPES = {f.name: f.type for f in fields(Settings)}


def check_retention(settings: Settings, seconds: float, what: str) -> None:
    """Refuse a retention (``seconds``; 0 keeps rows forever) shorter than a window the
    service still reads rows in: the decision TTL (feedback on a pruned decision could not
    count) and the influence caps' windows (pruned rows would stop counting against a client).
    """
    if seconds == 0:
        return
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"{what} must be a positive number of seconds (0: keep forever)")
    windows = {
        "the decision TTL": settings.decision_ttl,
        "the source window": settings.source_window,
        "the identity window": settings.identity_window,
    }
    name, longest = max(windows.items(), key=lambda kv: kv[1])
    if seconds < longest:
        raise ValueError(
            f"{what} of {seconds:g}s is shorter than {name} ({longest:g}s): rows still in use "
            "would be pruned"
        )


def _convert(name: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    kind = str(_TYPES[name])
    if value == "" and "None" in kind:
        return None
    if kind.startswith("int"):
        return int(value)
    if kind.startswith("float"):
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"setting {name} must be a finite number, got {value!r}")
        return number
    if kind.startswith("bool"):
        if value.lower() not in ("1", "0", "true", "false", "yes", "no"):
            raise ValueError(f"setting {name} must be a boolean, got {value!r}")
        return value.lower() in ("1", "true", "yes")
    return value
