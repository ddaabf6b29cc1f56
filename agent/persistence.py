"""The directory a :class:`~agent.router.Router` is saved to, and the state it holds.

The directory holds ``cluster_map.npz``, ``level_map_N.npz`` (one per extra partition:
K-means or task) and ``router.json``: :meth:`Router.state` (parameters, embedder id, policy,
conversations, budget pacers, the shift meter, and the open decisions with their feedback),
plain JSON with no pickles. A directory written before the state had one file
(``policy.json`` beside a ``router.json`` with a ``ledger``) still loads, and so does a state
in which an older version also saved a partition it fitted on the traffic (it is ignored).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agent.clusters import ClusterMap, LevelMap
from agent.level_maps import load_level_map
from agent.shift import ShiftMeter

CLUSTER_MAP = "cluster_map.npz"
LEVEL_MAP = "level_map_{}.npz"  # one per extra partition, numbered from 0
LEGACY_POLICY, STATE = "policy.json", "router.json"


def write_dir(
    path: str | Path, state: dict[str, Any], cluster_map: ClusterMap, level_maps: Sequence[LevelMap]
) -> None:
    """Write a router's ``state`` and maps into the directory ``path`` (created if missing)."""
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    cluster_map.save(out / CLUSTER_MAP)
    for old in out.glob(LEVEL_MAP.format("*")):
        old.unlink()
    for i, level_map in enumerate(level_maps):
        level_map.save(out / LEVEL_MAP.format(i))
    (out / STATE).write_text(json.dumps(state))
    (out / LEGACY_POLICY).unlink(missing_ok=True)


def read_dir(
    path: str | Path, embedder_id: str
) -> tuple[dict[str, Any], ClusterMap, list[LevelMap]]:
    """The state and maps :func:`write_dir` wrote (or an older layout), checked to be saved
    with the embedder ``embedder_id``; ``ValueError`` otherwise."""
    src = Path(path)
    try:
        state: dict[str, Any] = json.loads((src / STATE).read_text())
        if "policy" not in state:  # the two-file layout
            state = migrate_state(state, json.loads((src / LEGACY_POLICY).read_text()))
        saved_with = state["embedder"]
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"{src}: not a saved Router ({exc})") from exc
    if saved_with != embedder_id:
        raise ValueError(f"{src}: saved with embedder {saved_with!r}, given {embedder_id!r}")
    cmap = ClusterMap.load(src / CLUSTER_MAP)
    level_maps: list[LevelMap] = []
    while (src / LEVEL_MAP.format(len(level_maps))).exists():
        level_maps.append(load_level_map(src / LEVEL_MAP.format(len(level_maps))))
    return state, cmap, level_maps


def saved_shift(state: dict[str, Any]) -> ShiftMeter | None:
    """The shift meter a saved state holds (None if it has none). A partition an older version
    fitted on the traffic and saved beside it is ignored."""
    shift = state.get("shift")
    return ShiftMeter.from_state(shift) if shift is not None else None


def migrate_state(old: dict[str, Any], policy: dict[str, Any]) -> dict[str, Any]:
    """The one-file state of a router saved as ``router.json`` (with a ``ledger``) plus
    ``policy.json``."""
    return {
        "params": old["params"],
        "embedder": old["embedder"],
        "policy": policy,
        "store": old.get("ledger", []),
        "sticky": old.get("sticky", {}),
        "pacers": old.get("pacers", []),
    }
