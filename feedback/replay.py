"""How a replica's router catches up with the database: the router state in a stored
snapshot, and one committed feedback row learnt into it."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from agent.router import Router
from agent.traffic_cells import foreign_leaf
from feedback import crud


def snapshot_router_state(snapshot: dict[str, Any]) -> dict[str, Any]:
    """The router state in a stored snapshot; a snapshot from before the router had one
    state (``policy`` and ``pacers`` beside ``applied``) is read as one without conversations
    (the database remembers those)."""
    if "router" in snapshot:
        state: dict[str, Any] = snapshot["router"]
        return state
    return {"policy": snapshot["policy"], "pacers": snapshot.get("pacers", [])}


def replay_row(router: Router, row: crud.FeedbackItem) -> None:
    """Learn one committed feedback row (a leaf of another replica's traffic cells marks its
    cluster's profile stale, as it did there)."""
    _, kind, value, model, weight, weights, leaf, key, tags, cells, watched = row
    leaf, stale = foreign_leaf(router.traffic_cells, leaf)
    w = np.asarray(json.loads(weights))
    router.apply(w, model, value, kind=kind, weight=weight, leaf=leaf, prompt_key=key, tags=tags,
                 stale=stale, cells=cells, watch=watched)  # fmt: skip
