"""Parity of the three ways into the product: one stream of prompts, each answered by the
chosen model and labelled with the log's own correctness of that model, driven through

1. the embedded :class:`agent.router.Router` (``route`` then ``feedback``);
2. the service over HTTP on in-memory SQLite (``POST /route`` then ``POST /feedback``), as
   ``tests/feedback/conftest.py``'s ``memory_app`` builds it;
3. the simulator's replay engine, as ``routing-agent simulate`` runs it
   (:func:`simulator.experiment.run_policy`: :func:`~simulator.experiment.make_for`, then
   :func:`simulator.sequential.replay`),

with the same policy (``default``), log, clusters, levels, profiles, stacking weights, shift
reference, seed and λ. The three must choose the same model at every step from the same
Thompson draws, see the same contexts (clusters, level cells and shift), learn the same
feedback with full weight, and end with the same posterior.

What has to be lined up, and why:

- The service attributes feedback to the client's address and scopes its (absent) source
  under it (``addr:testclient/``), so its influence caps would bind: the source cap past
  ``source_limit`` (50) labels, the identity's budget past ``identity_budget`` (10) labels
  on a (cluster, model). It runs with ``identity_budget=0`` (no identity rules) and a
  ``source_limit`` above the stream's length, and every weight it answers must be 1.0. The
  embedded router's in-process feedback (identity ``""``, no source) is never capped, nor is
  the simulator's.
- The service logs Monte Carlo propensities (``propensity_samples``, 256 by default); the
  other two do not. Those draws come from a generator of their own, so the decisions'
  random stream must not move: the service keeps its default here.
- The service builds its pool from its synthetic log with :func:`agent.warm_start.fit_pool`
  (every prompt fits the clusters and profiles the models), as :meth:`Router.from_log` does;
  the simulator's :func:`simulator.protocol.prepare` would split the log into fit,
  validation and pool shares first. The simulator's :class:`~simulator.protocol.Setup` is
  therefore built here as ``prepare`` builds it for a shift (``--shift``), from
  ``fit_pool``'s result: the service's log fits, profiles and feeds half the stream; the
  other half comes from prompts in words that log never uses, appended to the simulator's
  log, so that the shift meter crosses ``default``'s threshold and both of its learners
  decide. The stream is drawn by the replay itself; the other two paths are fed the same
  rows (``Setup.stream`` with the replay's generator), checked through the prompt keys (log
  rows) of the simulator's contexts.
- The simulator computes every step's shift up front (:func:`simulator.sequential.
  stream_contexts`: ``ShiftMeter.observe_all`` over the stream's float32 embeddings); the
  router and the service observe each routed prompt's pooled (float64, renormalised)
  embedding. Same arithmetic, so each step's shift agrees to rounding.
- The simulator's cost unit (``Setup.c_max``) is the router's: the largest profile cost.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, create_engine

from agent.embedder import HashingEmbedder
from agent.level_maps import default_levels
from agent.logs import ReplayLog
from agent.router import Router
from agent.shift import ShiftMeter
from agent.synthetic_log import generate_log
from agent.warm_start import FittedPool, fit_pool
from feedback.app import create_app
from feedback.deps import get_db
from feedback.settings import Settings
from policies import Choice, Context, OnlineUniRoute, Policy
from simulator import experiment
from simulator.channel import FeedbackChannel
from simulator.protocol import Setup
from simulator.sequential import Trace

N_PROMPTS = 300  # the service's synthetic log: generate_log(synthetic_prompts, seed=seed)
N_SHIFTED = 60  # prompts unlike them, which the simulator's log adds
SHIFT_SHARE = 0.5  # of the stream drawn from those
SEED = 0
K = 6
DIM = 64  # the service's "hashing-64"
LAM = 0.1
STEPS = 120
TOL = 1e-9


@dataclass(frozen=True)
class Update:
    """One call of ``policy.update``."""

    context: Context
    model: str
    value: float
    kind: str
    weight: float
    #: Its weight on the parts shared by every model, where ``update`` takes one (the
    #: identity's shared budget, :mod:`agent.source_cap`); ``weight`` when not given.
    shared: float


@dataclass
class Tape:
    """What one policy was asked and told: every choice (with its context) and update."""

    choices: list[Choice] = field(default_factory=list)
    updates: list[Update] = field(default_factory=list)


@dataclass
class Run:
    """One path's record of the stream."""

    models: list[str]  # the chosen model at each step
    weights: list[float]  # the weight each label was learnt with (as the path reports it)
    tape: Tape
    policy: Policy
    shift: dict[str, Any]  # the shift meter's final state
    propensities: list[float | None] = field(default_factory=list)


