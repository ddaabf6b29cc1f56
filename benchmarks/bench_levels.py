"""Levels: `default` on its clusters alone, with K-means levels, and with the task level.

Same cases, seeds and streams as `bench_learning.py` (fresh prompts, λ = 0.1, K = 16). Each
seed's split and clusters are prepared three times: with the clusters alone (`--levels none`),
with K-means maps at 8, 32 and 64 cells beside them (what a log without task names gets), and
with the task level (`--levels task`: a classifier of the fit prompts' tasks, counted five
times a cluster; what `default` ships for a log that names tasks). The table gives the
seed-paired differences, and how often the task map puts a streamed prompt in its own task.
Written into BENCHMARKS.md as "Multi-resolution levels".

    .venv/bin/python benchmarks/bench_levels.py [--seeds 10]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from agent.level_maps import TASK  # noqa: E402
from agent.logs import ReplayLog  # noqa: E402
from agent.task_map import TASK_WEIGHT, TaskMap  # noqa: E402
from benchmarks.bench_quality import logs  # noqa: E402
from benchmarks.fresh_cases import Case, case_regrets, cases, prepared_case  # noqa: E402
from benchmarks.markdown import write_section  # noqa: E402
from policies.levels import DEFAULT_LEVELS  # noqa: E402
from simulator.data import make_embedder  # noqa: E402
from simulator.protocol import Setup  # noqa: E402

#: The level settings compared, by column.
SETTINGS: dict[str, tuple[int | str, ...]] = {
    "none": (),
    "k-means": tuple(DEFAULT_LEVELS),
    "task": (TASK,),
}


def task_accuracy(setup: Setup) -> float:
    """Share of the setup's held-out in-domain prompts (its replay pool) whose task cell is
    their own task (NaN without a task level)."""
    maps = [m for m in setup.level_maps if isinstance(m, TaskMap)]
    if not maps:
        return float("nan")
    rows = setup.pool_idx
    column = list(setup.level_maps).index(maps[0])
    names = np.asarray(maps[0].names_, dtype=object)[setup.cells[rows, column]]
    return float(np.mean(names == np.asarray(setup.log.tasks, dtype=object)[rows]))


def regrets(
    log: ReplayLog, emb: np.ndarray, case: Case, seeds: int
) -> tuple[dict[str, np.ndarray], float]:
    """Regret vs the cluster oracle per seed: static, then `default` under each setting; and
    the task map's mean accuracy on the streamed prompts."""
    out, accuracy = {}, float("nan")
    for label, levels in SETTINGS.items():
        exp, prepared = prepared_case(log, emb, case, seeds, levels=levels)
        if not levels:
            out["static"] = case_regrets(prepared, exp, "static")
        if TASK in levels:
            accuracy = float(np.mean([task_accuracy(s) for s in prepared]))
        out[label] = case_regrets(prepared, exp, "default")
    return out, accuracy


def effect(diff: np.ndarray) -> str:
    """ "better" or "worse" where the seed-paired mean is over two standard errors from zero."""
    se = diff.std(ddof=1) / np.sqrt(diff.size) if diff.size > 1 else np.inf
    if abs(diff.mean()) <= 2 * se:
        return "within noise"
    return "better" if diff.mean() < 0 else "worse"


def row(case: Case, r: dict[str, np.ndarray], accuracy: float) -> tuple[str, str, str]:
    static = r["static"].mean()
    cells = [f"{static:.0f}", *(f"{r[k].mean():.0f}" for k in SETTINGS)]
    vs_none, vs_kmeans = r["task"] - r["none"], r["task"] - r["k-means"]
    said = (effect(vs_none), effect(vs_kmeans))
    diffs = zip((vs_none, vs_kmeans), said, strict=True)
    cells += [f"{d.mean():+.0f} ± {d.std():.0f} ({s})" for d, s in diffs]
    cells += [" → ".join(f"{r[k].mean() / static:.2f}" for k in SETTINGS), f"{accuracy:.0%}"]
    return f"| {case.log} | {case.label} | {' | '.join(cells)} |", *said


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args()
    embedder = make_embedder("minilm")
    by_name = {log.name: log for log in logs()}
    todo = [c for c in cases() if c.log in by_name]
    rows: list[str] = []
    better: dict[str, list[str]] = {"none": [], "k-means": []}
    worse: dict[str, list[str]] = {"none": [], "k-means": []}
    for i, case in enumerate(todo, 1):
        print(f"[{i}/{len(todo)}] {case.log}: {case.label}", file=sys.stderr, flush=True)
        log = by_name[case.log]
        r, accuracy = regrets(log, embedder.encode(log.prompts), case, args.seeds)
        text, *said = row(case, r, accuracy)
        for ref, verdict in zip(("none", "k-means"), said, strict=True):
            if verdict != "within noise":
                (better if verdict == "better" else worse)[ref].append(f"{case.log} {case.label}")
        rows.append(text)
        print(text, flush=True)

    def listed(names: list[str]) -> str:
        return "; ".join(names) or "none"

    kmeans = ", ".join(str(k) for k in DEFAULT_LEVELS)
    body = (
        "`default` averages its cluster's estimate with the prompt's cells at its levels, each "
        "cell a Beta per model warm-started from the validation profile at that level and "
        "updated by every piece of feedback; a decision's mean is the weighted average of the "
        "cluster's and the cells' means, its spread the cluster's; in a traffic cell (a leaf) "
        "the leaf refines instead (`policies.levels`). Three settings on the same splits and "
        f"clusters: no levels (`--levels none`); K-means maps at {kmeans} cells, each weighing "
        "as much as the cluster (what a log that names no tasks gets); and the task level "
        "(`--levels task`, what `default` gets for a log that names tasks): a multinomial "
        "logistic regression from embedding to the log's `dataset`, fitted on the fit prompts "
        "(their task names only, no model outcome: under `--val-size 20` it still learns from "
        f"all of them), one cell per task, weighing {TASK_WEIGHT:.0f} times the cluster. Cases, "
        f'seeds and streams as in "Learning on new prompts" ({args.seeds} seeds, fresh '
        "prompts, λ = 0.1, K = 16); regret vs the cluster oracle, mean over seeds; *Δ* is the "
        "seed-paired difference the task level makes (mean ± sd, negative: better; in brackets "
        "whether it is over two standard errors from zero); *share of static* is `default`'s "
        "regret over static's under each setting; *task map* is the share of held-out "
        "in-domain prompts it puts in their own task (under `--shift` the streamed datasets "
        "are not among its tasks at all). Over two standard errors better than no levels on "
        f"{listed(better['none'])}, worse on {listed(worse['none'])}; better than K-means "
        f"levels on {listed(better['k-means'])}, worse on {listed(worse['k-means'])}."
        "\n\n| log | case | static | default, no levels | K-means levels | task level "
        "| Δ task − none | Δ task − K-means | share of static | task map |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n" + "\n".join(rows) + "\n"
    )
    write_section("Multi-resolution levels", "python benchmarks/bench_levels.py", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
