"""Encoders by name (built into the per-user folder of :mod:`agent.artifacts` on first use).

Cheap to import (no numpy): the command line's flags read :data:`ENCODERS` from here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent.embedder import Embedder

#: The names ``--embedder`` and the service's ``embedder`` setting accept (``hashing-DIM`` too).
ENCODERS = ("minilm", "minilm-onnx", "minilm-onnx-int8", "minilm-m2v", "hashing")
#: The default: the fastest encoder whose fresh-prompt AUDC stays within 0.005 of MiniLM's on
#: both shared logs (BENCHMARKS.md, "Encoders" and "Routing latency").
DEFAULT_ENCODER = "minilm-m2v"


def make_encoder(name: str, *, threads: int | None = None) -> Embedder:
    """The encoder called ``name`` (one of :data:`ENCODERS`, or ``hashing-DIM``).

    ``threads`` caps the intra-op threads of the neural encoders (None: their default).

    >>> make_encoder("hashing-64").id, make_encoder("minilm-onnx-int8").id
    ('hashing-64-s0', 'minilm-l6-v2-onnx-int8-v1-tail1000')
    >>> make_encoder("bert")
    Traceback (most recent call last):
    ...
    ValueError: unknown embedder 'bert'; choose from minilm, minilm-onnx, minilm-onnx-int8, \
minilm-m2v, hashing, hashing-DIM
    """
    from agent.embedder import HashingEmbedder, MiniLMEmbedder

    if name == "minilm":
        return MiniLMEmbedder(threads=threads)
    if name in ("minilm-onnx", "minilm-onnx-int8"):
        from agent.onnx_encoder import OnnxMiniLMEmbedder

        return OnnxMiniLMEmbedder(quantized=name.endswith("int8"), threads=threads)
    if name == "minilm-m2v":
        from agent.static_encoder import StaticMiniLMEmbedder

        return StaticMiniLMEmbedder()
    if name == "hashing":
        return HashingEmbedder()
    if name.startswith("hashing-") and name[8:].isdigit() and int(name[8:]) > 0:
        return HashingEmbedder(dim=int(name[8:]))
    choices = ", ".join((*ENCODERS, "hashing-DIM"))
    raise ValueError(f"unknown embedder {name!r}; choose from {choices}")
