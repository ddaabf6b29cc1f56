"""Saving and loading a :class:`~agent.router.Router` to and from a directory.

The directory holds ``cluster_map.npz``, ``leaf_map.npz`` (when the router has leaves),
``policy.json`` and ``router.json`` (parameters, embedder id, open decisions, conversations and
budget pacers).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from agent.clusters import ClusterMap
from agent.embedder import Embedder
from policies import Policy

if TYPE_CHECKING:
    from agent.router import Router

R = TypeVar("R", bound="Router")

CLUSTER_MAP, LEAF_MAP = "cluster_map.npz", "leaf_map.npz"
POLICY, STATE = "policy.json", "router.json"


def save_router(router: Router, path: str | Path) -> None:
    """Write ``router`` into the directory ``path`` (created if missing)."""
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    with router._lock:
        router.cluster_map.save(out / CLUSTER_MAP)
        if router.leaf_map is not None:
            router.leaf_map.save(out / LEAF_MAP)
        else:
            (out / LEAF_MAP).unlink(missing_ok=True)
        (out / POLICY).write_text(router.policy.to_json())
        state = {
            "params": {p: getattr(router, p) for p in router._PARAMS},
            "embedder": router.embedder.id,
            "ledger": router._ledger.to_state(),
            "sticky": router._sticky.to_state(),
            "pacers": router.pacer_state(),
        }
    (out / STATE).write_text(json.dumps(state))


def load_router(
    cls: type[R],
    path: str | Path,
    *,
    embedder: Embedder,
    secret: bytes | None = None,
    clock: Callable[[], float] = time.time,
) -> R:
    """Read a router written by :func:`save_router`; ``embedder`` must be the one it was built
    with. A directory saved before routers had leaves loads without a leaf map."""
    src = Path(path)
    try:
        state: dict[str, Any] = json.loads((src / STATE).read_text())
        policy = Policy.from_json((src / POLICY).read_text())
        embedder_id = state["embedder"]
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"{src}: not a saved Router ({exc})") from exc
    if embedder_id != embedder.id:
        raise ValueError(f"{src}: saved with embedder {embedder_id!r}, given {embedder.id!r}")
    cmap = ClusterMap.load(src / CLUSTER_MAP)
    leaf_map = ClusterMap.load(src / LEAF_MAP) if (src / LEAF_MAP).exists() else None
    router = cls(
        policy, cmap, embedder, leaf_map=leaf_map, secret=secret, clock=clock, **state["params"]
    )
    router._ledger.load_state(state["ledger"])
    router._sticky.load_state(state["sticky"])
    router.load_pacer_state(state["pacers"])
    return router
