"""The sequential (Python) replay engine: one policy over a logged stream, seeing only what the
feedback channel gives."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from agent.shift import ShiftMeter
from policies import BudgetPacer, Context, Policy
from policies.updates import utility
from simulator.channel import FeedbackChannel
from simulator.labelling import LabelBudget
from simulator.protocol import Setup
from simulator.scenario import Arrival, Event, PriceChange, apply_events


@dataclass(frozen=True)
class Trace:
    """What happened in one replay, with every model's counterfactual outcome beside it."""

    policy: str
    seed: int
    lam: float
    chosen: np.ndarray  # (T,) log index of the chosen model
    outcomes: np.ndarray  # (T, M) every model's correctness at each step (after scenario events)
    costs: np.ndarray  # (T, M) every model's cost at each step
    clusters: np.ndarray  # (T,) hard cluster of each step's prompt
    lams: np.ndarray  # (T,) λ used at each step (varies under a budget)
    models: list[str]
    c_max: float
    feedback: int  # pieces of feedback folded in
    interrupted: bool = False
    labelled: int = 0  # nominated prompts whose every outcome was revealed (--label-budget)

    @property
    def steps(self) -> int:
        return int(self.chosen.size)

    def utility(self, lam: float | None = None) -> np.ndarray:
        """u[t, m] = correct − λ·cost/c_max for every step and model."""
        lam = self.lam if lam is None else lam
        return utility(self.outcomes, self.costs, lam, self.c_max)


def stream_contexts(setup: Setup, stream: np.ndarray) -> list[Context]:
    """Each step's context, as a Router would give it: where the prompt sits
    (:meth:`Setup.contexts`), and the shift statistic of the stream so far
    (:class:`agent.shift.ShiftMeter`)."""
    rows = np.unique(stream)
    context_of = dict(zip(rows.tolist(), setup.contexts(rows), strict=True))
    emb = setup.embeddings
    if emb is None or setup.shift_ref is None:
        return [context_of[p] for p in stream.tolist()]
    shift = ShiftMeter.from_state(setup.shift_ref.to_state()).observe_all(emb[stream])
    return [
        replace(context_of[p], shift=float(z))
        for p, z in zip(stream.tolist(), shift.tolist(), strict=True)
    ]


def replay(
    setup: Setup,
    policy: Policy,
    *,
    name: str,
    steps: int,
    lam: float = 0.1,
    channel: FeedbackChannel | None = None,
    events: Sequence[Event] = (),
    budget: float | None = None,
    labels: LabelBudget | None = None,
    progress: Callable[[int], None] | None = None,
) -> Trace:
    """Stream ``steps`` requests drawn (seeded) from the setup's replay pool: with replacement,
    or each prompt at most once for a ``fresh`` setup (then at most the pool's size).

    ``policy`` must be unfitted: it is warm-started here from the validation profiles, less any
    models that arrive later. ``progress(n)`` is called every 1,000 steps with the steps done.
    ``labels`` (:class:`~simulator.labelling.LabelBudget`) reveals every model's outcome on
    the prompts the policy nominates. Ctrl-C stops early and returns what was replayed, marked
    ``interrupted``.
    """
    log = setup.log
    rng = np.random.default_rng([setup.seed, 7])
    channel = channel or FeedbackChannel()
    stream = setup.stream(steps, rng)
    steps = stream.size
    outcomes = log.correct[stream].astype(np.float64)
    costs = log.cost[stream].astype(np.float64)
    clusters = setup.clusters[stream]
    apply_events(list(events), log.models, outcomes, costs, clusters, log.accuracy)
    due, draws = channel.plan(steps, rng)

    arrivals = sorted((e for e in events if isinstance(e, Arrival)), key=lambda e: e.step)
    late = {e.model for e in arrivals}
    by_name = {p.name: p for p in setup.profiles}
    policy.warm_start(
        [p for p in setup.profiles if p.name not in late],
        cost_scale=setup.c_max,
        blend=setup.blend or None,
    )
    prices = sorted((e for e in events if isinstance(e, PriceChange)), key=lambda e: e.step)
    changes: list[tuple[int, int, Event]] = [(e.step, 0, e) for e in arrivals]
    changes += [(e.step, 1, e) for e in prices]
    changes.sort(key=lambda c: (c[0], c[1]))
    next_change = changes[0][0] if changes else steps

    ctx_of_step = stream_contexts(setup, stream)
    log_index = {m: j for j, m in enumerate(log.models)}
    pacer = BudgetPacer(budget, cost_scale=setup.c_max, start_lam=lam) if budget else None

    chosen = np.empty(steps, dtype=np.int64)
    lams = np.full(steps, lam)
    pending: list[tuple[int, int]] = []
    folded = 0
    t = 0
    try:
        for t in range(steps):
            while t >= next_change:
                _, _, ev = changes.pop(0)
                if isinstance(ev, Arrival):
                    policy.add_model(by_name[ev.model])
                elif isinstance(ev, PriceChange) and ev.model in policy.models:
                    policy.set_price(ev.model, ev.cost)
                next_change = changes[0][0] if changes else steps
            lam_t = pacer.lam if pacer is not None else lam
            ctx = ctx_of_step[t]
            decision = policy.select(ctx, lam=lam_t)
            j = log_index[decision.model]
            chosen[t] = j
            lams[t] = lam_t
            if pacer is not None:
                pacer.observe(costs[t, j])
            if due[t] == t:
                policy.update(
                    ctx,
                    decision.model,
                    channel.realise(outcomes[t, j], draws[t]),
                    kind=channel.kind,
                )
                folded += 1
            elif due[t] > t:
                heapq.heappush(pending, (int(due[t]), t))
            while pending and pending[0][0] <= t:
                _, s = heapq.heappop(pending)
                model = log.models[chosen[s]]
                if model in policy.models:
                    value = channel.realise(outcomes[s, chosen[s]], draws[s])
                    policy.update(ctx_of_step[s], model, value, kind=channel.kind)
                    folded += 1
            if labels is not None:
                labels.step(policy, t, ctx_of_step, outcomes, log.models)
            if progress is not None and (t + 1) % 1000 == 0:
                progress(t + 1)
        t = steps
    except KeyboardInterrupt:
        pass
    return Trace(
        policy=name,
        seed=setup.seed,
        lam=lam,
        chosen=chosen[:t],
        outcomes=outcomes[:t],
        costs=costs[:t],
        clusters=clusters[:t],
        lams=lams[:t],
        models=list(log.models),
        c_max=setup.c_max,
        feedback=folded,
        interrupted=t < steps,
        labelled=len(labels.labelled) if labels is not None else 0,
    )
