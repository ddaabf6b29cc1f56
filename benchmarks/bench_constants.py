"""``default``'s constants, chosen leave-one-log-out on the learning matrix.

The constants that shape ``default``'s decisions are its Thompson width ``explore``, how far
its careful learner may move (``careful``, in the warm start's standard errors) and the shift
at which its fast learner takes over (``shift_odds``'s threshold ``c``). Each candidate changes
one of them from the shipped value (a coordinate search around it, not a full grid: a grid of
3³ settings over 19 cases does not fit this machine's budget). Every candidate replays
``default`` on every case of :mod:`benchmarks.bench_matrix` with the same seeds and setups
(paired), and scores utility per 1,000 requests against the best single model.

Leave-one-log-out: for each log, the candidate with the best mean over the *other three*
logs' cases (each case weighted alike) is chosen, and its figure on the held-out log is set
beside the shipped constants'. A constant whose held-out choice is the shipped value on every
log was not fitted to any one log; one that is not says where the shipped value loses.

    .venv/bin/python benchmarks/bench_constants.py [--seeds N] [--no-write]
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.bench_matrix import (  # noqa: E402
    DATA,
    LOGS,
    cases,
    default_with,
    fmt,
    per_1000,
    prepared,
)
from benchmarks.markdown import write_section  # noqa: E402
from simulator.experiment import run_seeds  # noqa: E402

#: (name, ``default``'s parameters): the shipped constants first, then one change each.
CANDIDATES: list[tuple[str, dict[str, Any]]] = [
    ("shipped (explore 0.5, careful 0.5, shift c 4)", {}),
    ("explore 0.25", {"explore": 0.25}),
    ("explore 1.0", {"explore": 1.0}),
    ("careful 0.25", {"careful": 0.25}),
    ("careful 1.0", {"careful": 1.0}),
    ("shift c 3", {"shift_odds": (2.0, 3.0)}),
    ("shift c 6", {"shift_odds": (2.0, 6.0)}),
]


def run(seeds: int) -> dict[str, dict[str, list[np.ndarray]]]:
    """Per candidate, per log: each case's per-seed utility per 1,000 requests."""
    out: dict[str, dict[str, list[np.ndarray]]] = {n: {k: [] for k in LOGS} for n, _ in CANDIDATES}
    for case in cases():
        started = time.perf_counter()
        exp, built = prepared(case, seeds)
        for name, params in CANDIDATES:
            out[name][case.log].append(
                per_1000(run_seeds(built, default_with(exp, {}, params), "default"))
            )
        print(
            f"{case.log} {case.name} ({time.perf_counter() - started:.0f} s)",
            file=sys.stderr,
            flush=True,
        )
    return out


def log_means(results: dict[str, dict[str, list[np.ndarray]]]) -> dict[str, dict[str, float]]:
    """Per candidate, per log: the mean over that log's cases of each case's seed mean."""
    return {
        n: {k: float(np.mean([c.mean() for c in cells])) for k, cells in per_log.items()}
        for n, per_log in results.items()
    }


def held_out(means: dict[str, dict[str, float]], results: dict[str, Any]) -> list[dict[str, Any]]:
    """For each log, the candidate best on the other logs' cases, and how it does there."""
    rows = []
    for log in LOGS:
        chosen = max(means, key=functools.partial(_score_without, results, log))
        shipped = CANDIDATES[0][0]
        diff = [a - b for a, b in zip(results[chosen][log], results[shipped][log], strict=True)]
        rows.append(
            {
                "log": log,
                "chosen": chosen,
                "chosen_here": means[chosen][log],
                "shipped_here": means[shipped][log],
                "paired": np.concatenate(diff),
            }
        )
    return rows


def _score_without(results: dict[str, dict[str, list[np.ndarray]]], log: str, name: str) -> float:
    """Candidate ``name``'s mean of each case's seed mean over every log but ``log``."""
    cells = [c.mean() for k, per in results[name].items() if k != log for c in per]
    return float(np.mean(cells))


def tables(results: dict[str, dict[str, list[np.ndarray]]]) -> str:
    means = log_means(results)
    head = "| candidate | " + " | ".join(LOGS[k] for k in LOGS) + " | all cases |"
    lines = [head, "|---|" + "---:|" * (len(LOGS) + 1)]
    for name, per_log in means.items():
        every = np.mean([c.mean() for cells in results[name].values() for c in cells])
        lines.append(
            f"| {name} | " + " | ".join(f"{per_log[k]:+.1f}" for k in LOGS) + f" | {every:+.1f} |"
        )
    loo = [
        "| held-out log | chosen on the other three | it, held out | shipped, held out | "
        "chosen − shipped per case-seed |",
        "|---|---|---:|---:|---:|",
    ]
    for r in held_out(means, results):
        loo.append(
            f"| {LOGS[r['log']]} | {r['chosen']} | {r['chosen_here']:+.1f} | "
            f"{r['shipped_here']:+.1f} | {fmt(r['paired'])} |"
        )
    return "\n".join(lines) + "\n\n" + "\n".join(loo)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3, help="seeds per case (default 3)")
    ap.add_argument("--no-write", action="store_true", help="print, don't touch BENCHMARKS.md")
    args = ap.parse_args(argv)
    if not DATA.is_dir():
        print(f"skipped: the shared logs are not at {DATA}", file=sys.stderr)
        return 0
    text = (
        "`default`'s utility per 1,000 requests against the best single model, mean over each "
        f"log's matrix cases ({args.seeds} seeds each, the same for every candidate), then "
        "the leave-one-log-out choice:\n\n" + tables(run(args.seeds))
    )
    print(text)
    if not args.no_write:
        command = f".venv/bin/python benchmarks/bench_constants.py --seeds {args.seeds}"
        write_section("Constants, leave-one-log-out", command, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
