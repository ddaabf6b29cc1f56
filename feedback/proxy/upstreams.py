"""The upstreams file: where each pool model's requests go (TOML, checked once at start-up).

>>> import tomllib
>>> text = '''
... [default]
... base_url = "http://127.0.0.1:8001/v1"
... api_key_env = ""
... [models."big"]
... model = "llama-70b"
... input_usd_per_mtok = 0.5
... '''
>>> ups = Upstreams.from_dict(tomllib.loads(text), env={})
>>> ups.get("big").model, ups.get("cheap").model, ups.get("cheap").base_url
('llama-70b', 'cheap', 'http://127.0.0.1:8001/v1')
"""

from __future__ import annotations

import os
import ssl
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from feedback.proxy.clients import trust

KEYS = {
    "base_url": str,
    "api_key_env": str,
    "model": str,
    "timeout_s": float,
    "max_retries": int,
    "input_usd_per_mtok": float,
    "output_usd_per_mtok": float,
    "ca_bundle": str,
}


class UpstreamConfigError(ValueError):
    """The upstreams file cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Upstream:
    """One pool model's upstream. ``api_key`` is read from the environment, never stored."""

    name: str
    base_url: str
    model: str
    api_key: str | None = None
    timeout_s: float = 60.0
    max_retries: int = 0
    input_usd_per_mtok: float | None = None
    output_usd_per_mtok: float | None = None
    #: A PEM file of the CA certificates its TLS certificate is checked against (a private
    #: CA); None: the system's.
    ca_bundle: str | None = None

    def cost(self, usage: Mapping[str, Any] | None) -> float | None:
        """USD for the usage an answer reports, or None without prices or usage.

        >>> Upstream("m", "u", "m", input_usd_per_mtok=1.0, output_usd_per_mtok=2.0).cost(
        ...     {"prompt_tokens": 1000, "completion_tokens": 500})
        0.002
        """
        if self.input_usd_per_mtok is None and self.output_usd_per_mtok is None:
            return None
        if not isinstance(usage, Mapping):
            return None
        tin, tout = usage.get("prompt_tokens"), usage.get("completion_tokens")
        if not isinstance(tin, int | float) or not isinstance(tout, int | float):
            return None
        return (
            float(tin) * (self.input_usd_per_mtok or 0.0)
            + float(tout) * (self.output_usd_per_mtok or 0.0)
        ) / 1e6

    def __repr__(self) -> str:  # never show the key
        return f"Upstream({self.name!r} -> {self.base_url} model={self.model!r})"


@dataclass(frozen=True)
class Upstreams:
    """The ``[default]`` table (may be None) and the per-model ``[models."NAME"]`` tables."""

    default: Mapping[str, Any] | None
    models: Mapping[str, Mapping[str, Any]]
    env: Mapping[str, str]
    source: str = "upstreams"

    @classmethod
    def from_file(cls, path: str | Path, env: Mapping[str, str] | None = None) -> Self:
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text())
        except OSError as exc:
            raise UpstreamConfigError(f"upstreams file {p}: cannot read it ({exc})") from exc
        except tomllib.TOMLDecodeError as exc:
            raise UpstreamConfigError(f"upstreams file {p}: not valid TOML ({exc})") from exc
        return cls.from_dict(data, env=env, source=str(p))

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], env: Mapping[str, str] | None = None, source: str = "-"
    ) -> Self:
        """Check every table's keys and types, and that every key variable is set."""
        env = os.environ if env is None else env
        unknown = sorted(set(data) - {"default", "models"})
        if unknown:
            raise UpstreamConfigError(
                f"{source}: unknown table(s) {', '.join(unknown)}; use [default] and "
                '[models."NAME"]'
            )
        default = data.get("default")
        if default is not None:
            _check(default, "[default]", source, env)
        models = data.get("models", {})
        if not isinstance(models, Mapping):
            raise UpstreamConfigError(f'{source}: models must be tables [models."NAME"]')
        for name, table in models.items():
            _check(table, f'[models."{name}"]', source, env)
        if default is None and not models:
            raise UpstreamConfigError(f'{source}: no [default] and no [models."NAME"] table')
        out = cls(default, dict(models), env, source)
        for name in models:
            out.get(name)  # a model table without base_url and no default to fill it in
        return out

    def serves(self, name: str) -> bool:
        return self.default is not None or name in self.models

    def get(self, name: str) -> Upstream:
        """The upstream of pool model ``name`` (its table over ``[default]``)."""
        table = {**(self.default or {}), **self.models.get(name, {})}
        if "base_url" not in table:
            raise UpstreamConfigError(f'{self.source}: no base_url for model "{name}"')
        key_env = table.get("api_key_env", "")
        return Upstream(
            name=name,
            base_url=str(table["base_url"]).rstrip("/"),
            model=str(table.get("model", name)),
            api_key=self.env[key_env] if key_env else None,
            timeout_s=float(table.get("timeout_s", 60.0)),
            max_retries=int(table.get("max_retries", 0)),
            input_usd_per_mtok=_opt(table.get("input_usd_per_mtok")),
            output_usd_per_mtok=_opt(table.get("output_usd_per_mtok")),
            ca_bundle=str(table["ca_bundle"]) if table.get("ca_bundle") else None,
        )

    def check_pool(self, pool: Iterable[str]) -> None:
        """Every ``[models."NAME"]`` must be a pool model, and every pool model served."""
        names = list(pool)
        extra = sorted(set(self.models) - set(names))
        if extra:
            raise UpstreamConfigError(
                f"{self.source}: model(s) not in the pool: {', '.join(extra)} "
                f"(pool: {', '.join(names)})"
            )
        missing = [n for n in names if not self.serves(n)]
        if missing:
            raise UpstreamConfigError(
                f"{self.source}: no upstream for pool model(s) {', '.join(missing)}; add a "
                "[default] table or their own tables"
            )


def _opt(value: Any) -> float | None:
    return None if value is None else float(value)


def _check(table: Any, where: str, source: str, env: Mapping[str, str]) -> None:
    if not isinstance(table, Mapping):
        raise UpstreamConfigError(f"{source}: {where} must be a table")
    for key, value in table.items():
        kind = KEYS.get(key)
        if kind is None:
            raise UpstreamConfigError(
                f"{source}: {where} has unknown key {key!r} (known: {', '.join(KEYS)})"
            )
        ok = isinstance(value, kind) or (kind is float and isinstance(value, int))
        if not ok or isinstance(value, bool) or (kind is not str and value < 0):
            raise UpstreamConfigError(
                f"{source}: {where} {key} must be a {'non-negative ' * (kind is not str)}"
                f"{kind.__name__}, got {value!r}"
            )
    if where == "[default]" and "model" in table:
        raise UpstreamConfigError(
            f"{source}: [default] cannot set model (each pool model keeps its own name)"
        )
    if table.get("ca_bundle"):
        try:
            trust(table["ca_bundle"])
        except (OSError, ssl.SSLError) as exc:
            raise UpstreamConfigError(
                f"{source}: {where} ca_bundle {table['ca_bundle']!r} is not a PEM file of CA "
                f"certificates ({exc})"
            ) from exc
    key_env = table.get("api_key_env", "")
    if key_env and not env.get(key_env):
        raise UpstreamConfigError(
            f"{source}: {where} api_key_env names {key_env!r}, which is not set "
            '(use api_key_env = "" to send no key)'
        )
