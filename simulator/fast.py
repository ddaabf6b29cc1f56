"""The fast replay path: the compiled kernel behind the same interface as the Python engine."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from policies import BudgetPacer, Greedy, Policy, StaticUniRoute, Thompson
from simulator import kernel
from simulator.channel import FeedbackChannel
from simulator.protocol import Setup
from simulator.sequential import Trace

CHUNK = 50_000  # steps per kernel call: progress and Ctrl-C are honoured between chunks
_RULES = {Thompson: kernel.THOMPSON, Greedy: kernel.GREEDY, StaticUniRoute: kernel.STATIC}
_KINDS = {"label": kernel.LABEL, "score": kernel.SCORE, "thumbs": kernel.THUMBS}


def supports(
    policy: Policy, channel: FeedbackChannel, events: Sequence[object], n_prompts: int = 0
) -> bool:
    """Whether the kernel can replay this: Thompson, greedy or static; no drift guard, no
    discount, no delayed feedback and no scenario events (those take the Python engine), and a
    prompt memory large enough never to evict one of the log's ``n_prompts`` prompts."""
    return (
        type(policy) in _RULES
        and not policy.drift
        and policy.discount == 1.0
        and channel.delay == 0
        and not events
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
    budget: float | None = None,
    progress: Callable[[int], None] | None = None,
) -> Trace:
    """Like :func:`simulator.sequential.replay` (same stream, same feedback draws), compiled."""
    channel = channel or FeedbackChannel()
    log = setup.log
    if setup.tags or not supports(policy, channel, (), log.n_prompts):
        raise ValueError(
            f"the compiled replay cannot run {type(policy).__name__} with these options"
            + (" (it has no tags)" if setup.tags else "")
        )
    rng = np.random.default_rng([setup.seed, 7])
    prompts = setup.stream(steps, rng)
    steps = prompts.size
    due, draws = channel.plan(steps, rng)
    policy.warm_start(setup.profiles, cost_scale=setup.c_max)
    post = policy.posterior
    static = type(policy) is StaticUniRoute
    items = np.zeros((log.n_prompts if post.items is not None else 0, 3, log.n_models))
    alpha = (post.alpha0 if static else post.alpha).copy()
    beta = (post.beta0 if static else post.beta).copy()
    leaves = setup.leaves[prompts] if post.leaf_s.shape[0] else np.full(steps, -1)
    kernel.seed(int(policy._rng.integers(2**31)))
    chosen = np.empty(steps, dtype=np.int64)
    lams = np.empty(steps)
    info = np.array([float(policy._decided), policy._evidence])
    pacer = BudgetPacer(budget or 1.0, cost_scale=setup.c_max, start_lam=lam)
    pace = np.array([pacer.rate, pacer.lam_min, pacer.lam_max])
    lam_t = pacer.lam if budget is not None else lam
    done = 0
    try:
        while done < steps:
            end = min(done + CHUNK, steps)
            lam_t = kernel.run_stream(
                alpha,
                beta,
                post.leaf_s,
                post.leaf_f,
                post.leaf_strength,
                _RULES[type(policy)],
                float(getattr(policy, "pool_exploration", 1.0)),
                float(getattr(policy, "info_tempering", 0.0)),
                info,
                policy.costs / setup.c_max,
                lam_t,
                -1.0 if budget is None else budget / setup.c_max,
                pace,
                prompts[done:end],
                setup.clusters[prompts[done:end]],
                leaves[done:end],
                log.correct,
                log.cost,
                setup.c_max,
                due[done:end] >= 0,
                draws[done:end],
                _KINDS[channel.kind],
                channel.thumbs[0],
                channel.thumbs[1],
                chosen[done:end],
                lams[done:end],
                post.item_strength,
                items,
            )
            done = end
            if progress is not None:
                progress(done)
    except KeyboardInterrupt:
        pass
    if not static:
        post.alpha, post.beta = alpha, beta
    if post.items is not None:
        seen = np.flatnonzero(items[:, 2].any(axis=1))
        post.items.load_dense(seen, items[seen])
    policy._decided, policy._evidence = int(info[0]), float(info[1])
    return Trace(
        policy=name,
        seed=setup.seed,
        lam=lam,
        chosen=chosen[:done],
        outcomes=log.correct[prompts[:done]].astype(np.float64),
        costs=log.cost[prompts[:done]].astype(np.float64),
        clusters=setup.clusters[prompts[:done]],
        lams=lams[:done],
        models=list(log.models),
        c_max=setup.c_max,
        feedback=int((due[:done] >= 0).sum()),
        interrupted=done < steps,
    )
