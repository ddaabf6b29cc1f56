"""What active labelling in a :class:`~agent.router.Router` keeps: the prompts it may
nominate to label (:class:`Candidates`), a nomination, and the check of a labeller's outcomes.

The candidates are the last ``label_candidates`` prompts routed, kept in memory only (their
text and context; never in :meth:`Router.state`, never on disk). The Router nominates a sample
of them (:meth:`Router.nominate`) and turns outcomes someone labels (every model's, on one
prompt) into lessons (:meth:`Router.lessons`).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from policies import Context


@dataclass(frozen=True)
class Nomination:
    """A prompt to label: its key and its text (the latest user turn, cut at
    :data:`TEXT_CHARS` characters)."""

    prompt_key: int
    text: str


#: Characters of a candidate's text kept to show a labeller (the context holds the rest).
TEXT_CHARS = 2000


class Candidates:
    """The last ``capacity`` routed prompts by key (0: none kept), oldest forgotten first;
    each keeps its context and the first :data:`TEXT_CHARS` characters of its text."""

    def __init__(self, capacity: int) -> None:
        if capacity < 0:
            raise ValueError(f"label_candidates must be >= 0, got {capacity}")
        self.capacity = int(capacity)
        self._items: OrderedDict[int, tuple[Context, str]] = OrderedDict()
        self._lock = threading.Lock()

    def offer(self, ctx: Context, text: str) -> None:
        if not self.capacity or ctx.prompt_key < 0:
            return
        with self._lock:
            self._items[ctx.prompt_key] = (ctx, text[:TEXT_CHARS])
            self._items.move_to_end(ctx.prompt_key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def snapshot(self) -> list[tuple[int, Context, str]]:
        with self._lock:
            return [(key, ctx, text) for key, (ctx, text) in self._items.items()]

    def take(self, prompt_key: int) -> Context:
        with self._lock:
            item = self._items.pop(prompt_key, None)
        if item is None:
            raise KeyError(f"prompt {prompt_key} is not among the recent prompts to label")
        return item[0]


def check_outcomes(outcomes: Mapping[str, float], models: Sequence[str]) -> None:
    """Raise ``ValueError`` unless ``outcomes`` maps pool ``models`` to numbers in [0, 1].

    >>> check_outcomes({"a": 1, "b": 0.5}, ["a", "b"])
    >>> check_outcomes({"a": True}, ["a"])
    Traceback (most recent call last):
    ...
    ValueError: a: an outcome must be a number in [0, 1], got True
    """
    unknown = sorted(set(outcomes) - set(models))
    if unknown or not outcomes:
        raise ValueError(f"outcomes must name pool models; unknown: {unknown}")
    for model, value in outcomes.items():
        v = value if isinstance(value, int | float) and not isinstance(value, bool) else None
        if v is None or not (math.isfinite(v) and 0.0 <= v <= 1.0):
            raise ValueError(f"{model}: an outcome must be a number in [0, 1], got {value!r}")
