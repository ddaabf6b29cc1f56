"""Loading the monitoring columns from the database: a few SQL queries straight into numpy.

Model names become pool indices inside SQL (a ``CASE``), so a million decisions arrive as one
numeric result set; no ORM objects are built per row.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import insert, text
from sqlmodel import Session

from feedback.monitoring.tables import DecisionStat

KINDS = ("label", "score", "thumbs")
_D, _F, _S = "ra_decision", "ra_feedback", "ra_decision_stat"


@dataclass(frozen=True)
class Columns:
    """Monitored decisions in time order, and the feedback joined to them in id order.

    ``arm`` is the pool index of the chosen model (-1 for a model no longer in the pool);
    ``propensity`` and ``regret`` are NaN where unknown (NULL in the table); ``fb_row``
    indexes the decision arrays; ``stat_id`` is each decision's monitoring row id.
    """

    created_at: np.ndarray
    arm: np.ndarray
    cluster: np.ndarray
    lam: np.ndarray
    cost: np.ndarray
    propensity: np.ndarray
    regret: np.ndarray
    fb_row: np.ndarray
    fb_kind: np.ndarray
    fb_value: np.ndarray
    fb_time: np.ndarray
    stat_id: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def n(self) -> int:
        return int(self.arm.size)


def _case(column: str, values: Sequence[str], prefix: str) -> tuple[str, dict[str, Any]]:
    if not values:
        return "-1", {}
    whens = " ".join(f"WHEN :{prefix}{i} THEN {i}" for i in range(len(values)))
    return f"CASE {column} {whens} ELSE -1 END", {f"{prefix}{i}": v for i, v in enumerate(values)}


def _fetch(session: Session, sql: str, params: dict[str, Any], width: int) -> np.ndarray:
    """All rows of a numeric query as a float array (NULL → NaN), read from the DBAPI cursor
    directly: SQLAlchemy's Row objects would cost more than the query itself."""
    result: Any = session.execute(text(sql), params)
    rows = result.cursor.fetchall()
    if not rows:
        return np.zeros((0, width))
    return np.array(rows, dtype=np.float64)


def load_columns(session: Session, names: Sequence[str]) -> Columns:
    """Every :class:`DecisionStat` row and the feedback on those decisions."""
    model_case, params = _case("model", names, "m")
    d = _fetch(
        session,
        f"SELECT id, created_at, {model_case}, cluster, lam, cost, propensity, regret "
        f"FROM {_S} ORDER BY id",
        params,
        8,
    )
    order = np.argsort(d[:, 1], kind="stable")
    d = d[order]
    position = np.empty(order.size, dtype=np.int64)
    position[order] = np.arange(order.size)
    ids_by_id = np.sort(d[:, 0])

    kind_case, kparams = _case("f.kind", KINDS, "k")
    f = _fetch(
        session,
        f"SELECT s.id, {kind_case}, f.value, f.created_at FROM {_F} f "
        f"JOIN {_S} s ON s.decision_id = f.decision_id ORDER BY f.id",
        kparams,
        4,
    )
    fb_row = position[np.searchsorted(ids_by_id, f[:, 0])] if f.size else np.zeros(0, int)
    return Columns(
        created_at=d[:, 1],
        arm=d[:, 2].astype(np.int64),
        cluster=d[:, 3].astype(np.int64),
        lam=d[:, 4],
        cost=d[:, 5],
        propensity=d[:, 6],
        regret=d[:, 7],
        fb_row=fb_row.astype(np.int64),
        fb_kind=f[:, 1].astype(np.int64),
        fb_value=f[:, 2],
        fb_time=f[:, 3],
        stat_id=d[:, 0].astype(np.int64),
    )


def load_tags(session: Session, cols: Columns) -> list[tuple[int, list[str]]]:
    """(decision position in ``cols``, its ``key=value`` tags) for every monitored decision
    that carries tags, in time order."""
    rows = session.execute(
        text(  # a context without tags holds '"tags": []' (json.dumps' spacing); read the rest
            f"SELECT s.id, d.context FROM {_S} s JOIN {_D} d ON d.id = s.decision_id "
            "WHERE d.context NOT LIKE :untagged ORDER BY s.id"
        ),
        {"untagged": '%"tags": []%'},
    ).all()
    if not rows or cols.n == 0:
        return []
    order = np.argsort(cols.stat_id, kind="stable")
    ids = cols.stat_id[order]
    sids = np.array([sid for sid, _ in rows], dtype=np.int64)
    at = np.minimum(np.searchsorted(ids, sids), ids.size - 1)
    known = ids[at] == sids
    out = []
    for (_, raw), i, ok in zip(rows, at.tolist(), known.tolist(), strict=True):
        tags = json.loads(raw).get("tags") if ok else None
        if isinstance(tags, list) and tags:
            out.append((int(order[i]), [str(t) for t in tags]))
    out.sort()
    return out


def decision_counts(session: Session) -> dict[str, int]:
    """Decisions per chosen model over the whole decisions table (monitored or not)."""
    rows = session.execute(text(f"SELECT model, COUNT(*) FROM {_D} GROUP BY model")).all()
    return {str(m): int(n) for m, n in rows}


def feedback_summary(session: Session) -> tuple[dict[str, tuple[int, float]], int]:
    """(count, mean value) per feedback kind, and how many decisions got any feedback."""
    rows = session.execute(text(f"SELECT kind, COUNT(*), AVG(value) FROM {_F} GROUP BY kind")).all()
    covered = session.execute(text(f"SELECT COUNT(DISTINCT decision_id) FROM {_F}")).scalar()
    return {str(k): (int(n), float(v)) for k, n, v in rows}, int(covered or 0)


def backfill(session: Session, costs: dict[str, float]) -> int:
    """Give decisions recorded without monitoring a :class:`DecisionStat` row (cluster from
    their context's weights, today's price, no propensity, no decision-time regret). Returns
    how many."""
    n_dec = session.execute(text(f"SELECT COUNT(*) FROM {_D}")).scalar() or 0
    n_stat = session.execute(text(f"SELECT COUNT(*) FROM {_S}")).scalar() or 0
    if n_dec <= n_stat:
        return 0
    missing = session.execute(
        text(
            f"SELECT d.id, d.model, d.context, d.lam, d.created_at FROM {_D} d "
            f"LEFT JOIN {_S} s ON s.decision_id = d.id WHERE s.id IS NULL"
        )
    ).all()
    rows = [
        {
            "decision_id": did,
            "created_at": float(created),
            "model": model,
            "cluster": int(np.argmax(json.loads(context)["weights"])),
            "lam": float(lam),
            "cost": float(costs.get(model, 0.0)),
            "propensity": None,
            "regret": None,
        }
        for did, model, context, lam, created in missing
    ]
    if rows:
        session.execute(insert(DecisionStat), rows)
        session.commit()
    return len(rows)
