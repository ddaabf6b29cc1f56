"""Implicit feedback from regenerates in the embedded Router: the same conversation asking its
last user turn again within the window gives the replaced answer a thumbs-down."""

from __future__ import annotations

from typing import Any

import pytest

from agent.embedder import HashingEmbedder
from agent.router import Router
from agent.store import FeedbackConflict
from agent.synthetic_log import generate_log


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def log() -> Any:
    return generate_log(n_prompts=200, n_models=3, seed=4)


def make(log: Any, **kwargs: Any) -> Router:
    return Router.from_log(log, embedder=HashingEmbedder(dim=64), k=4, **kwargs)


def test_a_regenerate_thumbs_down_the_answer_it_replaces(log: Any) -> None:
    clock = Clock()
    router = make(log, policy="greedy", regenerate_window=60.0, clock=clock)

    def judged(decision_id: str) -> bool:  # holds an implicit thumbs-down already
        return router.feedback(decision_id, thumbs="down", source="implicit-regenerate").duplicate

    first = router.route("Write a haiku about joins", conversation_id="c")
    again = router.route("write a haiku  about JOINS", conversation_id="c")  # a regenerate
    assert judged(first.id)
    with pytest.raises(FeedbackConflict):  # the stored thumbs-down counts, not a later up
        router.feedback(first.id, thumbs="up", source="implicit-regenerate")
    clock.now += 61
    late = router.route("Write a haiku about joins", conversation_id="c")  # past the window
    other = router.route("Write a haiku about joins", conversation_id="other")
    assert not judged(again.id) and not judged(late.id) and not judged(other.id)
    plain = make(log, policy="greedy")  # off unless a window is given
    d = plain.route("same", conversation_id="c")
    plain.route("same", conversation_id="c")
    assert not plain.feedback(d.id, thumbs="down", source="implicit-regenerate").duplicate
