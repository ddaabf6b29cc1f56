"""What the router hands back for one request, the record it keeps until feedback arrives,
and the one record it learns from (:class:`Lesson`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from policies.context import Context
from policies.updates import outcome_kind


@dataclass(frozen=True)
class Decision:
    """One routing decision as a chat application sees it.

    ``scores`` maps every pool model to its score (``None`` for a model the request excluded);
    ``weights`` are the prompt's cluster weights; ``token`` is an HMAC signature of ``id`` when
    the router has a secret, so a feedback endpoint can check the caller saw this decision.

    >>> d = Decision("ab12", "cheap", {"cheap": 0.7, "strong": None}, np.array([1.0, 0.0]))
    >>> d.to_dict()["scores"], d.to_dict()["weights"]
    ({'cheap': 0.7, 'strong': None}, [1.0, 0.0])
    """

    id: str
    model: str
    scores: dict[str, float | None]
    weights: np.ndarray
    propensity: float | None = None
    lam: float = 0.0
    created_at: float = 0.0
    conversation_id: str | None = None
    sticky: bool = False
    token: str | None = None
    #: The routed text's key (:func:`agent.conversation.prompt_key`; -1: none): what a
    #: nomination and a label name it by.
    prompt_key: int = -1
    #: The app's tags as sorted ``key=value`` strings (:func:`agent.tags.normalise_tags`).
    tags: tuple[str, ...] = ()
    #: The prompt's cell in each extra partition of the pool (its levels:
    #: :mod:`agent.level_maps`).
    cells: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe view."""
        return {
            "id": self.id,
            "model": self.model,
            "scores": dict(self.scores),
            "weights": [float(w) for w in self.weights],
            "propensity": self.propensity,
            "lam": self.lam,
            "created_at": self.created_at,
            "conversation_id": self.conversation_id,
            "sticky": self.sticky,
            "token": self.token,
            "prompt_key": self.prompt_key,
            "tags": list(self.tags),
            "cells": list(self.cells),
        }


def score_map(names: list[str], scores: np.ndarray) -> dict[str, float | None]:
    """Model name to score, with ``None`` for ineligible (``-inf``) models.

    >>> score_map(["a", "b"], np.array([0.5, -np.inf]))
    {'a': 0.5, 'b': None}
    """
    return {n: (float(s) if math.isfinite(s) else None) for n, s in zip(names, scores, strict=True)}


@dataclass
class OpenDecision:
    """What a decision store remembers of a decision: enough to apply feedback to the right
    place, its ``context`` (where the prompt sat; its ``shift`` is not kept). ``teach`` scales
    its feedback's weight: below 1 when ``allowed`` narrowed the choice to models the
    unrestricted policy would seldom have chosen (:func:`agent.propensity.teach_factor`).

    >>> d = OpenDecision("d", "m", Context(np.array([0.5, 0.5]), prompt_key=3), 0.0)
    >>> OpenDecision.from_dict(d.to_dict()).context.to_row() == d.context.to_row()
    True
    """

    id: str
    model: str
    context: Context
    created_at: float
    conversation_id: str | None = None
    lam: float = 0.0
    teach: float = 1.0

    @property
    def cluster(self) -> int:
        """The prompt's top cluster: the cell whose weight an identity's budget is charged to.

        >>> OpenDecision("d", "m", Context(np.array([0.2, 0.7, 0.1])), 0.0).cluster
        1
        """
        return int(np.argmax(self.context.weights))

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "model": self.model,
            "context": self.context.to_row(),
            "created_at": self.created_at,
            "conversation_id": self.conversation_id,
            "lam": self.lam,
            "teach": self.teach,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> OpenDecision:
        """:meth:`to_dict`'s output, or a dict an older version saved, whose context's fields
        sat beside the others (``prompt_key`` once named ``item``; its ``leaf`` is dropped).

        >>> old = {"id": "d", "model": "m", "weights": [1.0], "created_at": 0, "item": 5,
        ...        "leaf": -1, "tags": ["a=b"], "cells": [2]}
        >>> OpenDecision.from_dict(old).context.to_row()
        {'weights': [1.0], 'prompt_key': 5, 'tags': ['a=b'], 'cells': [2]}
        """
        if "context" in d:
            context = Context.from_row(d["context"])
        else:
            context = Context.from_row(
                {
                    "weights": d["weights"],
                    "prompt_key": d.get("prompt_key", d.get("item", -1)),
                    "tags": d.get("tags", []),
                    "cells": d.get("cells", []),
                }
            )
        return cls(
            d["id"],
            d["model"],
            context,
            float(d["created_at"]),
            d.get("conversation_id"),
            lam=float(d.get("lam", 0.0)),
            teach=float(d.get("teach", 1.0)),
        )


