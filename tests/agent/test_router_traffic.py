"""The Router's view of its own traffic: the traffic cells ``default`` learns on and the shift
meter that picks its learner, observed on every route, carried by decisions, persisted exactly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent.embedder import HashingEmbedder
from agent.router import Router
from agent.synthetic_log import generate_log
from agent.traffic_cells import DEFAULT_CELLS, TrafficCells
from policies import Context


@pytest.fixture(scope="module")
def log() -> Any:
    return generate_log(n_prompts=400, n_models=4, seed=1)


@pytest.fixture(scope="module")
def fit(log: Any) -> Any:
    """The rows a router is built on; the log's last 100 prompts are traffic like them."""
    return log.subset(np.arange(300))


def make(log: Any, **kwargs: Any) -> Router:
    return Router.from_log(log, embedder=HashingEmbedder(dim=64), k=6, **kwargs)


def shifted(n: int, start: int = 0) -> list[str]:
    """Prompts in words the log never uses: traffic unlike the fit prompts."""
    return [f"qzx{i % 7} vwk{i % 5} plo{i % 3} frobnicate{i % 11}" for i in range(start, start + n)]


def test_the_default_router_has_traffic_cells_and_a_shift_meter(fit: Any) -> None:
    router = make(fit)
    assert router.traffic_cells is not None and router.traffic_cells.n == DEFAULT_CELLS
    assert router.policy.traffic == DEFAULT_CELLS  # type: ignore[attr-defined]
    assert router.shift is not None and router.shift.seen == 0
    assert make(fit, traffic_cells=4).policy.traffic == 4  # type: ignore[attr-defined]
    none = make(fit, traffic_cells=0)
    assert none.traffic_cells is None and none.policy.traffic == 0  # type: ignore[attr-defined]
    assert none.route(fit.prompts[0]).leaf == -1
    greedy = make(fit, policy="greedy", traffic_cells=8)  # the baselines learn on no cells
    assert greedy.traffic_cells is None and greedy.shift is None
    with pytest.raises(ValueError, match="traffic_cells must be >= 0"):
        make(fit, traffic_cells=-1)
    with pytest.raises(ValueError, match="4 traffic cells for a policy that learns on 32"):
        Router(router.policy, router.cluster_map, router.embedder,
               level_maps=router.level_maps, traffic_cells=TrafficCells(4))  # fmt: skip


def test_routing_observes_the_traffic_and_the_decision_carries_its_cell(fit: Any) -> None:
    router = make(fit)
    cells = router.traffic_cells
    assert cells is not None
    got = []
    for i, p in enumerate(fit.prompts[:50]):
        want = cells.assign(router.embedder.encode([p])[0]) if i >= DEFAULT_CELLS else i
        d = router.route(p)
        assert d.leaf == want  # the cell the map gave before this prompt moved it
        assert router.open_decision(d.id).leaf == d.leaf  # the store keeps it for feedback
        got.append(d.leaf)
    assert cells.counts.sum() == 50 and set(got) == set(range(DEFAULT_CELLS))
    assert router.shift is not None and router.shift.seen == 50
    # a context computed without observing moves nothing and names no cell
    texts, w = router.turns(fit.prompts[60])
    ctx = router.context_from(router.embedder.encode(texts), w, texts, observe=False)
    assert (ctx.leaf, ctx.shift) == (-1, 0.0)
    assert cells.counts.sum() == 50 and router.shift.seen == 50


def test_like_traffic_keeps_the_careful_learner_and_a_shift_brings_the_fast_one(
    log: Any, fit: Any
) -> None:
    router = make(fit)
    policy = router.policy
    like = [router.context_for(p) for p in log.prompts[300:]]
    assert max(c.shift for c in like) < 3.0  # about 1: prompts drawn like the fit ones
    assert all(policy.deciding(c) == 0 for c in like)  # type: ignore[attr-defined]
    away = [router.context_for(p) for p in shifted(100)]
    assert away[-1].shift > 20.0 and policy.deciding(away[-1]) == 1  # type: ignore[attr-defined]
    assert [c.shift for c in away[-20:]] == sorted(c.shift for c in away[-20:])


def test_feedback_teaches_the_decisions_traffic_cell_most(fit: Any) -> None:
    router = make(fit, seed=2)
    for p in fit.prompts[:DEFAULT_CELLS]:  # open every cell
        router.route(p)
    prompt = fit.prompts[40]
    d = router.route(prompt)
    assert d.leaf >= 0
    other = (d.leaf + 1) % DEFAULT_CELLS
    # read by the fast learner (as under a shift), whose traffic cells have a wide prior
    here = Context(d.weights, d.leaf, -1, (), d.cells, shift=100.0)
    there = Context(d.weights, other, -1, (), d.cells, shift=100.0)  # another traffic cell
    j = router.policy.index(d.model)
    before = router.policy.mean_scores(here)[j], router.policy.mean_scores(there)[j]
    router.feedback(d.id, label=0)
    for i in range(5):
        again = router.route(prompt, allowed=[d.model])
        router.feedback(again.id, label=0, source=f"user-{i}")
    drop_here = before[0] - router.policy.mean_scores(here)[j]
    drop_there = before[1] - router.policy.mean_scores(there)[j]
    assert drop_there > 0  # all prompts, the cluster and the task cell learnt
    assert drop_here > drop_there + 0.03  # and the decision's own traffic cell on top


def test_rows_from_another_process_teach_without_its_cells(fit: Any) -> None:
    router = make(fit)
    d = router.route(fit.prompts[0])
    # a traffic cell or level cells this pool does not have: learnt as "no cell there"
    assert router.apply(d.weights, d.model, 1.0, kind="label", leaf=10_000, cells=(99, 3, 1))
    assert router.policy.counters[0] == 1


def test_the_cells_and_the_shift_meter_persist_and_resume_exactly(
    log: Any, fit: Any, tmp_path: Path
) -> None:
    a = make(fit, seed=3)
    for p in [*log.prompts[300:340], *shifted(60)]:
        a.route(p)
    state = json.loads(json.dumps(a.state(), allow_nan=False))
    assert state["traffic_cells"]["counts"] and state["shift"]["seen"] == 100
    b = Router.from_state(state, a.cluster_map, embedder=a.embedder, level_maps=a.level_maps)
    a.save(tmp_path / "r")
    c = Router.load(tmp_path / "r", embedder=HashingEmbedder(dim=64))
    for r in (b, c):
        assert r.traffic_cells is not None and a.traffic_cells is not None
        assert r.traffic_cells.to_state() == a.traffic_cells.to_state()
        assert r.shift is not None and a.shift is not None
        assert r.shift.to_state() == a.shift.to_state()
    later = [*shifted(30, 60), *log.prompts[340:360]]
    seen = []
    for r in (a, b, c):
        ds = [r.route(p) for p in later]
        shifts = [r.context_for(p).shift for p in later[:5]]
        seen.append(([(d.model, d.scores, d.leaf, d.cells) for d in ds], shifts))
    assert seen[0] == seen[1] == seen[2]
    assert max(d[2] for d in seen[0][0]) >= 0
