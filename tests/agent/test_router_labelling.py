"""Active labelling in the Router: nominations sampled from the recent prompts, labels learnt
as of routing time."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from agent.embedder import HashingEmbedder
from agent.router import Router
from agent.synthetic_log import generate_log
from policies import Context


@pytest.fixture(scope="module")
def log() -> Any:
    return generate_log(n_prompts=300, n_models=4, seed=1)


def make(log: Any, **kwargs: Any) -> Router:
    return Router.from_log(log, embedder=HashingEmbedder(dim=64), k=6, **kwargs)


def label(router: Router, prompt: int | str, outcomes: dict[str, Any]) -> int:
    """Learn a labeller's outcomes on one prompt; the models learnt."""
    return sum(router.learn(lesson) for lesson in router.lessons(prompt, outcomes))


def test_nominations_are_a_sample_of_the_recent_prompts(log: Any) -> None:
    router = make(log, label_candidates=20, policy="greedy")
    for p in log.prompts[:40]:
        router.route(p)
    recent = set(log.prompts[20:40])
    seen: set[str] = set()
    for _ in range(60):
        noms = router.nominate(3)
        assert len({n.prompt_key for n in noms}) == 3 and {n.text for n in noms} <= recent
        seen |= {n.text for n in noms}
    assert seen == recent  # every recent prompt can be drawn (60 draws of 3 from 20)
    assert len(router.nominate(50)) == 20  # at most every candidate
    with pytest.raises(ValueError, match="n must be >= 1"):
        router.nominate(0)


def test_labels_go_where_the_prompt_was_routed(log: Any) -> None:
    router = make(log, label_candidates=10, policy="greedy")
    d = router.route(log.prompts[3])
    [nom] = router.nominate(1)
    evidence = router.policy.posterior.alpha.sum() + router.policy.posterior.beta.sum()
    label(router, nom.prompt_key, {router.models[0]: 1, router.models[1]: 0.25})
    post = router.policy.posterior
    assert post.alpha.sum() + post.beta.sum() == pytest.approx(evidence + 2.0)
    gained = (post.alpha + post.beta - post.alpha0 - post.beta0).sum(axis=1)
    assert np.flatnonzero(gained > 1e-9).tolist() == [int(np.argmax(d.weights))]


def test_the_default_router_labels_a_prompt_in_its_routed_cells(log: Any) -> None:
    router = make(log, label_candidates=10)
    for p in log.prompts[:40]:
        router.route(p)
    d = router.route(log.prompts[50])
    nom = next(n for n in router.nominate(10) if n.prompt_key == d.prompt_key)
    (k,) = router.policy.blend.sizes[2:]  # type: ignore[attr-defined]
    (cell,) = d.cells
    here = Context(d.weights, cells=(cell,), shift=100.0)
    there = Context(d.weights, cells=((cell + 1) % k,), shift=100.0)  # another task's cell
    before = router.policy.mean_scores(here), router.policy.mean_scores(there)
    assert label(router, nom.prompt_key, dict.fromkeys(router.models, 0)) == len(router.models)
    drop_here = before[0] - router.policy.mean_scores(here)
    drop_there = before[1] - router.policy.mean_scores(there)
    assert np.all(drop_here > drop_there) and np.all(drop_there > 0)  # its task cell most
    # a label on a text reads the prompt without observing it: no shift
    assert router.shift is not None
    seen = router.shift.seen
    assert label(router, log.prompts[60], {router.models[0]: 1}) == 1
    assert router.shift.seen == seen


@pytest.mark.parametrize(
    ("outcomes", "message"),
    [
        ({"nope": 1}, "unknown: ['nope']"),
        ({}, "must name pool models"),
        ({"M": float("nan")}, "a number in [0, 1]"),
        ({"M": 2}, "a number in [0, 1]"),
        ({"M": True}, "a number in [0, 1]"),
        ({"M": "1"}, "a number in [0, 1]"),
    ],
)
def test_bad_labels_are_refused_and_change_nothing(
    log: Any, outcomes: dict[str, Any], message: str
) -> None:
    router = make(log, label_candidates=10)
    router.route(log.prompts[0])
    [nom] = router.nominate(1)
    outcomes = {router.models[0] if k == "M" else k: v for k, v in outcomes.items()}
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        label(router, nom.prompt_key, outcomes)
    assert router.nominate(1) == [nom]  # still a candidate (the only one)


def test_a_long_prompt_is_kept_cut_for_the_labeller(log: Any) -> None:
    router = make(log, label_candidates=3)
    router.route("why " * 5000)
    [nom] = router.nominate(1)
    assert len(nom.text) == 2000 and nom.text.startswith("why why")


def test_nominating_needs_candidates_and_an_unknown_prompt_is_an_error(log: Any) -> None:
    router = make(log)
    router.route(log.prompts[0])
    with pytest.raises(ValueError, match="label_candidates=N"):
        router.nominate()
    keeping = make(log, label_candidates=5)
    with pytest.raises(KeyError, match="not among the recent prompts"):
        label(keeping, 12345, {keeping.models[0]: 1})
    back = Router.from_state(keeping.state(), keeping.cluster_map, embedder=keeping.embedder,
                             level_maps=keeping.level_maps)  # fmt: skip
    assert back.label_candidates == 5
