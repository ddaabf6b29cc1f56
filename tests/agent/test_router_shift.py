"""The Router's view of its own traffic: the shift meter that picks ``default``'s learner,
observed on every route, persisted exactly; and a state an older version saved still loads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent.decision import Lesson
from agent.embedder import HashingEmbedder
from agent.router import Router
from agent.synthetic_log import generate_log
from policies import Context

#: A router directory saved by an older version, whose ``default`` also learnt corrections on
#: 4 cells it fitted on its traffic (built from ``fit`` below with ``k=6, seed=3``; 30 prompts
#: routed, 10 labels learnt).
OLD_ROUTER = Path(__file__).parent / "data" / "old_router"


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


def test_the_default_router_has_a_shift_meter(fit: Any) -> None:
    router = make(fit)
    assert router.shift is not None and router.shift.seen == 0
    assert not hasattr(router.policy, "traffic")
    assert make(fit, policy="greedy").shift is None  # the baselines read no shift


def test_routing_observes_the_traffic(fit: Any) -> None:
    router = make(fit)
    for p in fit.prompts[:50]:
        d = router.route(p)
        assert router._store.get(d.id).context.shift == 0.0  # the request's: not kept
    assert router.shift is not None and router.shift.seen == 50
    # a context computed without observing moves nothing and has no shift
    ctx = router.context_for(fit.prompts[60], observe=False)
    assert ctx.shift == 0.0
    assert router.shift.seen == 50


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


def test_rows_from_another_pool_teach_without_its_cells(fit: Any) -> None:
    router = make(fit)
    d = router.route(fit.prompts[0])
    # level cells this pool does not have: learnt as "no cell there"
    assert router.learn(Lesson(Context(d.weights, cells=(99, 3, 1)), d.model, 1.0))
    assert router.policy.counters[0] == 1


def test_the_shift_meter_persists_and_resumes_exactly(log: Any, fit: Any, tmp_path: Path) -> None:
    a = make(fit, seed=3)
    for p in [*log.prompts[300:340], *shifted(60)]:
        a.route(p)
    state = json.loads(json.dumps(a.state(), allow_nan=False))
    assert state["shift"]["seen"] == 100
    b = Router.from_state(state, a.cluster_map, embedder=a.embedder, level_maps=a.level_maps)
    a.save(tmp_path / "r")
    c = Router.load(tmp_path / "r", embedder=HashingEmbedder(dim=64))
    for r in (b, c):
        assert r.shift is not None and a.shift is not None
        assert r.shift.to_state() == a.shift.to_state()
    later = [*shifted(30, 60), *log.prompts[340:360]]
    seen = []
    for r in (a, b, c):
        ds = [r.route(p) for p in later]
        shifts = [r.context_for(p).shift for p in later[:5]]
        seen.append(([(d.model, d.scores, d.cells) for d in ds], shifts))
    assert seen[0] == seen[1] == seen[2]


def test_a_state_saved_with_cells_fitted_on_the_traffic_still_loads(
    log: Any, fit: Any, tmp_path: Path
) -> None:
    old = json.loads((OLD_ROUTER / "router.json").read_text())
    assert old["policy"]["params"]["traffic"] == 4
    router = Router.load(OLD_ROUTER, embedder=HashingEmbedder(dim=64))
    policy: Any = router.policy
    assert policy.counters == (10, 30)
    # the shift meter is restored; the cells and their corrections are dropped
    assert router.shift is not None and router.shift.to_state() == old["shift"]
    for lr, saved in zip(policy._learners, old["policy"]["extra"]["learners"], strict=True):
        assert lr.sizes == tuple(saved["sizes"][:-1]) == policy.blend.sizes
        rows = len(lr.shared_mu)
        assert lr.shared_mu.tolist() == saved["shared_mu"][:rows]
        assert lr.model_mu.tolist() == saved["model_mu"][:rows]
    # it routes and learns, and saves in today's form
    fresh = make(fit, seed=3)
    assert policy.blend.sizes == fresh.policy.blend.sizes  # type: ignore[attr-defined]
    d = router.route(log.prompts[350])
    router.feedback(d.id, label=1)
    assert policy.counters == (11, 31)
    router.save(tmp_path / "r")
    state = json.loads((tmp_path / "r" / "router.json").read_text())
    assert set(state) == {"params", "embedder", "policy", "sticky", "pacers", "shift", "store"}
    assert "traffic" not in state["policy"]["params"]
    assert Router.load(tmp_path / "r", embedder=HashingEmbedder(dim=64)).policy.counters == (11, 31)
