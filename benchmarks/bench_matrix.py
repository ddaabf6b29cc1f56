"""The learning matrix: ``default`` on four logs × the cases where learning must pay, as shipped.

Every case is a ``routing-agent simulate`` command (the shipped encoder and split unless the
case gives ``--split``, fresh prompts, λ = 0.1, K = 16); this script runs the same code path
(:func:`simulator.options.experiment_from_args`, :func:`simulator.experiment.run_seeds`) so
each figure is what that command prints. Per case, utility per 1,000 requests:

- ``static``, ``default`` and ``bandit`` (river's Thompson sampling over the models, with no
  context: the plain bandit a router must learn at least as fast as) against the best single
  model in hindsight, ± SE over seeds;
- **learning**: ``default`` minus ``default`` frozen (feedback off, same seeds), paired;
- the share of static's gap to the prompt oracle ``default`` closes;
- on the long stream, ``default``'s and its frozen twin's regret against the cluster oracle
  per 1,000 requests in each third of the stream.

``--ablate`` adds a table: ``default`` with one mechanism switched off at a time, paired with
``default`` on the same seeds (positive: the mechanism pays). ``--seeds N`` overrides every
case's seeds (10, 5 on routerdc_7). ``--only LOG`` runs one log. Writes the tables to
BENCHMARKS.md ("Learning matrix", "Ablation") unless ``--no-write``.

    .venv/bin/python benchmarks/bench_matrix.py [--ablate] [--seeds N] [--only LOG]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.markdown import write_section  # noqa: E402
from cli.main import build_parser  # noqa: E402
from simulator.experiment import Experiment, fit_steps, frozen, run_seeds, setups  # noqa: E402
from simulator.headline import gap_closed, over_best_model  # noqa: E402
from simulator.metrics import regret_curves  # noqa: E402
from simulator.options import experiment_from_args  # noqa: E402
from simulator.protocol import Setup  # noqa: E402
from simulator.sequential import Trace  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
LOGS = {
    "rb": "routerbench_subset",
    "dc": "llmrouter_dcrouter",
    "rdc": "routerdc_7",
    "lcb": "livecodebench",
}
THUMBS = ["--feedback", "thumbs", "--thumbs", "0.8,0.3", "--feedback-rate", "0.3"]
#: Half of each log's datasets (both halves where a log has four or more).
SHIFTS = {
    "rb": ["mbpp,winogrande"],
    "dc": [
        "gsm8k,math,mbpp,human_eval,gpqa,agentverse-mgsm,agentverse-logicgrid",
        "arc_challenge,commongen,commonsense_qa,mmlu,natural_qa,openbook_qa,trivia_qa",
    ],
    "rdc": [
        "gsm8k,humaneval,humanevalpack_js,math_prealgebra,mbpp",
        "arc_challenge,arc_easy,ceval,cmmlu,mmlu",
    ],
    "lcb": ["lcb-medium,lcb-hard"],
}
#: livecodebench's default pool holds 120 prompts for 45 models: too few to say anything.
SPLIT = {"lcb": ["--split", "0.3,0.1,0.6"]}
#: The long stream: routerdc_7 from 20 labels, with most of the log streamed.
LONG = ["--val-size", "20", "--split", "0.1,0.05,0.85"]


@dataclass(frozen=True)
class Case:
    """One row: a log, the case's name and its flags beyond ``--data --fresh --seeds``."""

    log: str
    name: str
    flags: tuple[str, ...]
    seeds: int

    def argv(self, seeds: int | None = None) -> list[str]:
        data = DATA / LOGS[self.log] / "long.parquet"
        n = str(seeds or self.seeds)
        return ["simulate", "--data", str(data), "--fresh", "--seeds", n, *self.flags]

    def command(self) -> str:
        log = f"../shared/data/{LOGS[self.log]}/long.parquet"
        flags = " ".join(self.flags)
        return f"routing-agent simulate --data {log} --fresh --seeds {self.seeds} --frozen {flags}"


