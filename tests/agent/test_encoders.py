"""Encoders by name: the choice, the build cache, the embedding cache key, and agreement of the
fast encoders with the sentence-transformers MiniLM."""

from __future__ import annotations

import pickle
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from agent.artifacts import artifact
from agent.embedder import HashingEmbedder, MiniLMEmbedder
from agent.embedding_cache import CachedEmbedder
from agent.encoders import DEFAULT_ENCODER, ENCODERS, make_encoder
from agent.onnx_encoder import OnnxMiniLMEmbedder
from agent.static_encoder import StaticMiniLMEmbedder
from feedback.bootstrap import make_embedder as service_embedder
from feedback.settings import Settings
from simulator.flags import DEFAULT_EMBEDDER, EMBEDDERS

PROMPTS = [
    "How do I reverse a list in Python?",
    "What's the Python way to reverse a list?",
    "Who won the battle of Hastings in 1066?",
    "Solve for x: 3x + 7 = 22.",
    "Write a haiku about autumn leaves.",
    "Which of these is a mammal? (A) shark (B) dolphin (C) trout (D) eel",
    "Translate 'good morning' into French.",
    "Explain the difference between TCP and UDP.",
    "Question: " + "Some context about the history of the Roman empire. " * 40 + "Who was first?",
]


def test_names_choose_the_encoder() -> None:
    assert EMBEDDERS == ENCODERS  # the CLI's copy (kept import-free) matches the registry
    assert DEFAULT_EMBEDDER == DEFAULT_ENCODER == Settings().embedder == "minilm-m2v"
    kinds = {name: type(make_encoder(name)) for name in ENCODERS}
    assert kinds == {
        "minilm": MiniLMEmbedder,
        "minilm-onnx": OnnxMiniLMEmbedder,
        "minilm-onnx-int8": OnnxMiniLMEmbedder,
        "minilm-m2v": StaticMiniLMEmbedder,
        "hashing": HashingEmbedder,
    }
    ids = [make_encoder(name).id for name in ENCODERS]
    assert len(set(ids)) == len(ids)  # every encoder has its own embedding space
    assert make_encoder("hashing-48").dim == 48
    onnx = service_embedder(Settings(embedder="minilm-onnx-int8", embed_threads=1))
    assert isinstance(onnx, OnnxMiniLMEmbedder) and onnx.quantized and onnx.threads == 1
    for bad in ("bert", "hashing-0", "hashing-x", "minilm-onnx-int4"):
        with pytest.raises(ValueError, match=f"unknown embedder '{bad}'; choose from minilm"):
            make_encoder(bad)


def test_the_command_line_accepts_each_name() -> None:
    from cli.main import build_parser

    parser = build_parser()
    for name in ENCODERS:
        assert parser.parse_args(["simulate", "--embedder", name]).embedder == name
    assert parser.parse_args(["sweep"]).embedder == DEFAULT_ENCODER
    with pytest.raises(SystemExit):
        parser.parse_args(["simulate", "--embedder", "bert"])


def test_an_artifact_is_built_once_and_a_failed_build_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ROUTING_AGENT_CACHE", str(tmp_path))
    builds: list[Path] = []

    def build(out: Path) -> None:
        builds.append(out)
        (out / "model.bin").write_text("weights")

    first = artifact("toy", {"size": 1}, build)
    assert artifact("toy", {"size": 1}, build) == first and len(builds) == 1
    assert (first / "model.bin").read_text() == "weights"
    assert first.parent == tmp_path / "encoders" and first.name.startswith("toy-")
    assert "building encoder toy" in capsys.readouterr().err
    assert artifact("toy", {"size": 2}, build) != first  # another recipe, another build

    def broken(out: Path) -> None:
        (out / "half.bin").write_text("partial")
        raise RuntimeError("export failed")

    with pytest.raises(RuntimeError, match="export failed"):
        artifact("broken", {}, broken)
    assert sorted(p.name.split("-")[0] for p in (tmp_path / "encoders").iterdir()) == [
        "toy",
        "toy",
    ]


def test_the_embedding_cache_keys_rows_by_encoder(tmp_path: Path) -> None:
    static, hashing = make_encoder("minilm-m2v"), make_encoder("hashing")
    for enc in (static, hashing):
        CachedEmbedder(enc, tmp_path).encode(PROMPTS[:3])
    again = CachedEmbedder(make_encoder("minilm-m2v"), tmp_path)
    rows = again.encode(PROMPTS[:3])
    assert (again.hits, again.misses) == (3, 0)
    np.testing.assert_allclose(rows, static.encode(PROMPTS[:3]), atol=1e-6)
    with sqlite3.connect(tmp_path / "embeddings.sqlite") as con:
        counts = dict(con.execute("SELECT embedder, count(*) FROM embeddings GROUP BY embedder"))
    assert counts == {static.id: 3, hashing.id: 3}
    assert static.id == "minilm-l6-v2-m2v256-v2-tail1000"


def test_onnx_agrees_with_the_torch_model() -> None:
    reference = MiniLMEmbedder().encode(PROMPTS)
    fp32 = OnnxMiniLMEmbedder(quantized=False, threads=1, batch_size=4)
    int8 = OnnxMiniLMEmbedder(quantized=True, threads=1)
    x, q = fp32.encode(PROMPTS), int8.encode(PROMPTS)
    assert x.shape == q.shape == (len(PROMPTS), 384) and q.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-5)
    assert np.sum(x * reference, axis=1).min() > 0.9999
    alone = np.vstack([fp32.encode([p]) for p in PROMPTS])  # padding changes nothing
    assert np.sum(alone * x, axis=1).min() > 0.9999
    # int8 activations are scaled per batch, so a row depends a little on its batch: each
    # way, it stays close to the torch model's.
    for rows in (q, np.vstack([int8.encode([p]) for p in PROMPTS])):
        cos = np.sum(rows * reference, axis=1)
        assert cos.mean() > 0.99 and cos.min() > 0.98, cos
    assert q[0] @ q[1] > q[0] @ q[2] + 0.3
    clone = pickle.loads(pickle.dumps(int8))
    assert "_state" not in clone.__dict__ and clone.id == int8.id


def test_the_static_model_embeds_like_an_encoder() -> None:
    emb = StaticMiniLMEmbedder()
    assert "_loaded" not in emb.__dict__ and emb.encode([]).shape == (0, 256)
    x = emb.encode(PROMPTS)
    assert x.shape == (len(PROMPTS), 256) and x.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
    assert x[0] @ x[1] > x[0] @ x[2] + 0.2
    assert "_loaded" not in pickle.loads(pickle.dumps(emb)).__dict__