def tap(policy: Policy, mp: pytest.MonkeyPatch) -> Tape:
    """Record ``policy``'s choices and updates (it still makes and learns them)."""
    tape = Tape()
    select, update = policy.select, policy.update

    def spy_select(
        context: Context, *, eligible: np.ndarray | None = None, lam: float | None = None
    ) -> Choice:
        choice = select(context, eligible=eligible, lam=lam)
        tape.choices.append(choice)
        return choice

    def spy_update(
        context: Context,
        model: str | int,
        value: float,
        *,
        kind: str = "label",
        weight: float = 1.0,
        **more: Any,
    ) -> None:
        shared = more.get("shared")
        shared = weight if shared is None else shared
        tape.updates.append(
            Update(context, str(model), float(value), kind, float(weight), float(shared))
        )
        update(context, model, value, kind=kind, weight=weight, **more)

    mp.setattr(policy, "select", spy_select)
    mp.setattr(policy, "update", spy_update)
    return tape


def label(log: ReplayLog, row: int, model: str) -> int:
    """The log's correctness of ``model`` on prompt ``row``: the feedback every path gets."""
    return int(log.correct[row, log.models.index(model)])


# -- the shared pool and the stream ------------------------------------------------------------
@dataclass(frozen=True)
class World:
    fit_log: ReplayLog  # what the pool is fitted on: the service's synthetic log
    log: ReplayLog  # fit_log, then the shifted prompts: the simulator's log, and the labels
    pool: FittedPool
    setup: Setup
    stream: np.ndarray  # rows of ``log``, in order


def with_shifted_prompts(log: ReplayLog, n: int) -> ReplayLog:
    """``log`` and ``n`` prompts in words it never uses (traffic unlike the fit prompts, as
    in ``tests/agent/test_router_shift.py``), on which the cheaper half of the pool is right
    and the dearer half wrong; each model costs its mean cost on them."""
    prompts = [f"qzx{i % 7} vwk{i % 5} plo{i % 3} frobnicate{i % 11}" for i in range(n)]
    cheap = log.mean_cost <= np.median(log.mean_cost)
    correct = np.tile(cheap.astype(np.float64), (n, 1))
    return ReplayLog(
        f"{log.name}+shifted",
        [*log.prompt_ids, *(f"shifted-{i}" for i in range(n))],
        [*log.prompts, *prompts],
        list(log.models),
        np.vstack([log.correct, correct]),
        np.vstack([log.cost, np.tile(log.mean_cost, (n, 1))]),
        [*log.tasks, *(["shifted"] * n)],
    )


def simulator_setup(log: ReplayLog, fitted: int, pool: FittedPool, X: np.ndarray) -> Setup:
    """The :class:`Setup` :func:`simulator.protocol.prepare` would build from ``pool`` for a
    shift: the first ``fitted`` prompts fit the clusters, profile the models and half the
    stream, the other half comes from the rest (the shifted prompts)."""
    cmap, rows = pool.cluster_map, np.arange(fitted)
    return Setup(
        log=log,
        seed=SEED,
        k=K,
        fit_idx=rows,
        val_idx=rows,
        pool_idx=rows,
        weights=cmap.weights(X, soft=False),
        clusters=cmap.assign(X),
        profiles=pool.profiles,
        c_max=max(p.cost for p in pool.profiles),
        shifted_idx=np.arange(fitted, log.n_prompts),
        shift_share=SHIFT_SHARE,
        cells=np.column_stack([lm.assign(X) for lm in pool.level_maps]),
        blend=pool.blend,
        shift_ref=pool.shift,
        cluster_map=cmap,
        level_maps=pool.level_maps,
        embeddings=X,
    )


