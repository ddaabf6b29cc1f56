"""Speed of the learning core and of the replay engines.

1. One ``select`` plus one ``update`` in-process, K = 64 clusters, M = 32 models.
2. Replay throughput for Thompson sampling on precomputed embeddings (routerbench_subset when
   the shared data is present, else the generated log), single process, one stream: the Python
   engine, the compiled engine, and a straightforward river replay of the same policy (one river
   ``ThompsonSampling`` per cluster, Beta rewards, label feedback), measured side by side; and
   the recommended ``default`` (prompt memory, drift guard, tempering) on both engines, against
   the same river loop (bar: the compiled ``default`` at least 20× river).
3. Start-up: wall time of ``routing-agent --help`` and ``routing-agent simulate --help`` in a
   fresh interpreter (beside a bare ``python -c pass``), and of loading the log.

    .venv/bin/python benchmarks/bench_replay.py
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from agent.embedder import HashingEmbedder  # noqa: E402
from agent.level_maps import default_levels  # noqa: E402
from agent.logs import ReplayLog, load_log  # noqa: E402
from agent.synthetic_log import generate_log  # noqa: E402
from agent.traffic_cells import DEFAULT_CELLS, leaf_params  # noqa: E402
from benchmarks.markdown import write_section  # noqa: E402
from policies import Context, ModelProfile, make_policy  # noqa: E402
from simulator import FeedbackChannel, Setup, prepare, replay  # noqa: E402
from simulator.fast import replay_fast  # noqa: E402
from simulator.traffic import with_traffic_cells  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "routerbench_subset"


def bench_select_update(name: str, repeats: int) -> float:
    """Median µs for one select + one update, K = 64, M = 32, hard contexts."""
    rng = np.random.default_rng(0)
    k, m = 64, 32
    profiles = [
        ModelProfile(f"m{j}", rng.integers(0, 20, k).astype(float), np.full(k, 20.0), rng.random())
        for j in range(m)
    ]
    policy = make_policy(name, seed=0).warm_start(profiles)
    contexts = [Context.hard(c, k=k) for c in range(k)]
    outcomes = rng.random(20_000) < 0.7
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for i in range(20_000):
            ctx = contexts[i % k]
            d = policy.select(ctx)
            policy.update(ctx, d.index, float(outcomes[i]))
        runs.append((time.perf_counter() - t0) / 20_000 * 1e6)
    return statistics.median(runs)


def river_replay(setup: Setup, steps: int) -> float:
    """Steps/s of the plain river loop: per-cluster ThompsonSampling(Beta), label feedback."""
    from river import bandit, proba

    log = setup.log
    rng = np.random.default_rng([setup.seed, 7])
    stream = setup.pool_idx[rng.integers(setup.pool_idx.size, size=steps)]
    draws = rng.random(steps)
    clusters = setup.clusters[stream]
    arms = list(log.models)
    index = {a: j for j, a in enumerate(arms)}
    bandits = [bandit.ThompsonSampling(reward_obj=proba.Beta(), seed=c) for c in range(setup.k)]
    t0 = time.perf_counter()
    for t in range(steps):
        b = bandits[clusters[t]]
        arm = b.pull(arms)
        b.update(arm, bool(draws[t] < log.correct[stream[t], index[arm]]))
    return steps / (time.perf_counter() - t0)


def bench_replays(log: ReplayLog, steps: int, repeats: int) -> dict[str, float]:
    emb = HashingEmbedder(dim=256).encode(log.prompts)  # precomputed; the engines never embed
    levels = default_levels(log)  # as `simulate` fits them: the task level where the log has one
    setup = prepare(log, emb, k=16, seed=0, levels=levels)
    flat = prepare(log, emb, k=16, seed=0, levels=())  # the same, without resolution levels
    channel = FeedbackChannel()
    for name in ("thompson", "default"):  # compile (cached on disk)
        replay_fast(setup, make_policy(name), name=name, steps=10)
    replay_fast(flat, make_policy("default"), name="default", steps=10)  # its own signature
    out: dict[str, list[float]] = {
        "sequential": [],
        "compiled": [],
        "river": [],
        "default": [],
        "default_compiled": [],
        "default_flat": [],
        "default_cells": [],
    }
    for r in range(repeats):
        t0 = time.perf_counter()
        replay(setup, make_policy("default", seed=r), name="d", steps=steps, channel=channel)
        out["default"].append(steps / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        replay_fast(setup, make_policy("default", seed=r), name="d", steps=steps, channel=channel)
        out["default_compiled"].append(steps / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        replay_fast(flat, make_policy("default", seed=r), name="d", steps=steps, channel=channel)
        out["default_flat"].append(steps / (time.perf_counter() - t0))
        setup.memo.clear()  # as `simulate` replays a seed: its traffic cells fitted first
        t0 = time.perf_counter()
        cells = with_traffic_cells(setup, steps, DEFAULT_CELLS)
        policy = make_policy("default", seed=r, **leaf_params(DEFAULT_CELLS))
        replay_fast(cells, policy, name="d", steps=steps, channel=channel)
        out["default_cells"].append(steps / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        replay(setup, make_policy("thompson", seed=r), name="t", steps=steps, channel=channel)
        out["sequential"].append(steps / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        replay_fast(setup, make_policy("thompson", seed=r), name="t", steps=steps, channel=channel)
        out["compiled"].append(steps / (time.perf_counter() - t0))
        out["river"].append(river_replay(setup, steps))
    ratios = [a / b for a, b in zip(out["compiled"], out["river"], strict=True)]
    seq_ratios = [a / b for a, b in zip(out["sequential"], out["river"], strict=True)]
    default_ratios = [a / b for a, b in zip(out["default"], out["river"], strict=True)]
    compiled_default = [a / b for a, b in zip(out["default_compiled"], out["river"], strict=True)]
    flat_default = [a / b for a, b in zip(out["default_flat"], out["river"], strict=True)]
    return {
        "default_ratio": statistics.median(default_ratios),
        "default_compiled_ratio": statistics.median(compiled_default),
        "default_flat_ratio": statistics.median(flat_default),
        **{k: statistics.median(v) for k, v in out.items()},
        "ratio": statistics.median(ratios),
        "seq_ratio": statistics.median(seq_ratios),
    }


def bench_startup(repeats: int) -> dict[str, float]:
    """Median wall seconds of a bare interpreter and of the CLI's help, each in a new process."""
    commands = {
        "`python -c pass`": [sys.executable, "-c", "pass"],
        "`routing-agent --help`": [sys.executable, "-m", "cli", "--help"],
        "`routing-agent simulate --help`": [sys.executable, "-m", "cli", "simulate", "--help"],
    }
    out = {}
    for label, cmd in commands.items():
        runs = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
            runs.append(time.perf_counter() - t0)
        out[label] = statistics.median(runs)
    return out


