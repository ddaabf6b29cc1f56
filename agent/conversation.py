"""Routing on a conversation: recency-weighted user turns, and sticky models per conversation."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from policies import Choice, Context, Policy

Messages = Sequence[Mapping[str, Any]]


def conversation_turns(
    messages: str | Messages, *, max_turns: int = 4, decay: float = 0.5
) -> tuple[list[str], np.ndarray]:
    """The texts to embed for a prompt or a message list, with recency weights summing to 1.

    The last ``max_turns`` user turns count, the newest with weight 1, each older one ``decay``
    times the next, each also in proportion to its length in words: a short follow-up ("ok,
    commit it") says little about the task, so it is routed mostly as the request it follows.

    >>> texts, w = conversation_turns([
    ...     {"role": "user", "content": "write a merge sort in rust"},
    ...     {"role": "assistant", "content": "fn merge_sort..."},
    ...     {"role": "user", "content": "ok, commit it"}])
    >>> texts, w.round(3).tolist()
    (['write a merge sort in rust', 'ok, commit it'], [0.5, 0.5])
    >>> conversation_turns("hello")[0]
    ['hello']
    """
    if isinstance(messages, str):
        return [messages], np.ones(1)
    if not 0.0 < decay <= 1.0 or max_turns < 1:
        raise ValueError("need 0 < decay <= 1 and max_turns >= 1")
    texts: list[str] = []
    for i, msg in enumerate(messages):
        if not isinstance(msg, Mapping) or not isinstance(msg.get("content"), str):
            raise ValueError(f"message {i} must be a mapping with a string 'content'")
        if msg.get("role", "user") == "user":
            texts.append(msg["content"])
    if not texts:
        raise ValueError("a conversation needs at least one user message to route on")
    texts = texts[-max_turns:]
    w = decay ** np.arange(len(texts) - 1, -1, -1, dtype=np.float64)
    w *= [max(1, len(t.split())) for t in texts]
    return texts, w / w.sum()


def prompt_key(texts: Sequence[str]) -> int:
    """A stable 63-bit key of the routed text: how labels, nominations and regenerates
    name a prompt.

    Whitespace runs and letter case do not change it; the turns and their order do.

    >>> prompt_key(["Hello  world"]) == prompt_key(["hello world"])
    True
    >>> prompt_key(["a", "b"]) == prompt_key(["b", "a"])
    False
    """
    text = "\x1f".join(" ".join(t.split()).casefold() for t in texts)
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") & (2**63 - 1)


def pool_embedding(vectors: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The unit-norm weighted mean of unit-norm turn embeddings, shape ``(1, dim)``.

    >>> pool_embedding(np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([0.5, 0.5])).round(3)
    array([[0.707, 0.707]])
    """
    v = np.asarray(weights, dtype=np.float64) @ np.asarray(vectors, dtype=np.float64)
    norm = float(np.linalg.norm(v))
    return (v / norm if norm > 0 else v)[None, :]


class StickyModels:
    """Remembers the model each conversation was last routed to (LRU, ``max_size`` entries).

    >>> sticky = StickyModels(max_size=1)
    >>> sticky.remember("c1", "big"); sticky.remember("c2", "small")
    >>> sticky.last("c1"), sticky.last("c2")
    (None, 'small')
    """

    def __init__(self, max_size: int = 100_000) -> None:
        self.max_size = max_size
        self._items: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def _map(self) -> OrderedDict[str, str]:
        return self._items

    def last(self, conversation_id: str) -> str | None:
        items = self._map()
        with self._lock:
            return items.get(conversation_id)

    def remember(self, conversation_id: str, model: str) -> None:
        items = self._map()
        with self._lock:
            items[conversation_id] = model
            items.move_to_end(conversation_id)
            while len(items) > self.max_size:
                items.popitem(last=False)

    def to_state(self) -> dict[str, str]:
        items = self._map()
        with self._lock:
            return dict(items)

    def load_state(self, state: Mapping[str, str]) -> None:
        items = self._map()
        with self._lock:
            items.clear()
            items.update(state)


def keep_model(
    policy: Policy,
    ctx: Context,
    choice: Choice,
    previous: int,
    margin: float,
    eligible: np.ndarray | None = None,
) -> int:
    """The model a conversation goes to: its ``previous`` one unless the policy's choice gains
    at least ``margin`` in expected utility (posterior means, not two noisy Thompson draws)."""
    util = policy.mean_scores(ctx, eligible=eligible, lam=choice.lam)
    if np.isfinite(util[previous]) and util[choice.index] - util[previous] < margin:
        return previous
    return choice.index


def as_messages(prompt_or_messages: str | Messages) -> list[dict[str, Any]]:
    """Chat messages for an LLM call: a prompt becomes one user turn.

    >>> as_messages("hi")
    [{'role': 'user', 'content': 'hi'}]
    """
    if isinstance(prompt_or_messages, str):
        return [{"role": "user", "content": prompt_or_messages}]
    return [dict(m) for m in prompt_or_messages]
