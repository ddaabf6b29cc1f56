"""Where replay data comes from: a user's log, or the project's own generated default."""

from __future__ import annotations

import os
from pathlib import Path

from agent.embedder import Embedder, HashingEmbedder, MiniLMEmbedder
from agent.embedding_cache import CachedEmbedder
from agent.logs import ReplayLog, load_log
from simulator.flags import EMBEDDERS
from simulator.synthetic import generate_log


def cache_dir() -> Path:
    """``$ROUTING_AGENT_CACHE``, else ``$XDG_CACHE_HOME/routing-agent``, else ``~/.cache/...``."""
    if env := os.environ.get("ROUTING_AGENT_CACHE"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "routing-agent"


def make_embedder(name: str = "minilm", *, cache: str | Path | None = None) -> Embedder:
    """A named embedder wrapped in the on-disk cache (so a second replay embeds nothing)."""
    inner: Embedder
    if name == "minilm":
        inner = MiniLMEmbedder()
    elif name == "hashing":
        inner = HashingEmbedder()
    else:
        raise ValueError(f"unknown embedder {name!r}; choose from {', '.join(EMBEDDERS)}")
    return CachedEmbedder(inner, cache if cache is not None else cache_dir())


def load_replay_log(path: str | Path | None) -> ReplayLog:
    """The log at ``path``, or the generated default log."""
    return generate_log() if path is None else load_log(path)