def bench_load(repeats: int, data: Path) -> tuple[str, float]:
    """Median seconds to load the replay log from disk."""
    if not data.exists():
        return "generated log (generate_log())", statistics.median(
            _timed(generate_log) for _ in range(repeats)
        )
    return f"`{data.name}` (load_log)", statistics.median(
        _timed(lambda: load_log(data)) for _ in range(repeats)
    )


def _timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument(
        "--data", type=Path, default=SHARED, help="the shared log (default: beside the checkout)"
    )
    args = parser.parse_args()
    core = {n: bench_select_update(n, args.repeats) for n in ("thompson", "greedy", "ucb")}
    log = load_log(args.data) if args.data.exists() else generate_log()
    r = bench_replays(log, args.steps, args.repeats)
    startup = bench_startup(args.repeats)
    load_name, load_s = bench_load(args.repeats, args.data)
    dc = r["default_compiled_ratio"]
    cells, cr = r["default_cells"], r["default_cells"] / r["river"]
    flat, fr = r["default_flat"], r["default_flat_ratio"]
    body = (
        f"""### One decision plus one update (K = 64, M = 32), median of {args.repeats} runs

| policy | µs per select + update |
|---|---:|
"""
        + "\n".join(f"| {n} | {v:.1f} |" for n, v in core.items())
        + f"""

### Replay throughput, Thompson sampling, `{log.name}`, {args.steps} steps, median of {args.repeats}

| engine | steps/s | vs river |
|---|---:|---:|
| river: plain loop, one `ThompsonSampling(Beta)` per cluster | {r["river"]:,.0f} | 1.0× |
| Python engine `simulator.sequential.replay` | {r["sequential"]:,.0f} | {r["seq_ratio"]:.1f}× |
| compiled engine `simulator.fast.replay_fast` (numba) | {r["compiled"]:,.0f} | {r["ratio"]:.1f}× |
| Python engine, `default` | {r["default"]:,.0f} | {r["default_ratio"]:.1f}× |
| compiled engine, `default` without its resolution levels | {flat:,.0f} | {fr:.1f}× |
| compiled engine, `default` | {r["default_compiled"]:,.0f} | {dc:.1f}× |
| compiled engine, `default` and its traffic cells, as simulate runs it | {cells:,.0f} | {cr:.1f}× |

Bar: the compiled engine replays `default` (prompt memory, drift guard, tempering, resolution
levels) at least 20× as fast as the river loop: **{"passes" if dc >= 20 else "fails"}** ({dc:.1f}×).

Each engine replays the same stream with the same feedback draws; ratios are medians of
per-repeat ratios measured in the same run. The timings include building the trace (the
counterfactual outcome and cost matrices), not the one-off embedding, clustering or JIT compile.
The compiled engine's Thompson sampling reveals each model's Beta draw only as far as the
choice needs it (which part of the posterior, lower tail, middle or upper tail, it falls in),
so most requests draw one value or none; its choices have exactly the distribution of drawing
every model (`simulator/samplers.py`, `simulator/lazy_pick.py`; the tests compare its choice
frequencies with quadrature). `default` averages each cluster's estimate with the prompt's
level cells (here its task cell, as `simulate` fits the levels of a log that names tasks), so
its order of models changes from prompt to prompt: it draws the model with the best possible
score first, then only those whose best case beats the best draw so far (the lazy pick sorts
the clusters' posteriors alone).
`default` on the compiled engine runs the learning core's own update formulas and drift detector
compiled (`policies/updates.py`, `policies/adwin.py`, through `simulator/compiled.py`), its
ADWIN per model included. `routing-agent simulate` takes the compiled engine whenever the policy
allows it (Thompson, greedy and static, `default` included, with drift and price-change events;
not with delayed feedback, model arrivals or app tags) and the Python engine otherwise; the
tests check that both make identical choices, raise the same drift alarms and end in the same
state for the deterministic rules, and match in distribution for Thompson sampling. The last
row adds what `simulate` does first for `default`: fitting its 32 traffic cells over the
stream (once per seed, reused across a sweep's λ grid), with the Router's own k-means step
(`agent.traffic_cells.assign_stream`) compiled.

### Start-up, median of {args.repeats} runs, each in a new process

| command | wall seconds |
|---|---:|
"""
        + "\n".join(f"| {label} | {v:.2f} |" for label, v in startup.items())
        + f"""
| loading {load_name}, in-process | {load_s:.2f} |

The command line parses its arguments before it imports a subcommand's modules, so `--help`
costs little more than the interpreter itself.
"""
    )
    write_section("Learning core and replay speed", "python benchmarks/bench_replay.py", body)
    print(body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