@pytest.fixture(scope="module")
def world() -> World:
    fit_log = generate_log(n_prompts=N_PROMPTS, seed=SEED)
    log = with_shifted_prompts(fit_log, N_SHIFTED)
    assert np.isin(log.correct, (0.0, 1.0)).all()  # a label channel then passes them on as-is
    embedder = HashingEmbedder(dim=DIM)
    levels = default_levels(fit_log)
    assert levels  # default blends extra partitions: the contexts carry level cells
    pool = fit_pool(fit_log, embedder=embedder, k=K, seed=SEED, levels=levels)
    setup = simulator_setup(log, N_PROMPTS, pool, embedder.encode(log.prompts))
    # the rows the replay streams: its generator draws the stream first
    stream = setup.stream(STEPS, np.random.default_rng([setup.seed, 7]))
    return World(fit_log, log, pool, setup, stream)


# -- the three paths ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def embedded(world: World) -> Iterator[Run]:
    log = world.log
    router = Router.from_log(
        world.fit_log, embedder=HashingEmbedder(dim=DIM), k=K, seed=SEED, lam=LAM
    )
    models, weights, props = [], [], []
    with pytest.MonkeyPatch.context() as mp:
        tape = tap(router.policy, mp)
        for row in world.stream.tolist():
            d = router.route(log.prompts[row])
            receipt = router.feedback(d.id, label=label(log, row, d.model))
            assert receipt.applied and not receipt.duplicate
            models.append(d.model)
            weights.append(receipt.weight)
            props.append(d.propensity)
        assert router.shift is not None
        yield Run(models, weights, tape, router.policy, router.shift.to_state(), props)


def service_settings() -> Settings:
    """``tests/feedback/conftest.py``'s ``base_settings``, on the same pool as the others,
    with the influence caps out of the way."""
    return Settings(
        database_url="sqlite://",
        embedder=f"hashing-{DIM}",
        api_key="test-admin-key",
        synthetic_prompts=N_PROMPTS,
        seed=SEED,
        k=K,
        lam=LAM,
        poll_interval=0.0,
        snapshot_interval=0.0,
        decision_ttl=3600.0,
        identity_budget=0.0,
        source_limit=10 * STEPS,
    )


@pytest.fixture(scope="module")
def served(world: World) -> Iterator[Run]:
    log, settings = world.log, service_settings()
    assert settings.policy == "default" and settings.propensity_samples > 0
    engine = create_engine(
        "sqlite://", connect_args={"check_same_thread": False}, poolclass=StaticPool
    )
    app = create_app(settings, engine=engine)

    def _db() -> Iterator[Session]:
        with Session(engine, expire_on_commit=False) as session:
            yield session

    app.dependency_overrides[get_db] = _db
    models, weights, props = [], [], []
    try:
        with TestClient(app) as c, pytest.MonkeyPatch.context() as mp:
            router = app.state.service.router
            tape = tap(router.policy, mp)
            for row in world.stream.tolist():
                r = c.post("/route", json={"prompt": log.prompts[row]})
                assert r.status_code == 200, r.text
                d = r.json()
                body = {
                    "decision_id": d["decision_id"],
                    "token": d["token"],
                    "label": label(log, row, d["model"]),
                }
                f = c.post("/feedback", json=body)
                assert f.status_code == 201, f.text
                assert f.json()["model"] == d["model"]
                models.append(d["model"])
                weights.append(f.json()["weight"])
                props.append(d["propensity"])
                # the HTTP answer is the choice the policy made
                drawn = zip(router.models, tape.choices[-1].scores, strict=True)
                assert d["scores"] == {m: float(s) for m, s in drawn}
            assert app.state.service.router is router  # no rebuild swapped the policy
            assert router.shift is not None
            yield Run(models, weights, tape, router.policy, router.shift.to_state(), props)
    finally:
        engine.dispose()


@dataclass
class Replayed:
    run: Run
    trace: Trace


@pytest.fixture(scope="module")
def simulated(world: World) -> Replayed:
    exp = experiment.Experiment(
        policies=("default",), lam=LAM, steps=STEPS, seeds=1, clusters=K,
        channel=FeedbackChannel(rate=1.0, kind="label"),
    )  # fmt: skip
    made: list[Policy] = []
    tapes: list[Tape] = []
    with pytest.MonkeyPatch.context() as mp:
        make_for = experiment.make_for

        def making(setup: Setup, exp: experiment.Experiment, name: str, lam: float) -> Policy:
            policy = make_for(setup, exp, name, lam)
            made.append(policy)
            tapes.append(tap(policy, mp))
            return policy

        mp.setattr(experiment, "make_for", making)
        trace = experiment.run_policy(world.setup, exp, "default")
    (policy,), (tape,) = made, tapes
    # the meter stream_contexts ran on a copy of: the reference, then the streamed prompts
    ref, X = world.setup.shift_ref, world.setup.embeddings
    assert ref is not None and X is not None
    meter = ShiftMeter.from_state(ref.to_state())
    meter.observe_all(X[world.stream])
    models = [trace.models[j] for j in trace.chosen.tolist()]
    weights = [u.weight for u in tape.updates]
    run = Run(models, weights, tape, policy, meter.to_state(), [c.propensity for c in tape.choices])
    return Replayed(run, trace)


