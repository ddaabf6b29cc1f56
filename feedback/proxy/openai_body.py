"""OpenAI Chat Completions bodies: what routing reads of them, and what goes upstream.

>>> body = {"model": "router", "temperature": 0.2, "lam": 0.5, "messages": [
...     {"role": "user", "name": "ann", "content": [{"type": "text", "text": "Hi"},
...                                                  {"type": "image_url", "image_url": {}}]}]}
>>> route_fields(body)
{'messages': [{'role': 'user', 'content': 'Hi'}], 'lam': 0.5}
>>> sorted(upstream_body(body, "llama"))
['messages', 'model', 'temperature']
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Routing keys a client sends at the top level (the ``openai`` client's ``extra_body``).
ROUTING_KEYS = ("lam", "budget", "conversation_id", "tags")

#: Fields of the Chat Completions API that routing does not use (``POST /route`` ignores them).
OPENAI_FIELDS = frozenset(
    {
        "model", "frequency_penalty", "logit_bias", "logprobs", "top_logprobs", "max_tokens",
        "max_completion_tokens", "n", "presence_penalty", "response_format", "seed", "stop",
        "stream", "stream_options", "temperature", "top_p", "tools", "tool_choice",
        "parallel_tool_calls", "user", "functions", "function_call", "store", "metadata",
        "reasoning_effort", "modalities", "audio", "prediction", "service_tier",
        "web_search_options", "verbosity", "prompt_cache_key", "safety_identifier",
    }
)  # fmt: skip

_ROLES = {"developer": "system", "function": "tool"}


def content_text(content: Any) -> Any:
    """The text of a message's content: a string as is, a content-part array's text parts
    joined by newlines (images and audio carry no text to route on). Anything else is returned
    unchanged, for validation to refuse.

    >>> content_text([{"type": "text", "text": "a"}, {"type": "text", "text": "b"}])
    'a\\nb'
    >>> content_text(None)
    ''
    """
    if content is None:
        return ""
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, Mapping) and "text" in p]
        if all(isinstance(p, str) for p in parts):
            return "\n".join(str(p) for p in parts)
    return content


def routing_message(message: Any) -> Any:
    """A chat message as ``POST /route`` reads it: role and text, nothing else."""
    if not isinstance(message, Mapping):
        return message
    role = message.get("role", "user")
    if isinstance(role, str):  # anything else is left for validation to refuse
        role = _ROLES.get(role, role)
    return {"role": role, "content": content_text(message.get("content"))}


def normalise_route_body(data: Any) -> Any:
    """An OpenAI-shaped ``POST /route`` body reduced to the fields routing uses; a body
    that is not OpenAI-shaped is returned as is."""
    if not isinstance(data, Mapping):
        return data
    out = {k: v for k, v in data.items() if k not in OPENAI_FIELDS}
    if isinstance(out.get("messages"), list):
        out["messages"] = [routing_message(m) for m in out["messages"]]
    return out


def route_fields(body: Mapping[str, Any]) -> dict[str, Any]:
    """The ``POST /route`` fields of a chat completion request."""
    out: dict[str, Any] = {"messages": body.get("messages")}
    if isinstance(out["messages"], list):
        out["messages"] = [routing_message(m) for m in out["messages"]]
    for key in ROUTING_KEYS:
        if body.get(key) is not None:
            out[key] = body[key]
    return out


def upstream_body(body: Mapping[str, Any], model: str) -> dict[str, Any]:
    """The body sent upstream: the client's, untouched, but for the upstream's model name and
    without the routing keys."""
    out = {k: v for k, v in body.items() if k not in ROUTING_KEYS}
    out["model"] = model
    return out