def cases() -> list[Case]:
    out = []
    for key in LOGS:
        seeds = 5 if key == "rdc" else 10
        base = tuple(SPLIT.get(key, ()))
        out.append(Case(key, "full profile", base, seeds))
        out.append(Case(key, "20 labels", (*base, "--val-size", "20"), seeds))
        for i, shift in enumerate(SHIFTS[key]):
            half = f" {'AB'[i]}" if len(SHIFTS[key]) > 1 else ""
            out.append(Case(key, f"shift{half}", (*base, "--shift", shift), seeds))
            if i == 0:
                out.append(Case(key, "shift, thumbs", (*base, "--shift", shift, *THUMBS), seeds))
    out.append(Case("rdc", "long stream, 20 labels", tuple(LONG), 5))
    return out


#: Each mechanism of ``default`` switched off: (name, experiment changes, policy parameters).
ABLATIONS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("task partition", {"levels": ()}, {}),
    ("fast learner under a shift", {}, {"shift_odds": (0.0, 1.0)}),
    ("careful learner in-domain", {}, {"careful": None}),
    ("exploration", {}, {"explore": 0.0}),
    ("stacking (equal weights)", {"blend": ()}, {}),
]


def per_1000(traces: Sequence[Trace]) -> np.ndarray:
    return np.array([over_best_model(t) for t in traces])


def thirds(trace: Trace) -> np.ndarray:
    """Regret against the cluster oracle per 1,000 requests in each third of the stream."""
    curve = regret_curves(trace, int(trace.clusters.max()) + 1)["cluster_oracle"]
    edges = [int(trace.steps * i / 3) for i in range(4)]
    ends = [curve[e - 1] if e else 0.0 for e in edges]
    return np.array([(ends[i + 1] - ends[i]) / (edges[i + 1] - edges[i]) * 1000 for i in range(3)])


def se(x: np.ndarray) -> float:
    return float(x.std(ddof=1) / np.sqrt(x.size)) if x.size > 1 else 0.0


def fmt(x: np.ndarray) -> str:
    m = float(x.mean())
    return f"{m:+.1f} ± {se(x):.1f}" if abs(m) < 10 else f"{m:+.0f} ± {se(x):.0f}"


def prepared(case: Case, seeds: int | None) -> tuple[Experiment, list[Setup]]:
    """The case's experiment and setups, exactly as ``simulate`` builds them."""
    args = build_parser().parse_args(case.argv(seeds))
    log, emb, exp, _ = experiment_from_args(args, policies=("static", "default"), lam=args.lam)
    built = setups(log, emb, exp)
    return fit_steps(exp, built), built


def default_with(exp: Experiment, changes: dict[str, Any], params: dict[str, Any]) -> Experiment:
    """``exp`` with ``changes`` and ``default``'s parameters ``params``."""
    return replace(exp, **changes, policy_params={"default": params} if params else {})


def run_case(
    case: Case, seeds: int | None, ablate: bool, say: Callable[[str], None]
) -> dict[str, Any]:
    started = time.perf_counter()
    exp, built = prepared(case, seeds)
    static = run_seeds(built, exp, "static")
    bandit = run_seeds(built, exp, "bandit")
    live = run_seeds(built, exp, "default")
    cold = run_seeds(built, frozen(exp), "default")
    row: dict[str, Any] = {
        "case": case,
        "steps": exp.steps,
        "static": per_1000(static),
        "default": per_1000(live),
        "bandit": per_1000(bandit),
        "learning": per_1000(live) - per_1000(cold),
        "gap": gap_closed(
            [regret_curves(t, exp.clusters)["prompt_oracle"][-1] for t in live],
            [regret_curves(t, exp.clusters)["prompt_oracle"][-1] for t in static],
        ),
        "thirds": np.mean([thirds(t) for t in live], axis=0),
        "thirds_frozen": np.mean([thirds(t) for t in cold], axis=0),
        "ablation": {},
    }
    if ablate:
        for name, fixed, params in ABLATIONS:
            changes = dict(fixed)
            equal = changes.pop("blend", None) is not None
            variant = default_with(exp, changes, params)
            again = [replace(b, blend=()) for b in built] if equal else built
            if "levels" in changes:  # the partitions are fitted with the setups
                log, emb = built[0].log, built[0].embeddings
                assert emb is not None
                again = setups(log, emb, variant)
            off = per_1000(run_seeds(again, variant, "default"))
            row["ablation"][name] = row["default"] - off
    say(
        f"{case.log} {case.name}: default {fmt(row['default'])}, learning "
        f"{fmt(row['learning'])} ({time.perf_counter() - started:.0f} s)"
    )
    return row


