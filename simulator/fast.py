"""The fast replay path: the compiled kernel behind the same interface as the Python engine."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from policies import BudgetPacer, Greedy, Policy, StaticUniRoute, Thompson
from policies.levels import Levels
from simulator import kernel
from simulator import kernel_learn as kl
from simulator.channel import FeedbackChannel
from simulator.protocol import Setup
from simulator.scenario import Arrival, Event, PriceChange, apply_events
from simulator.sequential import Trace

CHUNK = 50_000  # steps per kernel call: progress and Ctrl-C are honoured between chunks
_RULES = {Thompson: kernel.THOMPSON, Greedy: kernel.GREEDY, StaticUniRoute: kernel.STATIC}
_KINDS = {"label": kernel.LABEL, "score": kernel.SCORE, "thumbs": kernel.THUMBS}


def supports(
    policy: Policy, channel: FeedbackChannel, events: Sequence[object], n_prompts: int = 0
) -> bool:
    """Whether the kernel can replay this: Thompson, greedy or static (static without a drift
    guard); no delayed feedback and no model arrivals (those take the Python engine; drift and
    price changes it replays), and a prompt memory large enough never to evict one of the log's
    ``n_prompts`` prompts."""
    return (
        type(policy) in _RULES
        and not (type(policy) is StaticUniRoute and policy.drift)
        and channel.delay == 0
        and not any(isinstance(e, Arrival) for e in events)
        and (policy.item_strength == 0 or n_prompts <= policy.max_items)
    )


def replay_fast(
    setup: Setup,
    policy: Policy,
    *,
    name: str,
    steps: int,
    lam: float = 0.1,
    channel: FeedbackChannel | None = None,
    events: Sequence[Event] = (),
    budget: float | None = None,
    progress: Callable[[int], None] | None = None,
) -> Trace:
    """Like :func:`simulator.sequential.replay` (same stream, same feedback draws, the same
    drift and price-change events), compiled."""
    channel = channel or FeedbackChannel()
    log = setup.log
    if setup.tags or not supports(policy, channel, events, log.n_prompts):
        raise ValueError(
            f"the compiled replay cannot run {type(policy).__name__} with these options"
            + (" (it has no tags)" if setup.tags else "")
        )
    rng = np.random.default_rng([setup.seed, 7])
    prompts = setup.stream(steps, rng)
    steps = prompts.size
    outcomes = np.asarray(log.correct, dtype=np.float64)[prompts]  # one copy, not two
    costs = np.asarray(log.cost, dtype=np.float64)[prompts]
    clusters = setup.clusters[prompts].astype(np.int64)  # one compiled signature
    apply_events(list(events), log.models, outcomes, costs, clusters, log.accuracy)
    prices = sorted((e for e in events if isinstance(e, PriceChange)), key=lambda e: e.step)
    due, draws = channel.plan(steps, rng)
    given = due >= 0
    policy.warm_start(setup.profiles, cost_scale=setup.c_max, level_weights=setup.level_weights)
    post = policy.posterior
    static = type(policy) is StaticUniRoute
    cells = np.stack([post.alpha0 if static else post.alpha, post.beta0 if static else post.beta])
    cells = np.concatenate([cells, np.stack([post.alpha0, post.beta0])])
    leaf_sf = np.stack([post.leaf_s, post.leaf_f])
    items = np.zeros((log.n_prompts if post.items is not None else 0, 3, log.n_models))
    guard = policy.drift_guard
    if guard is not None:
        guard_b, guard_s = guard.stacked(policy.models)
    else:
        guard_b, guard_s = np.zeros((0, 1, 1, 2)), np.zeros((0, 1))
    if not post.leaf_s.shape[0]:
        leaves = np.full(steps, -1, dtype=np.int64)
    elif setup.step_leaves is not None:
        leaves = setup.step_leaves[:steps].astype(np.int64)
    else:
        leaves = setup.leaves[prompts].astype(np.int64)
    lv, lv_rows, lw = _level_grid(
        post.levels, setup.cells[prompts] if post.levels is not None else None, steps
    )
    kernel.seed(policy.draw_seed())
    chosen = np.empty(steps, dtype=np.int64)
    lams = np.empty(steps)
    alarms = np.empty((min(CHUNK, steps), 3), dtype=np.int64)
    updates, decided, evidence = policy.counters
    info = np.array([float(decided), evidence, float(updates), 0.0])
    pacer = BudgetPacer(budget or 1.0, cost_scale=setup.c_max, start_lam=lam)
    cfg = _settings(policy, channel, pacer, budget, setup.c_max)
    lam_t = pacer.lam if budget is not None else lam
    found: list[tuple[int, int, int]] = []
    done = 0
    try:
        while done < steps:
            while prices and prices[0].step <= done:
                policy.set_price(prices[0].model, prices.pop(0).cost)
            end = min(done + CHUNK, steps, prices[0].step if prices else steps)
            lam_t = kernel.run_stream(
                cells,
                leaf_sf,
                items,
                guard_b,
                guard_s,
                policy.costs,
                cfg,
                info,
                lam_t,
                prompts[done:end],
                clusters[done:end],
                leaves[done:end],
                given[done:end],
                draws[done:end],
                outcomes[done:end],
                costs[done:end],
                chosen[done:end],
                lams[done:end],
                alarms,
                lv,
                lv_rows[done:end],
                lw,
            )
            found += [(t, arm, k) for t, arm, k in alarms[: int(info[3])].tolist()]
            done = end
            if progress is not None:
                progress(done)
    except KeyboardInterrupt:
        pass
    if not static:
        post.alpha, post.beta, post.alpha0, post.beta0 = cells
        post.leaf_s, post.leaf_f = leaf_sf
        if post.levels is not None:
            cut = np.cumsum(post.levels.sizes)[:-1]
            for name, grid in zip(("alpha", "beta", "alpha0", "beta0"), lv, strict=True):
                setattr(post.levels, name, np.split(grid, cut))
    if post.items is not None:
        keys = _by_last_use(prompts[:done][given[:done]], log.n_prompts)
        post.items.load_dense(keys, items[keys])
    if guard is not None:
        guard.unstack(policy.models, guard_b, guard_s)
        for t, arm, k in found:
            guard.record(t, policy.models[arm], k)
    policy.set_counters(int(info[2]), int(info[0]), float(info[1]))
    return Trace(
        policy=name,
        seed=setup.seed,
        lam=lam,
        chosen=chosen[:done],
        outcomes=outcomes[:done],
        costs=costs[:done],
        clusters=clusters[:done],
        lams=lams[:done],
        models=list(log.models),
        c_max=setup.c_max,
        feedback=int(given[:done].sum()),
        interrupted=done < steps,
    )


def _settings(
    policy: Policy,
    channel: FeedbackChannel,
    pacer: BudgetPacer,
    budget: float | None,
    c_max: float,
) -> np.ndarray:
    """The kernel's ``cfg`` array for this policy, channel and budget."""
    cfg = np.zeros(kl.N_CFG)
    cfg[kl.RULE] = _RULES[type(policy)]
    cfg[kl.EXPLORE] = float(getattr(policy, "pool_exploration", 1.0))
    cfg[kl.TEMPERING] = float(getattr(policy, "info_tempering", 0.0))
    post = policy.posterior
    cfg[kl.LEAF_STRENGTH] = post.leaf_strength
    cfg[kl.ITEM_STRENGTH] = post.item_strength
    cfg[kl.COST_SCALE] = policy.cost_scale
    cfg[kl.TARGET] = -1.0 if budget is None else budget
    cfg[kl.PACE_SCALE], cfg[kl.RATE] = pacer.cost_scale, pacer.rate
    cfg[kl.LAM_MIN], cfg[kl.LAM_MAX] = pacer.lam_min, pacer.lam_max
    cfg[kl.KIND] = _KINDS[channel.kind]
    cfg[kl.THUMBS_A], cfg[kl.THUMBS_B] = post.noise.a, post.noise.b
    cfg[kl.CHANNEL_A], cfg[kl.CHANNEL_B] = channel.thumbs
    cfg[kl.DISCOUNT] = post.discount
    cfg[kl.STALE_STRENGTH] = post.stale_strength
    guard = policy.drift_guard
    if guard is not None:
        cfg[kl.DRIFT] = 1.0
        cfg[kl.DELTA], cfg[kl.CLOCK], cfg[kl.MIN_LENGTH], cfg[kl.GRACE] = guard.settings
        cfg[kl.KEEP], cfg[kl.PRIOR_STRENGTH] = guard.keep, guard.prior_strength
    return cfg


def _level_grid(
    levels: Levels | None, cells: np.ndarray | None, steps: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The kernel's level cells: every level's (α, β, α0, β0) stacked into one (4, rows, M)
    grid, each step's rows in it (``cells``: each step's cell per level) and each row's
    level weight."""
    if levels is None or cells is None:
        m = 0 if levels is None else levels.alpha[0].shape[1]
        return np.zeros((4, 0, m)), np.zeros((steps, 0), dtype=np.int64), np.zeros(0)
    grid = np.stack(
        [np.concatenate(x) for x in (levels.alpha, levels.beta, levels.alpha0, levels.beta0)]
    )
    offsets = np.concatenate([[0], np.cumsum(levels.sizes)[:-1]])
    weights = np.repeat(np.asarray(levels.weights, dtype=np.float64), levels.sizes)
    return grid, (cells + offsets).astype(np.int64), weights


def _by_last_use(keys: np.ndarray, n_keys: int) -> np.ndarray:
    """The distinct ``keys`` (below ``n_keys``), least recently seen first (a prompt memory's
    LRU order)."""
    last = np.full(n_keys, -1)
    np.maximum.at(last, keys, np.arange(keys.size))
    seen = np.flatnonzero(last >= 0)
    return seen[np.argsort(last[seen])]
