"""Active labelling in a Router: it nominates a sample of its recent prompts to label, and
learns the outcomes someone labels (every model's, on one prompt).

The candidates are the last ``label_candidates`` prompts routed, kept in memory only (their
text and context; never in :meth:`Router.state`, never on disk). The Router's half that does
active labelling.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import numpy as np

from agent.contexts import level_cells
from agent.embedder import Embedder
from policies import Context, Policy


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


class Nominating:
    """``nominate`` and ``label``, under the router's lock."""

    policy: Policy
    candidates: Candidates
    embedder: Embedder
    _lock: threading.RLock
    # the Router's own methods, which this half calls
    turns: Callable[[str], tuple[list[str], np.ndarray]]
    context_from: Callable[..., Context]

    def nominate(self, n: int = 10) -> list[Nomination]:
        """``n`` recent prompts to label (needs ``label_candidates > 0``): a uniform random
        sample of the recent prompts, so labels follow the traffic. (Ranking them by what
        their labels would teach, the knowledge gradient, taught no more than a sample on the
        shared logs and was removed: BENCHMARKS.md, "Ablation".)"""
        if not self.candidates.capacity:
            raise ValueError("this router keeps no prompts to nominate: build it with "
                             "label_candidates=N")  # fmt: skip
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        candidates = self.candidates.snapshot()
        chosen = np.random.default_rng().permutation(len(candidates))[:n]
        return [Nomination(candidates[i][0], candidates[i][2]) for i in chosen]

    def label(
        self,
        prompt: int | str,
        outcomes: Mapping[str, float],
        *,
        tags: Mapping[str, str] | None = None,
    ) -> int:
        """Learn every given model's outcome (0/1, or a score in [0, 1]) on one prompt: a
        nominated prompt's key (as it was routed; it leaves the candidates) or any prompt's
        text (``tags`` as for routing). Returns the models learnt."""
        self.check_outcomes(outcomes)
        return self.learn_outcomes(self.label_context(prompt, tags=tags), outcomes)

    def label_context(self, prompt: int | str, *, tags: Mapping[str, str] | None = None) -> Context:
        """The context a label on ``prompt`` (a nominated key, or a text) teaches: a key's as
        it was routed, a text's from its embedding."""
        if isinstance(prompt, str):
            if not prompt.strip():
                raise ValueError("a prompt to label must not be empty")
            texts, weights = self.turns(prompt)
            vectors = self.embedder.encode(texts)
            return self.context_from(vectors, weights, texts, tags, observe=False)
        if tags:
            raise ValueError("tags go with a prompt's text; a nominated prompt keeps its own")
        return self.candidates.take(prompt)

    def check_outcomes(self, outcomes: Mapping[str, float]) -> None:
        """Raise ``ValueError`` unless ``outcomes`` maps pool models to numbers in [0, 1]."""
        with self._lock:
            names = set(self.policy.models)
        unknown = sorted(set(outcomes) - names)
        if unknown or not outcomes:
            raise ValueError(f"outcomes must name pool models; unknown: {unknown}")
        for model, value in outcomes.items():
            v = value if isinstance(value, int | float) and not isinstance(value, bool) else None
            if v is None or not (math.isfinite(v) and 0.0 <= v <= 1.0):
                raise ValueError(f"{model}: an outcome must be a number in [0, 1], got {value!r}")

    def learn_outcomes(self, ctx: Context, outcomes: Mapping[str, float]) -> int:
        """Fold checked ``outcomes`` on ``ctx`` into the policy; returns the models learnt.
        The context's level cells are read as the policy's levels allow (a stored row's from
        a pool built with other levels count as unknown: :func:`agent.contexts.level_cells`)."""
        with self._lock:
            ctx = replace(ctx, cells=level_cells(self.policy, ctx.cells))
            return self.policy.learn_outcomes(ctx, outcomes)