@dataclass(frozen=True)
class Lesson:
    """One outcome to learn (:meth:`agent.router.Router.learn`): ``model``'s ``value`` of
    ``kind`` (label, score or thumbs) on a prompt in ``context`` (where the decision or the
    label sat), with the ``weight`` its source's caps left it and ``shared``, its weight on the
    parts of the policy shared between models (None: ``weight``; :mod:`agent.source_cap`).

    Live feedback, the service's replay of committed rows and a labeller's outcomes (one
    lesson per model: :func:`label_lessons`) are all lessons.

    >>> lesson = Lesson(Context(np.array([0.0, 1.0])), "cheap", 1.0, kind="thumbs", weight=0.5)
    >>> lesson.model, lesson.kind, lesson.weight, lesson.shared, lesson.context.cluster
    ('cheap', 'thumbs', 0.5, None, 1)
    """

    context: Context
    model: str
    value: float
    kind: str = "label"
    weight: float = 1.0
    shared: float | None = None

    @classmethod
    def of(
        cls,
        record: OpenDecision,
        value: float,
        *,
        kind: str,
        weight: float = 1.0,
        shared: float | None = None,
    ) -> Lesson:
        """A piece of feedback on the open decision ``record``, at its decided model."""
        return cls(record.context, record.model, value, kind=kind, weight=weight, shared=shared)


def label_lessons(context: Context, outcomes: Mapping[str, float]) -> list[Lesson]:
    """A labeller's outcomes on one prompt in ``context``, one lesson per model: a 0/1 value
    as a label, anything else in [0, 1] as a score, each of weight 1.

    >>> at = Context(np.ones(1))
    >>> [(x.model, x.kind, x.value) for x in label_lessons(at, {"a": 1, "b": 0.25})]
    [('a', 'label', 1.0), ('b', 'score', 0.25)]
    """
    return [
        Lesson(context, model, float(value), kind=outcome_kind(value))
        for model, value in outcomes.items()
    ]


@dataclass(frozen=True)
class FeedbackReceipt:
    """What happened to one piece of feedback: the cell it moved and with what weight.

    ``duplicate`` is true when the same (decision, kind, source) was already counted; then
    nothing was applied, and ``feedback_id``, ``value`` and ``weight`` are the stored row's.
    ``applied`` is false when the decided model has left the pool since.
    """

    decision_id: str
    model: str
    kind: str
    value: float
    weight: float
    duplicate: bool = False
    applied: bool = True
    feedback_id: int = 0


def feedback_value(
    *,
    label: float | bool | None = None,
    score: float | None = None,
    thumbs: str | bool | int | None = None,
) -> tuple[str, float]:
    """``(kind, value)`` from exactly one of ``label``, ``score`` or ``thumbs``.

    >>> feedback_value(thumbs="up"), feedback_value(label=0), feedback_value(score=0.25)
    (('thumbs', 1.0), ('label', 0.0), ('score', 0.25))
    >>> feedback_value(label=1, score=0.5)
    Traceback (most recent call last):
    ...
    ValueError: give exactly one of label, score or thumbs (got label, score)
    """
    given = [
        k for k, v in (("label", label), ("score", score), ("thumbs", thumbs)) if v is not None
    ]
    if len(given) != 1:
        raise ValueError(
            f"give exactly one of label, score or thumbs (got {', '.join(given) or 'none'})"
        )
    if thumbs is not None:
        if isinstance(thumbs, str):
            if thumbs.lower() not in ("up", "down"):
                raise ValueError(f"thumbs must be 'up' or 'down', got {thumbs!r}")
            return "thumbs", 1.0 if thumbs.lower() == "up" else 0.0
        if thumbs not in (0, 1):
            raise ValueError(f"thumbs must be 'up', 'down' or a bool, got {thumbs!r}")
        return "thumbs", float(thumbs)
    if label is not None:
        return "label", float(label)
    assert score is not None
    return "score", float(score)
