"""Multi-resolution levels (`--levels`): the learning rules with and without extra resolutions.

Same cases, seeds and streams as `bench_learning.py` (fresh prompts, λ = 0.1, K = 16). Each
seed's setup is prepared twice on the same split and clusters: once with the clusters alone and
once with K-means maps at 8, 32 and 64 cells beside them (:mod:`policies.levels`); greedy and
`default` replay on both, and the table gives the seed-paired difference. Written into
BENCHMARKS.md as "Multi-resolution levels".

    .venv/bin/python benchmarks/bench_levels.py [--seeds 10] [--levels 8,32,64]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from agent.logs import ReplayLog  # noqa: E402
from benchmarks.bench_learning import SPLITS, Case, cases  # noqa: E402
from benchmarks.bench_quality import logs  # noqa: E402
from benchmarks.markdown import write_section  # noqa: E402
from simulator import Experiment, setups  # noqa: E402
from simulator.data import make_embedder  # noqa: E402
from simulator.experiment import fit_steps, run_seeds  # noqa: E402
from simulator.metrics import regret_curves  # noqa: E402

RULES = ("greedy", "default")


def regrets(
    log: ReplayLog, emb: np.ndarray, case: Case, seeds: int, levels: tuple[int, ...]
) -> dict[str, np.ndarray]:
    """Regret vs the cluster oracle per seed: static, then each rule without and with levels."""
    out = {}
    for lv in ((), levels):
        exp = Experiment(steps=10**9, seeds=seeds, splits=SPLITS, fresh=True, channel=case.channel)
        exp = replace(exp, **case.protocol, levels=lv)
        prepared = setups(log, emb, exp)
        exp = fit_steps(exp, prepared)
        for name in ("static", *RULES) if not lv else RULES:
            traces = run_seeds(prepared, exp, name)
            curves = [regret_curves(t, exp.clusters)["cluster_oracle"][-1] for t in traces]
            out[name + ("+levels" if lv else "")] = np.array(curves)
    return out


def effect(diff: np.ndarray) -> str:
    """ "better" or "worse" where the seed-paired mean is over two standard errors from zero."""
    se = diff.std(ddof=1) / np.sqrt(diff.size) if diff.size > 1 else np.inf
    if abs(diff.mean()) <= 2 * se:
        return "within noise"
    return "better" if diff.mean() < 0 else "worse"


def row(case: Case, r: dict[str, np.ndarray]) -> tuple[str, bool, str]:
    static = r["static"].mean()
    cells = [f"{static:.0f}"]
    for name in RULES:
        diff = r[name + "+levels"] - r[name]
        cells += [
            f"{r[name].mean():.0f}",
            f"{r[name + '+levels'].mean():.0f}",
            f"{diff.mean():+.0f} ± {diff.std():.0f}",
        ]
    ref = r[case.against].mean()
    ratio = r["default+levels"].mean() / ref
    ok = bool(ratio <= case.bar)
    verdict = "pass" if ok else "**fail**"
    said = effect(r["default+levels"] - r["default"])
    cells += [said, f"{ratio:.2f}", f"{case.bar:.2f}", verdict]
    text = f"| {case.log} | {case.label} | {' | '.join(cells)} |"
    return text, ok, said


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--levels", default="8,32,64")
    args = parser.parse_args()
    levels = tuple(int(k) for k in args.levels.split(","))
    embedder = make_embedder("minilm")
    by_name = {log.name: log for log in logs()}
    todo = [c for c in cases() if c.log in by_name]
    rows, passed, effects = [], 0, {"better": [], "worse": []}
    for i, case in enumerate(todo, 1):
        print(f"[{i}/{len(todo)}] {case.log}: {case.label}", file=sys.stderr, flush=True)
        log = by_name[case.log]
        r = regrets(log, embedder.encode(log.prompts), case, args.seeds, levels)
        text, ok, said = row(case, r)
        effects.get(said, []).append(f"{case.log} {case.label}")
        rows.append(text)
        passed += ok
        print(text, flush=True)
    shown = ", ".join(str(k) for k in levels)
    body = (
        f"Opt-in (`routing-agent simulate --levels {args.levels}`): K-means maps with {shown} "
        "cells fitted on the same fit prompts as the K = 16 clusters, each cell a Beta per "
        "model warm-started from the validation profile at its resolution and updated by every "
        "piece of feedback; a decision's mean is the average of its cluster's and its cells' "
        "means, its spread the cluster's (`policies.levels`). Cases, seeds and streams as in "
        f'"Learning on new prompts" ({args.seeds} seeds, fresh prompts, λ = 0.1, K = 16); '
        "regret vs the cluster oracle, mean over seeds; *Δ* is the seed-paired difference made "
        "by the levels (mean ± sd, negative: better), and *levels* says whether `default`'s "
        "is over two standard errors from zero. *ratio* is `default` with levels over "
        "the bar's reference (static's regret; greedy's for the 32-model pool), against "
        f"that case's bar: {passed} of {len(rows)} would pass with levels on. With levels, "
        f"`default` is better on {'; '.join(effects['better']) or 'no case'}, worse on "
        f"{'; '.join(effects['worse']) or 'no case'}, and within noise elsewhere. They stay "
        "off by default (and the Router does not fit them yet) while any case is worse.\n\n"
        "| log | case | static | greedy | greedy + levels | Δ | default | default + levels "
        "| Δ | levels | ratio | bar | verdict |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---|\n" + "\n".join(rows) + "\n"
    )
    write_section("Multi-resolution levels", "python benchmarks/bench_levels.py", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