@pytest.fixture(scope="module")
def runs(embedded: Run, served: Run, simulated: Replayed) -> dict[str, Run]:
    return {"router": embedded, "service": served, "simulator": simulated.run}


# -- the checks --------------------------------------------------------------------------------
def test_the_three_paths_share_one_pool(world: World, runs: dict[str, Run]) -> None:
    """Same pool, warm start, seed and λ; the service's policy only logs propensities too."""
    ref = runs["simulator"].policy.to_state()
    for name, run in runs.items():
        policy = run.policy
        assert isinstance(policy, OnlineUniRoute), name
        state = policy.to_state()
        params = dict(state["params"])
        samples = params.pop("propensity_samples")
        assert samples == (256 if name == "service" else 0), name
        assert params == {k: v for k, v in ref["params"].items() if k != "propensity_samples"}
        assert (params["seed"], params["lam"]) == (SEED, LAM), name
        assert state["names"] == world.log.models and state["k"] == K, name
        assert state["extra"]["blend"] == ref["extra"]["blend"], name
        assert state["cost"] == ref["cost"], name
        assert state["cost_scale"] == pytest.approx(ref["cost_scale"], rel=1e-12), name


def test_the_simulator_streamed_the_rows_the_others_were_fed(
    world: World, simulated: Replayed
) -> None:
    trace, tape = simulated.trace, simulated.run.tape
    assert trace.steps == STEPS and trace.feedback == STEPS and not trace.interrupted
    # the simulator's contexts are keyed by log row
    assert [c.context.prompt_key for c in tape.choices] == world.stream.tolist()
    assert np.array_equal(trace.outcomes, world.log.correct[world.stream])
    assert np.array_equal(trace.clusters, world.setup.clusters[world.stream])
    shifted = world.stream >= N_PROMPTS
    assert 0.3 < shifted.mean() < 0.7


def test_every_step_chooses_the_same_model(runs: dict[str, Run]) -> None:
    ref = runs["router"].models
    assert len(ref) == STEPS and len(set(ref)) >= 3  # not a stream one model wins throughout
    for name, run in runs.items():
        diff = [t for t, (a, b) in enumerate(zip(run.models, ref, strict=True)) if a != b]
        assert not diff, f"{name} differs from the router at steps {diff[:10]}"


def test_every_step_draws_the_same_scores(runs: dict[str, Run]) -> None:
    """The same Thompson draws: the decisions' random streams never diverged (the service's
    propensity sampling draws from a generator of its own)."""
    ref = np.array([c.scores for c in runs["router"].tape.choices])
    assert ref.shape == (STEPS, len(runs["router"].policy.models))
    for name, run in runs.items():
        scores = np.array([c.scores for c in run.tape.choices])
        np.testing.assert_allclose(scores, ref, rtol=0, atol=TOL, err_msg=name)
        assert [c.lam for c in run.tape.choices] == [LAM] * STEPS, name
    assert all(p is None for p in runs["router"].propensities)
    assert all(p is None for p in runs["simulator"].propensities)
    served = np.array(runs["service"].propensities, dtype=float)
    assert np.all((served > 0) & (served <= 1))


def test_every_step_sees_the_same_context(runs: dict[str, Run]) -> None:
    """Clusters, level cells and the traffic's shift: the simulator's precomputed, the
    others' observed prompt by prompt."""
    ref = [c.context for c in runs["router"].tape.choices]
    policy = runs["router"].policy
    assert isinstance(policy, OnlineUniRoute)
    shifts = np.array([c.shift for c in ref])
    assert np.all(shifts > 0)
    # the shifted prompts push the shift over default's threshold: both learners decide
    assert {policy.deciding(c) for c in ref} == {0, 1}
    for name, run in runs.items():
        ctxs = [c.context for c in run.tape.choices]
        np.testing.assert_allclose(
            [c.weights for c in ctxs], [c.weights for c in ref], rtol=0, atol=TOL, err_msg=name
        )
        assert [c.cells for c in ctxs] == [c.cells for c in ref], name
        assert [c.cluster for c in ctxs] == [c.cluster for c in ref], name
        np.testing.assert_allclose([c.shift for c in ctxs], shifts, rtol=TOL, err_msg=name)
        assert [policy.deciding(c) for c in ctxs] == [policy.deciding(c) for c in ref], name


