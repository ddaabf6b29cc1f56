"""Multi-resolution levels: the learning rules with and without their extra resolutions.

Same cases, seeds and streams as `bench_learning.py` (fresh prompts, λ = 0.1, K = 16). Each
seed's setup is prepared twice on the same split and clusters: once with the clusters alone
(`--levels none`) and once with K-means maps at 8, 32 and 64 cells beside them, as `default`
ships (:mod:`policies.levels`); greedy (given ``multires``) and `default` replay on both, and
the table gives the seed-paired difference. Written into BENCHMARKS.md as "Multi-resolution
levels".

    .venv/bin/python benchmarks/bench_levels.py [--seeds 10] [--levels 8,32,64]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from agent.logs import ReplayLog  # noqa: E402
from benchmarks.bench_learning import Case, case_regrets, cases, prepared_case  # noqa: E402
from benchmarks.bench_quality import logs  # noqa: E402
from benchmarks.markdown import write_section  # noqa: E402
from simulator.data import make_embedder  # noqa: E402

RULES = ("greedy", "default")


def regrets(
    log: ReplayLog, emb: np.ndarray, case: Case, seeds: int, levels: tuple[int, ...]
) -> dict[str, np.ndarray]:
    """Regret vs the cluster oracle per seed: static, then each rule without and with levels."""
    out = {}
    for lv in ((), levels):
        params = {"greedy": {"multires": True}}
        exp, prepared = prepared_case(log, emb, case, seeds, levels=lv, policy_params=params)
        for name in ("static", *RULES) if not lv else RULES:
            out[name + ("+levels" if lv else "")] = case_regrets(prepared, exp, name)
    return out


def effect(diff: np.ndarray) -> str:
    """ "better" or "worse" where the seed-paired mean is over two standard errors from zero."""
    se = diff.std(ddof=1) / np.sqrt(diff.size) if diff.size > 1 else np.inf
    if abs(diff.mean()) <= 2 * se:
        return "within noise"
    return "better" if diff.mean() < 0 else "worse"


def row(case: Case, r: dict[str, np.ndarray]) -> tuple[str, str]:
    static = r["static"].mean()
    cells = [f"{static:.0f}"]
    for name in RULES:
        diff = r[name + "+levels"] - r[name]
        cells += [
            f"{r[name].mean():.0f}",
            f"{r[name + '+levels'].mean():.0f}",
            f"{diff.mean():+.0f} ± {diff.std():.0f}",
        ]
    said = effect(r["default+levels"] - r["default"])
    shares = (r["default"].mean() / static, r["default+levels"].mean() / static)
    cells += [said, f"{shares[0]:.2f} → {shares[1]:.2f}"]
    return f"| {case.log} | {case.label} | {' | '.join(cells)} |", said


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--levels", default="8,32,64")
    args = parser.parse_args()
    levels = tuple(int(k) for k in args.levels.split(","))
    embedder = make_embedder("minilm")
    by_name = {log.name: log for log in logs()}
    todo = [c for c in cases() if c.log in by_name]
    rows: list[str] = []
    effects: dict[str, list[str]] = {"better": [], "worse": []}
    lower = 0
    for i, case in enumerate(todo, 1):
        print(f"[{i}/{len(todo)}] {case.log}: {case.label}", file=sys.stderr, flush=True)
        log = by_name[case.log]
        r = regrets(log, embedder.encode(log.prompts), case, args.seeds, levels)
        text, said = row(case, r)
        effects.get(said, []).append(f"{case.log} {case.label}")
        lower += bool(r["default+levels"].mean() < r["default"].mean())
        rows.append(text)
        print(text, flush=True)
    shown = ", ".join(str(k) for k in levels)
    body = (
        f"`default` averages its clusters' estimates with cells of K-means maps at {shown} "
        "cells fitted on the same fit prompts, each cell a Beta per model warm-started from "
        "the validation profile at its resolution and updated by every piece of feedback; a "
        "decision's mean is the average of its cluster's and its cells' means, its spread the "
        "cluster's; in a traffic cell (a leaf) the leaf refines instead (`policies.levels`). "
        "Beside it, the same setups without the levels (`--levels none`), and greedy with and "
        'without them (`multires`). Cases, seeds and streams as in "Learning on new '
        f'prompts" ({args.seeds} seeds, fresh prompts, λ = 0.1, K = 16); regret vs the cluster '
        "oracle, mean over seeds; *Δ* is the seed-paired difference the levels make (mean ± "
        "sd, negative: better); *levels* says whether `default`'s Δ is over two standard errors "
        "from zero; *share of static* is `default`'s regret over static's, without → with. "
        f"With levels, `default`'s regret is lower on {lower} of {len(rows)} cases; over two "
        f"standard errors lower on {'; '.join(effects['better']) or 'none'}, and higher on "
        f"{'; '.join(effects['worse']) or 'none'}."
        "\n\n| log | case | static | greedy | greedy + levels | Δ | default without levels "
        "| default | Δ | levels | share of static |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|\n" + "\n".join(rows) + "\n"
    )
    write_section("Multi-resolution levels", "python benchmarks/bench_levels.py", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
