"""The two values that cross the policy boundary: what a policy sees, and what it decides."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: The fields of a context's stored form (:meth:`Context.to_row`), in order.
ROW_FIELDS = ("weights", "prompt_key", "tags", "cells")


@dataclass(frozen=True, slots=True)
class Context:
    """Where a prompt sits: its cluster weights, the key of its text, its tags and its cells.

    ``weights`` has one entry per cluster and sums to 1 (one-hot for a hard assignment).
    ``prompt_key`` is a non-negative key of the exact prompt (a hash of its text, or a row index
    in a replay), -1 when unknown; policies with prompt memory learn per prompt on top of that.
    ``tags`` are the app's ``key=value`` tags, for reports. ``cells`` names the prompt's cell
    in each extra partition of the pool (the profiles' levels), empty when it has none.
    ``shift`` measures how unlike the prompts the profiles were measured on the recent traffic
    is (about 1 for traffic like them, far above under a shift; 0: not measured). It is the
    request's reading, not the prompt's place: routing reads it, learning does not, and the
    stored form (:meth:`to_row`) leaves it out.

    >>> ctx = Context.hard(2, k=4)
    >>> ctx.cluster, ctx.weights.tolist()
    (2, [0.0, 0.0, 1.0, 0.0])
    >>> Context(np.array([0.5, 0.5])).cluster
    -1
    """

    weights: np.ndarray
    prompt_key: int = -1
    tags: tuple[str, ...] = ()
    cells: tuple[int, ...] = ()
    shift: float = 0.0
    cluster: int = field(init=False)

    def __post_init__(self) -> None:
        w = np.asarray(self.weights, dtype=np.float64)
        if w.ndim != 1 or w.size == 0:
            raise ValueError(f"cluster weights must be a non-empty vector, got shape {w.shape}")
        if not np.all(np.isfinite(w)) or np.any(w < 0) or abs(w.sum() - 1.0) > 1e-6:
            raise ValueError("cluster weights must be finite, non-negative and sum to 1")
        object.__setattr__(self, "weights", w)
        if not (np.isfinite(self.shift) and self.shift >= 0):
            raise ValueError(f"shift must be a finite number >= 0, got {self.shift}")
        top = int(np.argmax(w))
        object.__setattr__(self, "cluster", top if w[top] == 1.0 else -1)

    @classmethod
    def hard(
        cls,
        cluster: int,
        *,
        k: int,
        prompt_key: int = -1,
        tags: tuple[str, ...] = (),
        cells: tuple[int, ...] = (),
        shift: float = 0.0,
    ) -> Context:
        """A context that sits wholly in one cluster."""
        if not 0 <= cluster < k:
            raise ValueError(f"cluster {cluster} is outside 0..{k - 1}")
        w = np.zeros(k)
        w[cluster] = 1.0
        return cls(w, prompt_key, tags, cells, shift)

    def to_row(self) -> dict[str, Any]:
        """The context as one JSON-able record: what a decision and a label store of where
        their prompt sat (the service keeps it as JSON in one column). ``shift`` is left out:
        it is the request's, and :meth:`from_row` gives 0.

        >>> row = Context(np.array([0.25, 0.75]), 7, ("task=code",), (3, 1)).to_row()
        >>> row
        {'weights': [0.25, 0.75], 'prompt_key': 7, 'tags': ['task=code'], 'cells': [3, 1]}
        >>> back = Context.from_row(row)
        >>> back.to_row() == row, back.shift
        (True, 0.0)
        """
        return {
            "weights": [float(w) for w in self.weights],
            "prompt_key": int(self.prompt_key),
            "tags": [str(t) for t in self.tags],
            "cells": [int(c) for c in self.cells],
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Context:
        """The context :meth:`to_row` gave (``weights`` is required; a missing ``prompt_key``
        is -1, missing ``tags`` and ``cells`` empty). Anything else is refused with a
        ``ValueError`` naming the field, so that a stored row is never half read.

        >>> Context.from_row({"weights": [1.0, 0.0]}).to_row()
        {'weights': [1.0, 0.0], 'prompt_key': -1, 'tags': [], 'cells': []}
        >>> Context.from_row({"weights": [1.0], "cells": [0, "2"]})
        Traceback (most recent call last):
        ...
        ValueError: context field 'cells' must be a list of integers, got [0, '2']
        >>> Context.from_row({"weights": [0.5], "leaf": -1})
        Traceback (most recent call last):
        ...
        ValueError: context has unknown field(s) 'leaf' (it holds weights, prompt_key, tags, cells)
        """
        if not isinstance(row, Mapping):
            raise ValueError(f"a context must be an object, got {type(row).__name__}")
        unknown = sorted(set(row) - set(ROW_FIELDS))
        if unknown:
            raise ValueError(
                f"context has unknown field(s) {', '.join(map(repr, unknown))} "
                f"(it holds {', '.join(ROW_FIELDS)})"
            )
        if "weights" not in row:
            raise ValueError("context field 'weights' is missing")
        raw = row["weights"]
        if not isinstance(raw, list | tuple | np.ndarray) or not all(_is_number(w) for w in raw):
            raise ValueError(f"context field 'weights' must be a list of numbers, got {raw!r}")
        key = row.get("prompt_key", -1)
        if not _is_int(key) or key < -1:
            raise ValueError(f"context field 'prompt_key' must be an integer >= -1, got {key!r}")
        tags = row.get("tags", [])
        if not isinstance(tags, list | tuple) or not all(isinstance(t, str) for t in tags):
            raise ValueError(f"context field 'tags' must be a list of strings, got {tags!r}")
        cells = row.get("cells", [])
        if not isinstance(cells, list | tuple) or not all(_is_int(c) for c in cells):
            raise ValueError(f"context field 'cells' must be a list of integers, got {cells!r}")
        try:
            weights = np.asarray([float(w) for w in raw], dtype=np.float64)
            return cls(weights, int(key), tuple(tags), tuple(int(c) for c in cells))
        except ValueError as exc:
            raise ValueError(f"context field 'weights': {exc}") from exc


def _is_int(x: Any) -> bool:
    return isinstance(x, int | np.integer) and not isinstance(x, bool)


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float | np.integer | np.floating) and not isinstance(x, bool)


@dataclass(frozen=True, slots=True)
class Choice:
    """One routing choice: the chosen model, every model's score, and how it was chosen.

    ``scores`` holds each model's score (estimated correctness minus λ × normalised cost);
    ineligible models score ``-inf``. ``propensity`` is the probability the rule had of picking
    ``model`` where that is known in closed form (random, ε-greedy, static rules), else ``None``.
    """

    model: str
    index: int
    scores: np.ndarray
    propensity: float | None
    context: Context
    lam: float
