"""Active labelling in the service: labelled outcomes stored, learnt, and replayed on rebuild.

``GET /admin/nominations`` lists recent prompts of this replica's to label (a uniform random
sample of them, so labels follow the traffic); ``POST /admin/labels`` takes those outcomes for
one prompt (a nominated key, or any prompt's text). A label is stored in ``ra_label`` and
bumps the pool revision, so every replica learns it: in place where it is the next revision,
else by a rebuild, which learns every label after the reset floor that the snapshot it starts from
(:mod:`feedback.replay`) does not hold.
"""

from __future__ import annotations

import json

from sqlmodel import Session, col, func, select

from agent.decision import Lesson, label_lessons
from agent.router import Router
from feedback import crud
from feedback.errors import Conflict
from feedback.models import LabelRow
from feedback.schemas import NominationInfo
from feedback.tracker import AppliedIds
from policies import Context

#: Labels with an id at or below this (meta key) were made before the last reset.
LABEL_FLOOR = "label_floor"


def nominations(router: Router, n: int) -> list[NominationInfo]:
    try:
        noms = router.nominate(n)
    except ValueError as exc:  # the service keeps no candidates
        raise Conflict(str(exc)) from exc
    return [NominationInfo(prompt_key=x.prompt_key, text=x.text) for x in noms]


def label_floor(*, session: Session) -> int:
    """Labels with an id at or below this were made before the last reset."""
    return int(crud.get_meta(session=session, key=LABEL_FLOOR) or 0)


def last_label(*, session: Session) -> int:
    return int(session.exec(select(func.max(col(LabelRow.id)))).one() or 0)


def replay(router: Router, *, session: Session, learnt: AppliedIds) -> int:
    """Learn every label after the reset floor that ``learnt`` does not hold (it then does),
    in id order; returns how many."""
    floor = label_floor(session=session)
    after = max(floor, learnt.hwm)
    missed = [g for g in learnt.gaps if g > floor]
    rows = session.exec(
        select(LabelRow)
        .where((col(LabelRow.id) > after) | col(LabelRow.id).in_(missed))
        .order_by(col(LabelRow.id))
    )
    n = 0
    for row in rows:
        assert row.id is not None
        if not learnt.claim(row.id, now=0.0):
            continue
        for lesson in lessons(row):
            router.learn(lesson)
        n += 1
    return n


def lessons(row: LabelRow) -> list[Lesson]:
    """What a stored label teaches: one lesson per model, in its prompt's stored context
    (:func:`agent.decision.label_lessons`; the router reads it as its levels allow,
    :func:`agent.contexts.level_cells`)."""
    return label_lessons(Context.from_row(json.loads(row.context)), json.loads(row.outcomes))


def reset_floor(*, session: Session) -> None:
    """Labels made so far stop counting (with the feedback, at a reset); not committed."""
    crud.put_meta(session=session, key=LABEL_FLOOR, value=str(last_label(session=session)))
