"""Speed of the learning core and of the replay engine.

1. One ``select`` plus one ``update`` in-process, K = 64 clusters, M = 32 models.
2. Replay throughput on precomputed embeddings (routerbench_subset when the shared data is
   present, else the generated log), single process, one stream: ``static``, Thompson
   sampling and ``default`` on the replay engine, beside a straightforward river replay (one
   river ``ThompsonSampling`` per cluster, Beta rewards, label feedback), measured side by
   side as ratios; and the whole learning matrix's replays (:mod:`benchmarks.bench_matrix`)
   in seconds at that speed.
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
from benchmarks.markdown import write_section  # noqa: E402
from policies import Context, ModelProfile, make_policy  # noqa: E402
from simulator import FeedbackChannel, Setup, prepare, replay  # noqa: E402

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
    """Median steps/s of each policy on the replay engine and of the river loop, and the
    median of per-repeat ratios to river (measured in the same run)."""
    emb = HashingEmbedder(dim=256).encode(log.prompts)  # precomputed; the engine never embeds
    setup = prepare(log, emb, k=16, seed=0, levels=default_levels(log))  # as `simulate` does
    channel = FeedbackChannel()
    runs = {
        "static": ("static", {}),
        "thompson": ("thompson", {}),
        "default": ("default", {}),
    }
    out: dict[str, list[float]] = {name: [] for name in [*runs, "river"]}
    for r in range(repeats):
        for label, (name, params) in runs.items():
            policy = make_policy(name, seed=r, **params)
            t0 = time.perf_counter()
            replay(setup, policy, name=name, steps=steps, channel=channel)
            out[label].append(steps / (time.perf_counter() - t0))
        out["river"].append(river_replay(setup, steps))
    medians = {k: statistics.median(v) for k, v in out.items()}
    ratios = {
        f"{k} ratio": statistics.median(a / b for a, b in zip(v, out["river"], strict=True))
        for k, v in out.items()
        if k != "river"
    }
    return medians | ratios


def matrix_steps() -> int:
    """The replay steps of the learning matrix: ``default``, its frozen twin, ``static`` and
    the plain ``bandit`` on every case and seed (:mod:`benchmarks.bench_matrix`), from each
    case's stream length."""
    from benchmarks.bench_matrix import cases, prepared

    total = 0
    for case in cases():
        exp, built = prepared(case, None)
        total += 4 * exp.steps * len(built)
    return total


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
    names = ("thompson", "greedy", "ucb", "default")
    core = {n: bench_select_update(n, args.repeats) for n in names}
    log = load_log(args.data) if args.data.exists() else generate_log()
    r = bench_replays(log, args.steps, args.repeats)
    startup = bench_startup(args.repeats)
    load_name, load_s = bench_load(args.repeats, args.data)
    matrix = matrix_steps() if args.data.exists() else 0
    rows = "\n".join(
        f"| {k} | {r[k]:,.0f} | {r[k + ' ratio']:.2f}× |" for k in ("static", "thompson", "default")
    )
    body = (
        f"""### One decision plus one update (K = 64, M = 32), median of {args.repeats} runs

| policy | µs per select + update |
|---|---:|
"""
        + "\n".join(f"| {n} | {v:.1f} |" for n, v in core.items())
        + f"""

### Replay throughput, `{log.name}`, {args.steps} steps, median of {args.repeats}

| policy | steps/s | vs river |
|---|---:|---:|
| river: plain loop, one `ThompsonSampling(Beta)` per cluster | {r["river"]:,.0f} | 1.0× |
{rows}

Each row replays the same stream with the same feedback draws on `simulator.sequential.replay`
(the only engine), the trace (the counterfactual outcome and cost matrices) included, not the
one-off embedding, clustering or task map; ratios are medians of per-repeat ratios measured in
the same run.

The learning matrix (`benchmarks/bench_matrix.py`: `static`, `default`, its frozen twin and the
plain `bandit` on every case and seed) replays {matrix:,} steps: about
{matrix / r["default"] / 60:.0f} minutes at `default`'s speed here, before fitting the seeds'
clusters and task maps. That is why the compiled (numba) engine was dropped: it ran the old
`default` 17-30× as fast as the river loop, but each mechanism had to be written twice (Python
and numba), its Thompson draws came from another generator so the two engines agreed only in
distribution, and a cold numba cache cost minutes in CI; the one engine makes the same choices
as the Router, seed for seed.

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
