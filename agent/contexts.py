"""What a :class:`~agent.router.Router` routes on: a prompt or conversation → its Context
(cluster weights, leaf cell, prompt key, tags and level cells). The ``Router``'s half that
reads prompts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from agent.clusters import ClusterMap, LevelMap, MapStack
from agent.conversation import Messages, conversation_turns, pool_embedding, prompt_key
from agent.embedder import Embedder
from agent.traffic_cells import TrafficLeaves
from policies import Context, Policy
from policies.tags import normalise_tags


def leaf_cell(policy: Policy, leaf: int) -> int:
    """``leaf`` if the policy has that leaf cell, else -1 (learn on the clusters only)."""
    return leaf if 0 <= leaf < int(getattr(policy, "n_leaves", 0)) else -1


def level_cells(policy: Policy, cells: Sequence[int]) -> tuple[int, ...]:
    """``cells`` if they name one valid cell per level of the policy's pool, else () (learn
    on the clusters only: a policy without levels, or a decision made under other maps)."""
    levels = policy.posterior.levels
    try:
        if levels is None or not cells:
            return ()
        levels.check(cells)
    except ValueError:
        return ()
    return tuple(int(c) for c in cells)


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
    """Embedding, pooling of recent turns, clusters, leaf, prompt key and tags."""

    policy: Policy
    embedder: Embedder
    cluster_map: ClusterMap
    leaf_map: ClusterMap | None
    level_maps: tuple[LevelMap, ...]
    level_stack: MapStack  # the level maps' scorers in one matrix
    traffic_cells: TrafficLeaves | None
    soft: bool
    max_turns: int
    decay: float

    def context_for(
        self, prompt_or_messages: str | Messages, tags: Mapping[str, str] | None = None
    ) -> Context:
        """The cluster weights, leaf and prompt key of a prompt or of a conversation's recent
        user turns, with the app's ``tags``."""
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
        without the texts the context has no prompt key, so the prompt memory sits it out).
        Bad ``tags`` raise ``ValueError`` (see :func:`policies.tags.normalise_tags`).
        ``observe=False`` leaves the traffic cells alone (the context then has no cell)."""
        vec = pool_embedding(vectors, turn_weights)
        weights = self.cluster_map.weights(vec, soft=self.soft)[0]
        leaf = -1
        if self.leaf_map is not None:
            leaf = leaf_cell(self.policy, int(self.leaf_map.assign(vec)[0]))
        elif self.traffic_cells is not None and observe:
            leaf = leaf_cell(self.policy, self.traffic_cells.leaf(vec))
        key = prompt_key(texts) if texts is not None else -1
        cells = level_cells(self.policy, self.level_stack.cells(vec[0])) if self.level_maps else ()
        return Context(weights / weights.sum(), leaf, key, normalise_tags(tags), cells)
