"""Where replay data comes from: a user's log, or the project's own generated default."""

from __future__ import annotations

from pathlib import Path

from agent.artifacts import cache_root
from agent.embedder import Embedder
from agent.embedding_cache import CachedEmbedder
from agent.encoders import DEFAULT_ENCODER, make_encoder
from agent.logs import ReplayLog, load_log
from agent.synthetic_log import generate_log


def cache_dir() -> Path:
    """``$ROUTING_AGENT_CACHE``, else ``$XDG_CACHE_HOME/routing-agent``, else ``~/.cache/...``."""
    return cache_root()


def make_embedder(name: str = DEFAULT_ENCODER, *, cache: str | Path | None = None) -> Embedder:
    """A named embedder (:func:`agent.encoders.make_encoder`) wrapped in the on-disk cache, so
    a second replay embeds nothing; the cache keys rows by the encoder's id."""
    return CachedEmbedder(make_encoder(name), cache if cache is not None else cache_dir())


def load_replay_log(path: str | Path | None) -> ReplayLog:
    """The log at ``path``, or the generated default log."""
    return generate_log() if path is None else load_log(path)
