"""How a replica's router catches up with the database: the stored snapshot it starts from,
the pool brought up to date, and what one committed feedback row teaches it.

A rebuild starts from the newest usable snapshot: one taken on the same reset floors (feedback
and labels) as today's, at any revision up to today's. Its pool is then brought to today's
(:func:`reconcile`: models added or removed since, a model re-added with another profile,
prices), the labels it does not hold are learnt, and the feedback after its ``hwm`` (and in its
``gaps``) replayed: each row as a :class:`~agent.decision.Lesson` (:func:`lesson`) through
:meth:`Router.learn`, the door live feedback goes through too. A snapshot written before
snapshots kept their basis is usable at its own revision only. Because every rebuild starts
from such a snapshot, feedback rows it has folded in may be pruned (:mod:`feedback.retention`)
without losing what they taught.
"""

from __future__ import annotations

import json
from typing import Any

from agent.decision import Lesson
from agent.router import Router
from feedback import crud
from feedback.tracker import AppliedIds
from policies import ModelProfile


def snapshot_router_state(snapshot: dict[str, Any]) -> dict[str, Any]:
    """The router state in a stored snapshot; a snapshot from before the router had one
    state (``policy`` and ``pacers`` beside ``applied``) is read as one without conversations
    (the database remembers those)."""
    if "router" in snapshot:
        state: dict[str, Any] = snapshot["router"]
        return state
    return {"policy": snapshot["policy"], "pacers": snapshot.get("pacers", [])}


def basis(floor: int, label_floor: int, labels: AppliedIds) -> str:
    """A snapshot's ``basis``: the reset floors its state was built on, and its labels."""
    return json.dumps({"floor": floor, "label_floor": label_floor, "labels": labels.to_state()})


def usable(head: crud.SnapshotHead, *, revision: int, floor: int, label_floor: int) -> bool:
    """Whether a rebuild at ``revision`` on these reset floors may start from the snapshot.

    >>> heads = [(1, 4, 10, "[]", ""), (2, 3, 10, "[]", basis(5, 0, AppliedIds()))]
    >>> [usable(h, revision=4, floor=5, label_floor=0) for h in heads]
    [True, True]
    >>> [usable(h, revision=5, floor=8, label_floor=0) for h in heads]
    [False, False]
    """
    _, rev, hwm, _, raw = head
    if hwm < floor:
        return False
    if not raw:
        return rev == revision
    b = json.loads(raw)
    return rev <= revision and b["floor"] == floor and b["label_floor"] == label_floor


def folded_through(head: crud.SnapshotHead) -> int:
    """The largest feedback id below which the snapshot holds every committed row.

    >>> folded_through((1, 1, 50, "[12, 40]", "")), folded_through((1, 1, 50, "[]", ""))
    (11, 50)
    """
    gaps = json.loads(head[3])
    return min(gaps) - 1 if gaps else head[2]


def reconcile(
    router: Router, profiles: list[ModelProfile], digests: dict[str, str], saved: dict[str, str]
) -> bool:
    """Bring a router restored from a snapshot whose pool had profile digests ``saved`` to
    today's pool (``profiles`` and their ``digests``): add the models it lacks, remove those
    gone, re-add (with a fresh prior, as an in-place re-add does) a model whose profile changed,
    and take today's prices. False if it cannot: the one model of its pool changed."""
    want = {p.name: p for p in profiles}
    have = set(router.models)
    for p in profiles:
        if p.name not in have:
            router.add_model(p)
    for name in list(router.models):
        if name not in want:
            router.remove_model(name)
        elif name in have and saved.get(name) != digests[name]:
            if len(router.models) == 1:
                return False
            router.remove_model(name)
            router.add_model(want[name])
    for p in profiles:
        router.set_price(p.name, p.cost)
    return True


def lesson(row: crud.FeedbackItem) -> Lesson:
    """What one committed feedback row teaches (in its decision's context), for
    :meth:`Router.learn`."""
    return Lesson(
        row.context, row.model, row.value, kind=row.kind, weight=row.weight, shared=row.shared
    )
