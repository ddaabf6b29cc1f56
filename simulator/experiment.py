"""Run policies × seeds on one log and gather the numbers a report shows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from agent.level_maps import Level, default_levels
from agent.logs import ReplayLog
from policies import Policy, make_policy
from simulator.channel import FeedbackChannel
from simulator.headline import REGRETS, against_best_model, over_best_model, spread, versus
from simulator.labelling import LabelBudget
from simulator.metrics import apgr, audc, qnc, regret_curves, summary, traffic_share
from simulator.protocol import Setup, Splits, prepare
from simulator.scenario import Event
from simulator.sequential import Trace, replay
from simulator.splitting import own_split

CURVE_POINTS = 200
TRAFFIC_BINS = 20


@dataclass(frozen=True)
class Experiment:
    """One comparison: which policies, on what protocol, with what feedback and events."""

    policies: Sequence[str] = ("static", "default")
    lam: float = 0.1
    steps: int = 20_000
    seeds: int = 5
    clusters: int = 16
    channel: FeedbackChannel = field(default_factory=FeedbackChannel)
    events: Sequence[Event] = ()
    budget: float | None = None
    splits: Splits = field(default_factory=Splits)
    policy_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Stream each replay-pool prompt at most once: the figures then measure what carries over
    #: to prompts never seen before, not what was learnt about a prompt seen earlier.
    fresh: bool = False
    #: Profile the models on only this many labelled validation prompts.
    val_size: int | None = None
    #: Stream from these datasets; fit the clusters and profiles on the others.
    shift: tuple[str, ...] = ()
    shift_share: float = 1.0
    #: Reveal every model's outcome on up to this many prompts, one sampled from every few
    #: requests (:mod:`simulator.labelling`).
    label_budget: int = 0
    #: Extra partitions the setups fit, which ``default`` blends with the clusters
    #: (:mod:`agent.level_maps`: K-means sizes or "task"); empty: none; None: the log's
    #: default (the task partition where the log names tasks, else K-means at 8, 32, 64).
    levels: tuple[Level, ...] | None = None

    def protocol(self) -> dict[str, Any]:
        """The protocol settings (``split``: the fit, validation and pool shares); a report
        records :func:`recorded_protocol`."""
        return {
            "split": list(self.splits.shares),
            "fresh": self.fresh,
            "val_size": self.val_size,
            "shift": list(self.shift),
            "shift_share": self.shift_share,
            "label_budget": self.label_budget,
            "levels": list(self.levels) if self.levels is not None else "auto",
        }


def setups(log: ReplayLog, embeddings: np.ndarray, exp: Experiment) -> list[Setup]:
    """One prepared protocol per seed (splits, clusters, profiles, partitions)."""
    return [
        prepare(
            log,
            embeddings,
            k=exp.clusters,
            seed=seed,
            splits=exp.splits,
            fresh=exp.fresh,
            val_size=exp.val_size,
            shift=exp.shift,
            shift_share=exp.shift_share,
            levels=exp.levels if exp.levels is not None else default_levels(log, exclude=exp.shift),
        )
        for seed in range(exp.seeds)
    ]


def recorded_protocol(exp: Experiment, prepared: Sequence[Setup]) -> dict[str, Any]:
    """The protocol a report records: the experiment's, with ``split`` "column" where the log's
    own split column divided the prompts, and the stream's ``repeat_share``."""
    log = prepared[0].log
    split = "column" if own_split(log) is not None else list(exp.splits.shares)
    repeats = float(np.mean([s.repeat_share(exp.steps) for s in prepared]))
    return exp.protocol() | {"split": split, "repeat_share": repeats}


def fit_steps(exp: Experiment, prepared: Sequence[Setup]) -> Experiment:
    """``exp`` with its steps cut to what every fresh stream holds (unchanged if not fresh)."""
    if not exp.fresh:
        return exp
    return replace(exp, steps=min(exp.steps, *(s.fresh_steps for s in prepared)))


def learns_from_feedback(name: str) -> bool:
    """Whether feedback changes what the named policy picks."""
    return type(make_policy(name)).learns


def frozen(exp: Experiment) -> Experiment:
    """``exp`` with feedback off and no labels revealed: a policy replayed on it keeps its warm
    start. Its seeds, streams and feedback draws are ``exp``'s (the channel draws them whatever
    its rate), so a frozen twin differs from its policy only by what feedback taught."""
    return replace(exp, channel=replace(exp.channel, rate=0.0), label_budget=0)


def make_for(setup: Setup, exp: Experiment, name: str, lam: float) -> Policy:
    """The named policy with the experiment's parameters, seeded by the setup."""
    params: dict[str, Any] = {"seed": setup.seed, "lam": lam}
    params.update(exp.policy_params.get(name, {}))
    return make_policy(name, **params)


def run_policy(
    setup: Setup,
    exp: Experiment,
    name: str,
    *,
    lam: float | None = None,
    progress: Callable[[int], None] | None = None,
) -> Trace:
    """Replay one named policy on one seed's setup."""
    lam = exp.lam if lam is None else lam
    return replay(
        setup,
        make_for(setup, exp, name, lam),
        name=name,
        steps=exp.steps,
        lam=lam,
        channel=exp.channel,
        events=exp.events,
        budget=exp.budget,
        labels=LabelBudget(exp.label_budget, seed=setup.seed) if exp.label_budget else None,
        progress=progress,
    )


