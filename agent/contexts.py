"""What a :class:`~agent.router.Router` routes on: a prompt or conversation → its Context
(cluster weights, prompt key, tags, level cells and the traffic's shift). The
``Router``'s half that reads prompts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from agent.clusters import ClusterMap, LevelMap, MapStack
from agent.conversation import Messages, conversation_turns, pool_embedding, prompt_key
from agent.embedder import Embedder
from agent.shift import ShiftMeter
from agent.tags import normalise_tags
from policies import Context, OnlineUniRoute, Policy


def level_sizes(policy: Policy) -> tuple[int, ...]:
    """The cells of each extra partition the policy's contexts name (none for the baselines)."""
    return policy.blend.sizes[2:] if isinstance(policy, OnlineUniRoute) else ()


def level_cells(policy: Policy, cells: Sequence[int]) -> tuple[int, ...]:
    """A stored row's level cells as the policy reads them: as stored when they fit its
    levels, else -1 (unknown) in each (a row decided by a pool built with other levels).

    >>> from policies import ModelProfile, make_policy
    >>> level = (np.array([1.0, 2.0]), np.array([2.0, 4.0]))  # a level of 2 cells
    >>> m = ModelProfile("m", np.array([5.0]), np.array([10.0]), 1.0, (level,))
    >>> policy = make_policy("default").warm_start([m])
    >>> level_cells(policy, [1]), level_cells(policy, [2]), level_cells(policy, [0, 1])
    ((1,), (-1,), (-1,))
    >>> level_cells(make_policy("greedy").warm_start([m]), [3, 1])  # a baseline has no levels
    ()
    """
    sizes = level_sizes(policy)
    got = tuple(int(c) for c in cells)
    if len(got) == len(sizes) and all(-1 <= c < k for c, k in zip(got, sizes, strict=True)):
        return got
    return (-1,) * len(sizes)


def eligible_mask(names: Sequence[str], allowed: Sequence[str] | None) -> np.ndarray | None:
    """Which of ``names`` a request allows (None: all); raises for names not in the pool.

    >>> eligible_mask(["a", "b"], ["b"]), eligible_mask(["a"], None)
    (array([False,  True]), None)
    """
    if allowed is None:
        return None
    unknown = sorted(set(allowed) - set(names))
    if unknown or not allowed:
        raise ValueError(f"allowed must name pool models; unknown: {unknown}")
    return np.isin(np.array(names, dtype=object), list(allowed))


class ContextOps:
    """Embedding, pooling of recent turns, clusters, prompt key, tags, level cells and
    shift."""

    policy: Policy
    embedder: Embedder
    cluster_map: ClusterMap
    level_maps: tuple[LevelMap, ...]
    level_stack: MapStack  # the level maps' scorers in one matrix
    shift: ShiftMeter | None
    soft: bool
    max_turns: int
    decay: float

    def context_for(
        self, prompt_or_messages: str | Messages, tags: Mapping[str, str] | None = None
    ) -> Context:
        """The context of a prompt or of a conversation's recent user turns, with the app's
        ``tags`` (the shift meter observes it)."""
        texts, w = self.turns(prompt_or_messages)
        return self.context_from(self.embedder.encode(texts), w, texts, tags)

    def turns(self, prompt_or_messages: str | Messages) -> tuple[list[str], np.ndarray]:
        """The texts to embed for a prompt or conversation, and their pooling weights."""
        return conversation_turns(prompt_or_messages, max_turns=self.max_turns, decay=self.decay)

    def context_from(
        self,
        vectors: np.ndarray,
        turn_weights: np.ndarray,
        texts: Sequence[str] | None = None,
        tags: Mapping[str, str] | None = None,
        *,
        observe: bool = True,
    ) -> Context:
        """The context of already-embedded turns (``vectors`` from :meth:`turns`' ``texts``;
        without the texts the context has no prompt key). Bad ``tags`` raise ``ValueError``
        (see :func:`agent.tags.normalise_tags`). ``observe=False`` leaves the shift meter
        alone (the context then has no shift)."""
        vec = pool_embedding(vectors, turn_weights)
        weights = self.cluster_map.weights(vec, soft=self.soft)[0]
        shift = 0.0
        if observe and self.shift is not None:
            shift = self.shift.observe(vec)
        key = prompt_key(texts) if texts is not None else -1
        cells = tuple(self.level_stack.cells(vec[0])) if self.level_maps else ()
        tagged = normalise_tags(tags)
        return Context(
            weights / weights.sum(), prompt_key=key, tags=tagged, cells=cells, shift=shift
        )
