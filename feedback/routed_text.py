"""What the prompt encoder reads of a request: the last user turns, each cut to its tail.

A chat may hold thousands of messages and megabytes of text (and images, which carry no text to
route on). Routing reads a bounded slice of it, so that its cost does not grow with the chat:
the last ``turns`` user messages (the router weighs no others: see
:func:`agent.conversation.conversation_turns`), each cut to its last ``chars`` characters at a
word break, as the neural encoders cut their input (:func:`agent.embedder.tail_cut`).

>>> chat = [{"role": "user", "content": "hello " * 10}, {"role": "assistant", "content": "b"},
...         {"role": "user", "content": "a long document, then: sort it"}]
>>> routed_messages(chat, turns=1, chars=12)
[{'role': 'user', 'content': 'sort it'}]
>>> [m["content"][:5] for m in routed_messages(chat, turns=4, chars=1000)]
['hello', 'a lon']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agent.embedder import tail_cut


def routed_text(text: str, chars: int) -> str:
    """``text``, or its last ``chars`` characters cut at a word break."""
    return tail_cut([text], chars)[0]


def routed_messages(messages: Sequence[Any], *, turns: int, chars: int) -> list[Any]:
    """The last ``turns`` user messages of ``messages``, their text cut by :func:`routed_text`
    (an item that is not a message is kept, for validation to refuse)."""
    picked: list[Any] = []
    for message in reversed(messages):
        if len(picked) >= turns:
            break
        if not isinstance(message, Mapping):
            picked.append(message)
        elif message.get("role", "user") == "user":
            content = message.get("content")
            if isinstance(content, str):
                message = {**message, "content": routed_text(content, chars)}
            picked.append(message)
    return picked[::-1]