def run_seeds(
    setups_: Sequence[Setup],
    exp: Experiment,
    name: str,
    *,
    lams: Sequence[float] | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[Trace]:
    """Replay a policy on every setup (one λ each; default the experiment's).
    ``progress(n)`` receives the steps done so far, over all setups."""
    lams = list(lams) if lams is not None else [exp.lam] * len(setups_)
    traces = []
    for i, (setup, lam) in enumerate(zip(setups_, lams, strict=True)):
        base = i * exp.steps

        def tick(n: int, base: int = base) -> None:
            if progress is not None:
                progress(base + n)

        trace = run_policy(setup, exp, name, lam=lam, progress=tick)
        traces.append(trace)
        if trace.interrupted:
            break
    return traces


def _downsample(curve: np.ndarray, points: int = CURVE_POINTS) -> tuple[list[int], list[float]]:
    idx = np.unique(np.linspace(0, curve.size - 1, min(points, curve.size)).astype(int))
    return (idx + 1).tolist(), curve[idx].tolist()


def aggregate(traces: list[Trace], k: int) -> dict[str, Any]:
    """Mean (and spread) over seeds of one policy's traces: the headline figures
    (:mod:`simulator.headline`; ``gap_closed`` and ``learning`` compare policies, so
    :func:`simulator.headline.relate` adds them), accuracy, cost and the cumulative regrets."""
    sums = [summary(tr, k) for tr in traces]
    steps = min(tr.steps for tr in traces)
    curves = [regret_curves(tr, k) for tr in traces]
    regret_curve: dict[str, Any] = {}
    for key in REGRETS:
        mean = np.mean([c[key][:steps] for c in curves], axis=0)
        regret_curve["t"], regret_curve[key] = _downsample(mean)
    share = np.mean([traffic_share(tr, TRAFFIC_BINS) for tr in traces], axis=0)
    edges = np.linspace(0, steps, TRAFFIC_BINS + 1)
    models = traces[0].models
    by_seed = {key: [s[f"regret_{key}"] for s in sums] for key in REGRETS}
    return {
        **versus(by_seed, [tr.steps for tr in traces]),
        "against_best_model": against_best_model(traces),
        "mean_accuracy": float(np.mean([s["mean_accuracy"] for s in sums])),
        "mean_cost_usd": float(np.mean([s["mean_cost_usd"] for s in sums])),
        "mean_utility": float(np.mean([s["mean_utility"] for s in sums])),
        "regret": {key: float(np.mean(v)) for key, v in by_seed.items()},
        "regret_std": {key: float(np.std(v)) for key, v in by_seed.items()},
        "regret_by_seed": by_seed,
        "regret_curve": regret_curve,
        "traffic": {
            "t": ((edges[1:] + edges[:-1]) / 2).tolist(),
            "share": {m: share[:, j].tolist() for j, m in enumerate(models)},
        },
        "feedback": int(np.mean([tr.feedback for tr in traces])),
        "interrupted": any(tr.interrupted for tr in traces),
    }


def single_models(setups_: list[Setup]) -> list[dict[str, Any]]:
    """Each model's accuracy and mean cost on the replay pools, averaged over seeds."""
    log = setups_[0].log
    acc = np.mean([log.correct[s.pool_idx].mean(axis=0) for s in setups_], axis=0)
    cost = np.mean([log.cost[s.pool_idx].mean(axis=0) for s in setups_], axis=0)
    return [
        {"name": m, "accuracy": float(acc[j]), "mean_cost_usd": float(cost[j])}
        for j, m in enumerate(log.models)
    ]


def deferral_curve(
    setups_: list[Setup],
    exp: Experiment,
    policy: str,
    lambdas: Sequence[float],
    progress: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Sweep λ; each point is (mean cost / c_max, mean accuracy) over seeds, with the utility
    per 1,000 requests above always using the best single model at that λ, mean ± SE."""
    c_max = setups_[0].c_max
    points: list[dict[str, Any]] = []
    for lam in lambdas:
        traces = [run_policy(s, exp, policy, lam=lam) for s in setups_]
        rows = [np.arange(tr.steps) for tr in traces]
        cost = np.mean([tr.costs[r, tr.chosen].mean() for tr, r in zip(traces, rows, strict=True)])
        acc = np.mean(
            [tr.outcomes[r, tr.chosen].mean() for tr, r in zip(traces, rows, strict=True)]
        )
        points.append(
            {
                "lambda": float(lam),
                "cost": float(cost / c_max),
                "accuracy": float(acc),
                "per_1000_vs_best": spread([over_best_model(tr) for tr in traces]),
            }
        )
        if progress is not None:
            progress()
    models = single_models(setups_)
    best = max(models, key=lambda m: m["accuracy"])
    cheapest = min(models, key=lambda m: m["mean_cost_usd"])
    costs = [p["cost"] for p in points]
    accs = [p["accuracy"] for p in points]
    return {
        "policy": policy,
        "dataset": setups_[0].log.name,
        "points": points,
        "audc": audc(costs, accs),
        "qnc": qnc(costs, accs, best["accuracy"], best["mean_cost_usd"] / c_max),
        "apgr": apgr(costs, accs, cheapest["accuracy"], best["accuracy"]),
        "models": [
            {"name": m["name"], "accuracy": m["accuracy"], "cost": m["mean_cost_usd"] / c_max}
            for m in models
        ],
    }
