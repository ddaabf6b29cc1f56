"""Active labelling in the service: labelled outcomes stored, learnt, and replayed on rebuild.

``GET /admin/nominations`` lists recent prompts of this replica's to label (a random sample
of them, or with ``pick=value`` those whose every model's outcome would teach the router
most); ``POST /admin/labels`` takes those outcomes for one prompt (a
nominated key, or any prompt's text). A label is stored in ``ra_label`` and bumps the pool
revision, so every replica learns it: in place where it is the next revision, else by a
rebuild, which replays every label after the reset floor unless a snapshot at the current
revision (which holds them all) is restored.
"""

from __future__ import annotations

import json

import numpy as np
from sqlmodel import Session, col, select

from agent.contexts import level_cells
from agent.router import Router
from agent.traffic_cells import foreign_leaf
from feedback import crud
from feedback.errors import Conflict
from feedback.models import LabelRow
from feedback.schemas import NominationInfo
from policies import Context

#: Labels with an id at or below this (meta key) were made before the last reset.
LABEL_FLOOR = "label_floor"


def nominations(router: Router, n: int, pick: str = "sample") -> list[NominationInfo]:
    try:
        noms = router.nominate(n, pick=pick)
    except ValueError as exc:  # the service keeps no candidates
        raise Conflict(str(exc)) from exc
    return [NominationInfo(prompt_key=x.prompt_key, text=x.text, value=x.value) for x in noms]


def replay(router: Router, *, session: Session) -> int:
    """Learn every label after the reset floor, in id order; returns how many."""
    floor = int(crud.get_meta(session=session, key=LABEL_FLOOR) or 0)
    rows = session.exec(select(LabelRow).where(col(LabelRow.id) > floor).order_by(col(LabelRow.id)))
    n = 0
    for row in rows:
        leaf, stale = foreign_leaf(router.traffic_cells, row.leaf)
        cells = level_cells(router.policy, json.loads(row.cells or "[]"))
        ctx = Context(np.asarray(json.loads(row.weights)), leaf, row.prompt_key,
                      tuple(json.loads(row.tags)), cells)  # fmt: skip
        router.learn_outcomes(ctx, json.loads(row.outcomes), stale=stale)
        n += 1
    return n


def reset_floor(*, session: Session) -> None:
    """Labels made so far stop counting (with the feedback, at a reset); not committed."""
    last = session.exec(select(LabelRow.id).order_by(col(LabelRow.id).desc())).first()
    crud.put_meta(session=session, key=LABEL_FLOOR, value=str(last or 0))