def test_the_shift_meters_end_alike(runs: dict[str, Run]) -> None:
    ref = runs["router"].shift
    assert ref["seen"] == STEPS
    for name, run in runs.items():
        assert run.shift["seen"] == STEPS, name
        assert (run.shift["center"], run.shift["spread"]) == (ref["center"], ref["spread"]), name
        np.testing.assert_allclose(run.shift["mean"], ref["mean"], rtol=0, atol=TOL, err_msg=name)


def test_every_label_is_learnt_alike_with_full_weight(world: World, runs: dict[str, Run]) -> None:
    """No influence cap binds: every path learns each label with weight 1 (the service
    reports it in its answer), on the chosen model, in the decision's cells."""
    ref = runs["router"].tape.updates
    rows_models = zip(world.stream.tolist(), runs["router"].models, strict=True)
    expected = [label(world.log, r, m) for r, m in rows_models]
    assert [u.value for u in ref] == expected
    for name, run in runs.items():
        assert run.weights == [1.0] * STEPS, name
        ups = run.tape.updates
        assert [(u.model, u.value, u.kind, u.weight, u.shared) for u in ups] == [
            (m, float(y), "label", 1.0, 1.0) for m, y in zip(run.models, expected, strict=True)
        ], name
        assert [u.context.cells for u in ups] == [u.context.cells for u in ref], name
        np.testing.assert_allclose(
            [u.context.weights for u in ups], [u.context.weights for u in ref], atol=TOL
        )


def _learnt(policy: Policy) -> dict[str, Any]:
    state = policy.to_state()
    return {
        "t": state["t"],
        "decided": state["decided"],
        "rng": state["rng"],
        "learners": state["extra"]["learners"],
        "evidence": state["extra"]["evidence"],
    }


def _close(a: Any, b: Any, where: str) -> None:
    """``a`` and ``b`` equal, their floats to :data:`TOL`."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for k in a:
            _close(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list) and a and not isinstance(a[0], (int, float)):
        assert isinstance(b, list) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _close(x, y, f"{where}[{i}]")
    elif isinstance(a, (float, list)):
        np.testing.assert_allclose(a, b, rtol=0, atol=TOL, err_msg=where)
    else:
        assert a == b, where


def test_the_posteriors_end_alike(runs: dict[str, Run]) -> None:
    """Both learners' corrections (means and variances per cell and model), their evidence,
    the counters and the generator's state."""
    ref = _learnt(runs["router"].policy)
    assert (ref["t"], ref["decided"]) == (STEPS, STEPS)
    for name, run in runs.items():
        _close(_learnt(run.policy), ref, name)


def test_the_posteriors_score_probe_prompts_alike(world: World, runs: dict[str, Run]) -> None:
    """Posterior mean utilities on probe prompts, streamed or not, as the careful learner
    (no shift) and as the fast one (a large shift) reads them."""
    rows = np.r_[np.arange(0, N_PROMPTS, 15), N_PROMPTS, N_PROMPTS + 7]  # two shifted
    probes = [replace(c, shift=shift) for c in world.setup.contexts(rows) for shift in (0.0, 50.0)]
    ref_policy = runs["router"].policy
    assert isinstance(ref_policy, OnlineUniRoute)
    assert {ref_policy.deciding(c) for c in probes} == {0, 1}
    ref = np.array([ref_policy.mean_scores(c) for c in probes])
    for name, run in runs.items():
        got = np.array([run.policy.mean_scores(c) for c in probes])
        np.testing.assert_allclose(got, ref, rtol=0, atol=TOL, err_msg=name)
    # and the feedback moved them: the warm start alone scores them otherwise
    fresh = OnlineUniRoute(seed=SEED, lam=LAM).warm_start(
        world.pool.profiles, blend=world.pool.blend
    )
    before = np.array([fresh.mean_scores(c) for c in probes])
    assert np.max(np.abs(before - ref)) > 1e-3