def matrix_table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| log | case | requests | static vs best model | `default` vs best model | learning "
        "| plain bandit vs best model | gap to prompt oracle closed |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|"
    )
    lines = [head]
    for r in rows:
        c = r["case"]
        gap = "—" if r["gap"] is None else f"{r['gap']:.0%}"
        lines.append(
            f"| {LOGS[c.log]} | {c.name} | {r['steps']:,} | {fmt(r['static'])} "
            f"| {fmt(r['default'])} | {fmt(r['learning'])} | {fmt(r['bandit'])} | {gap} |"
        )
    return "\n".join(lines)


def thirds_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| log | case | `default`, thirds | frozen `default`, thirds | last third: default / "
        "frozen |\n|---|---|---|---|---:|"
    ]
    for r in rows:
        c, d, f = r["case"], r["thirds"], r["thirds_frozen"]
        ratio = d[2] / f[2] if f[2] > 0 else float("nan")
        lines.append(
            f"| {LOGS[c.log]} | {c.name} | {', '.join(f'{x:.0f}' for x in d)} "
            f"| {', '.join(f'{x:.0f}' for x in f)} | {ratio:.2f} |"
        )
    return "\n".join(lines)


def ablation_table(rows: list[dict[str, Any]]) -> str:
    names = [n for n, _, _ in ABLATIONS]
    lines = [
        "| log | case | " + " | ".join(names) + " |",
        "|---|---|" + "---:|" * len(names),
    ]
    for r in rows:
        c = r["case"]
        cells = [fmt(r["ablation"][n]) for n in names]
        lines.append(f"| {LOGS[c.log]} | {c.name} | " + " | ".join(cells) + " |")
    pays = []
    for n in names:
        d = [r["ablation"][n] for r in rows]
        up = sum(x.mean() > se(x) for x in d)
        down = sum(x.mean() < -se(x) for x in d)
        pays.append(f"{up} up / {down} down")
    lines.append("| | cases beyond 1 SE | " + " | ".join(pays) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, help="seeds per case (default: 10, 5 on routerdc_7)")
    ap.add_argument("--only", choices=sorted(LOGS), help="run one log's cases")
    ap.add_argument("--ablate", action="store_true", help="also switch each mechanism off")
    ap.add_argument("--no-write", action="store_true", help="print, don't touch BENCHMARKS.md")
    args = ap.parse_args(argv)
    if not DATA.is_dir():
        print(f"skipped: the shared logs are not at {DATA}", file=sys.stderr)
        return 0
    chosen = [c for c in cases() if args.only in (None, c.log)]
    rows = [
        run_case(c, args.seeds, args.ablate, lambda s: print(s, file=sys.stderr, flush=True))
        for c in chosen
    ]
    command = ".venv/bin/python benchmarks/bench_matrix.py" + (" --ablate" if args.ablate else "")
    commands = "\n".join(f"    {c.command()}" for c in chosen)
    body = [
        "Each row is the `simulate` command listed below it (λ = 0.1, K = 16, the shipped "
        "encoder, fresh prompts); utility per 1,000 requests, mean ± SE over seeds; learning "
        "is `default` minus `default` frozen, paired by seed.",
        "",
        matrix_table(rows),
        "",
        "Regret against the cluster oracle per 1,000 requests, by third of the stream "
        "(a diagnostic: does learning keep converging?):",
        "",
        thirds_table(rows),
        "",
        "The commands:",
        "",
        commands,
    ]
    text = "\n".join(body)
    print(text)
    if not args.no_write and args.only is None and args.seeds is None:
        write_section("Learning matrix", command, text)
    if args.ablate:
        table = ablation_table(rows)
        print("\n" + table)
        if not args.no_write and args.only is None and args.seeds is None:
            intro = (
                "`default` minus `default` with one mechanism off, paired by seed (positive: "
                "the mechanism pays), utility per 1,000 requests, on the matrix's cases."
            )
            write_section("Ablation", command, intro + "\n\n" + table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
