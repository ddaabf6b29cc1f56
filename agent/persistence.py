"""Saving and loading a :class:`~agent.router.Router`: its state as one plain-data dict, and
a directory.

The directory holds ``cluster_map.npz``, ``level_map_N.npz`` (one per extra partition:
K-means or task) and ``router.json``:
:meth:`Persistence.state` (parameters, embedder id, policy, conversations, budget pacers, the
shift meter, and the open decisions with their feedback), plain JSON with no pickles. A
directory written before the state had one file (``policy.json`` beside a ``router.json`` with
a ``ledger``) still loads, and so does a state in which an older version also saved cells it
fitted on the traffic (they are ignored).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

from agent.clusters import ClusterMap, LevelMap
from agent.conversation import StickyModels
from agent.embedder import Embedder
from agent.level_maps import load_level_map
from agent.shift import ShiftMeter
from policies import Policy

CLUSTER_MAP = "cluster_map.npz"
LEVEL_MAP = "level_map_{}.npz"  # one per extra partition, numbered from 0
LEGACY_POLICY, STATE = "policy.json", "router.json"


class Persistence:
    """The Router's state and its directory (the Router's half that saves it)."""

    cluster_map: ClusterMap
    level_maps: tuple[LevelMap, ...]
    shift: ShiftMeter | None
    embedder: Embedder
    conversations: StickyModels
    policy: Policy
    store: Any

    _PARAMS: tuple[str, ...]
    # the Router's own methods, which this half calls
    policy_state: Callable[[], dict[str, Any]]
    pacer_state: Callable[[], list[list[Any]]]
    load_pacer_state: Callable[[Any], None]

    def params(self) -> dict[str, Any]:
        """The constructor's plain parameters (all but the policy, maps, embedder, store)."""
        return {p: getattr(self, p) for p in self._PARAMS}

    def state(self, *, with_store: bool = True) -> dict[str, Any]:
        """Everything needed to resume, as plain JSON-safe data: parameters, embedder id,
        policy, conversations, budget pacers, the shift meter (where the router has one) and
        (``with_store``, for a store that keeps its decisions in memory) the open decisions
        with their feedback."""
        state: dict[str, Any] = {
            "params": self.params(),
            "embedder": self.embedder.id,
            "policy": self.policy_state(),
            "sticky": self.conversations.to_state(),
            "pacers": self.pacer_state(),
        }
        if self.shift is not None:
            state["shift"] = self.shift.to_state()
        if with_store:
            to_state = getattr(self.store, "to_state", None)
            if to_state is None:
                raise TypeError(f"{type(self.store).__name__} keeps its decisions itself")
            state["store"] = to_state()
        return state

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state` saved (the parameters are the constructor's)."""
        self.policy = Policy.from_state(state["policy"])
        self.shift = _shift(state)
        self._restore_memory(state)

    def _restore_memory(self, state: dict[str, Any]) -> None:
        self.conversations.load_state(state.get("sticky", {}))
        self.load_pacer_state(state.get("pacers", []))
        if "store" in state:
            self.store.load_state(state["store"])

    @classmethod
    def from_state(cls, state: dict[str, Any], cluster_map: ClusterMap, **kwargs: Any) -> Self:
        """The router :meth:`state` described, around ``cluster_map`` (``kwargs``: embedder,
        level maps, secret, clock)."""
        build: Callable[..., Self] = cls
        kwargs["shift"] = _shift(state)
        router = build(Policy.from_state(state["policy"]), cluster_map, **kwargs, **state["params"])
        router._restore_memory(state)
        return router

    def save(self, path: str | Path) -> None:
        """Write the router into the directory ``path`` (created if missing)."""
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        state = self.state()
        self.cluster_map.save(out / CLUSTER_MAP)
        for old in out.glob(LEVEL_MAP.format("*")):
            old.unlink()
        for i, level_map in enumerate(self.level_maps):
            level_map.save(out / LEVEL_MAP.format(i))
        (out / STATE).write_text(json.dumps(state))
        (out / LEGACY_POLICY).unlink(missing_ok=True)

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        embedder: Embedder,
        secret: bytes | None = None,
        clock: Callable[[], float] = time.time,
    ) -> Self:
        """Read a router written by :meth:`save`; ``embedder`` must be the one it was built
        with."""
        src = Path(path)
        try:
            state: dict[str, Any] = json.loads((src / STATE).read_text())
            if "policy" not in state:  # the two-file layout
                state = migrate_state(state, json.loads((src / LEGACY_POLICY).read_text()))
            saved_with = state["embedder"]
        except (OSError, ValueError, KeyError) as exc:
            raise ValueError(f"{src}: not a saved Router ({exc})") from exc
        if saved_with != embedder.id:
            raise ValueError(f"{src}: saved with embedder {saved_with!r}, given {embedder.id!r}")
        cmap = ClusterMap.load(src / CLUSTER_MAP)
        level_maps: list[LevelMap] = []
        while (src / LEVEL_MAP.format(len(level_maps))).exists():
            level_maps.append(load_level_map(src / LEVEL_MAP.format(len(level_maps))))
        return cls.from_state(
            state,
            cmap,
            embedder=embedder,
            level_maps=level_maps,
            secret=secret,
            clock=clock,
        )


def _shift(state: dict[str, Any]) -> ShiftMeter | None:
    """The shift meter a saved state holds (None if it has none). The cells an older version
    fitted on the traffic and saved beside it are ignored."""
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
