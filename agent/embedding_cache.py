"""An on-disk embedding cache (SQLite, stdlib) wrapped around any embedder."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path

import numpy as np

from agent.embedder import Embedder

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS embeddings ("
    "embedder TEXT NOT NULL, key TEXT NOT NULL, vec BLOB NOT NULL, "
    "PRIMARY KEY (embedder, key))"
)
_CHUNK = 500  # keys per SELECT ... IN (...), below SQLite's variable limit


class CachedEmbedder:
    """Embed through ``inner``, caching vectors in ``cache_dir/embeddings.sqlite``.

    Rows are keyed by (``inner.id``, sha256 of the text), so embedders never collide and the
    cache is shared safely by several processes (WAL mode). ``hits`` and ``misses`` count
    distinct texts served from the cache and sent to ``inner``.

    >>> import tempfile
    >>> from agent.embedder import HashingEmbedder
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     emb = CachedEmbedder(HashingEmbedder(dim=32), tmp)
    ...     first = emb.encode(["a cat", "a dog", "a cat"])
    ...     again = emb.encode(["a dog", "a cat"])
    ...     (emb.misses, emb.hits, bool((again == first[[1, 0]]).all()))
    (2, 2, True)
    """

    def __init__(self, inner: Embedder, cache_dir: str | Path) -> None:
        self.inner = inner
        self.cache_dir = cache_dir

    @property
    def id(self) -> str:
        """The wrapped embedder's id."""
        return self.inner.id

    @property
    def dim(self) -> int:
        """The wrapped embedder's dimension."""
        return self.inner.dim

    @property
    def path(self) -> Path:
        """The SQLite file holding the cache."""
        return Path(self.cache_dir) / "embeddings.sqlite"

    @property
    def hits(self) -> int:
        """Distinct texts found in the cache so far."""
        return int(getattr(self, "_hits", 0))

    @property
    def misses(self) -> int:
        """Distinct texts embedded by the wrapped embedder so far."""
        return int(getattr(self, "_misses", 0))

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` in order, embedding only the texts not yet cached (in one call)."""
        keys = [hashlib.sha256(t.encode("utf-8")).hexdigest() for t in texts]
        unique = list(dict.fromkeys(keys))
        dim, eid = self.dim, self.id
        with self._connect() as con:
            found = self._lookup(con, eid, unique, dim)
            todo = [k for k in unique if k not in found]
            if todo:
                text_of = dict(zip(keys, texts, strict=True))
                vecs = np.asarray(self.inner.encode([text_of[k] for k in todo]), dtype=np.float32)
                if vecs.shape != (len(todo), dim):
                    raise ValueError(
                        f"embedder {eid!r} returned shape {vecs.shape}, expected {(len(todo), dim)}"
                    )
                rows = [(eid, k, v.tobytes()) for k, v in zip(todo, vecs, strict=True)]
                with con:
                    con.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?)", rows)
                found.update(zip(todo, vecs, strict=True))
        self._hits = self.hits + len(unique) - len(todo)
        self._misses = self.misses + len(todo)
        out = np.zeros((len(texts), dim), dtype=np.float32)
        for i, k in enumerate(keys):
            out[i] = found[k]
        return out

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(self.path, timeout=30.0)) as con:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            with con:
                con.execute(_SCHEMA)
            yield con

    @staticmethod
    def _lookup(
        con: sqlite3.Connection, eid: str, keys: list[str], dim: int
    ) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(keys), _CHUNK):
            chunk = keys[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT key, vec FROM embeddings WHERE embedder = ? AND key IN ({marks})"
            for key, blob in con.execute(query, [eid, *chunk]):
                vec = np.frombuffer(blob, dtype=np.float32)
                if vec.shape == (dim,):  # a stale row of another size is re-embedded
                    found[key] = vec
        return found
