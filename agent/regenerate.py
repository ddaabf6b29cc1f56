"""Implicit feedback from regenerates: the same conversation asking the same last user turn
again within a window says the previous answer did not do. That decision gets a thumbs-down
from source ``implicit-regenerate``, capped per source like any other feedback.

>>> t = [0.0]
>>> watch = RegenerateWatch(window=60.0, clock=lambda: t[0])
>>> watch.remember("c1", "What is 2+2?", "d1")
>>> t[0] = 10.0; watch.previous("c1", "what is  2+2?")  # case and spacing aside
'd1'
>>> watch.previous("c1", "and 3+3?") is None, watch.previous("c2", "What is 2+2?") is None
(True, True)
>>> t[0] = 100.0; watch.previous("c1", "What is 2+2?") is None  # past the window
True
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from agent.conversation import Messages, prompt_key

SOURCE = "implicit-regenerate"
#: Conversations remembered at once; the least recently active are forgotten first.
MAX_CONVERSATIONS = 100_000


def last_user_turn(prompt_or_messages: str | Messages) -> str:
    """The text a regenerate repeats: the prompt, or the conversation's last user message.

    >>> last_user_turn([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}])
    'a'
    """
    if isinstance(prompt_or_messages, str):
        return prompt_or_messages
    users = [str(m.get("content", "")) for m in prompt_or_messages if m.get("role") == "user"]
    return users[-1] if users else ""


class RegenerateWatch:
    """The last (user turn, decision, time) of each conversation this router routed."""

    def __init__(self, *, window: float, clock: Callable[[], float] = time.time) -> None:
        self.window, self.clock = float(window), clock
        self._last: OrderedDict[str, tuple[int, str, float]] = OrderedDict()
        self._lock = threading.Lock()

    def previous(self, conversation_id: str, last_turn: str) -> str | None:
        """The decision a request regenerates (same conversation and last user turn, within
        the window), if any."""
        key, now = prompt_key([last_turn]), self.clock()
        with self._lock:
            prev = self._last.get(conversation_id)
        if prev is not None and prev[0] == key and now - prev[2] <= self.window:
            return prev[1]
        return None

    def remember(self, conversation_id: str, last_turn: str, decision_id: str) -> None:
        """``decision_id`` now answers ``last_turn`` in the conversation."""
        entry = (prompt_key([last_turn]), decision_id, self.clock())
        with self._lock:
            self._last.pop(conversation_id, None)
            self._last[conversation_id] = entry
            while len(self._last) > MAX_CONVERSATIONS:
                self._last.popitem(last=False)
