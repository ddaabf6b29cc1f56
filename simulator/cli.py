"""``routing-agent``: replay logs (simulate, sweep), serve the router, report on a live one."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from feedback.report_cli import add_report_parser
from feedback.serve import add_serve_parser
from simulator.options import add_replay_flags, experiment_from_args

DEFAULT_POLICIES = ("static", "default", "thompson", "greedy", "ucb", "best-fixed", "random")
DEFAULT_LAMBDAS = (0.0, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 2.0, 5.0)


class CliError(Exception):
    """A problem the user can fix: reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="routing-agent",
        description="Route prompts to LLMs: replay logs (simulate, sweep), serve the router "
        "(serve) and report on a live one (report).",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sim = sub.add_parser("simulate", help="replay a log and compare routing policies")
    add_replay_flags(sim)
    sim.add_argument(
        "--policy",
        action="append",
        metavar="NAME",
        help=f"policy to replay (repeatable; default: {', '.join(DEFAULT_POLICIES)})",
    )
    sim.add_argument("--lam", type=float, default=0.1, help="cost penalty λ (default 0.1)")

    sweep = sub.add_parser("sweep", help="sweep λ and write the deferral curve")
    add_replay_flags(sweep)
    sweep.add_argument("--policy", default="default", metavar="NAME")
    sweep.add_argument(
        "--lambdas", default=",".join(map(str, DEFAULT_LAMBDAS)), help="comma-separated λ values"
    )

    add_serve_parser(sub)
    add_report_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "simulate":
            return _simulate(args)
        if args.command == "sweep":
            return _sweep(args)
        return int(args.func(args))
    except (CliError, ValueError, KeyError, OSError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"routing-agent: error: {message}", file=sys.stderr)
        return 2


def _progress_bar(total: int, desc: str) -> Any:
    from tqdm import tqdm

    return tqdm(
        total=total,
        desc=desc,
        unit="step",
        unit_scale=True,
        file=sys.stderr,
        disable=None,
        leave=False,
    )


def _simulate(args: argparse.Namespace) -> int:
    from simulator.experiment import aggregate, run_seeds, setups, single_models
    from simulator.report import write_report
    from simulator.table import format_table

    policies = tuple(args.policy or DEFAULT_POLICIES)
    log, embeddings, exp, out = experiment_from_args(args, policies=policies, lam=args.lam)
    seeds = setups(log, embeddings, exp)
    report: dict[str, Any] = {
        "dataset": log.name,
        "lambda": exp.lam,
        "steps": exp.steps,
        "seeds": exp.seeds,
        "clusters": exp.clusters,
        "fresh": exp.fresh,
        "settings": vars(args) | {"command": "simulate"},
        "models": single_models(seeds),
        "c_max": seeds[0].c_max,
        "policies": {},
    }
    interrupted = False
    with _progress_bar(len(policies) * exp.seeds * exp.steps, "replaying") as bar:
        for name in policies:
            start = bar.n

            def tick(n: int, start: int = start) -> None:
                bar.update(start + n - bar.n)

            traces = run_seeds(seeds, exp, name, progress=tick)
            bar.update(start + len(seeds) * exp.steps - bar.n)
            interrupted = any(tr.interrupted for tr in traces)
            report["policies"][name] = aggregate(traces, exp.clusters)
            _flatten_single(report)
            write_report(out, report)
            if interrupted:
                break
    print(format_table(report))
    print(f"\nreport: {out / 'report.html'}")
    if interrupted:
        print("interrupted: the report holds what was replayed so far", file=sys.stderr)
        return 130
    return 0


def _flatten_single(report: dict[str, Any]) -> None:
    """With one policy, its keys also sit at the top level, as tools reading report.json expect."""
    (name, first), *_ = report["policies"].items()
    report["policy"] = name if len(report["policies"]) == 1 else list(report["policies"])
    for key in ("mean_accuracy", "mean_cost_usd", "mean_utility", "regret", "regret_curve"):
        report[key] = first[key]


def _sweep(args: argparse.Namespace) -> int:
    from simulator.experiment import deferral_curve, setups
    from simulator.report import write_curve

    try:
        lambdas = [float(x) for x in args.lambdas.split(",") if x.strip()]
    except ValueError:
        raise CliError(f"--lambdas expects comma-separated numbers, got {args.lambdas!r}") from None
    if not lambdas or min(lambdas) < 0:
        raise CliError("--lambdas needs at least one value, all >= 0")
    log, embeddings, exp, out = experiment_from_args(args, policies=(args.policy,), lam=0.0)
    seeds = setups(log, embeddings, exp)
    with _progress_bar(len(lambdas), "sweeping λ") as bar:
        curve = deferral_curve(seeds, exp, args.policy, lambdas, progress=lambda: bar.update(1))
    path = write_curve(out, curve)
    print(f"{'λ':>6} {'cost/c_max':>10} {'accuracy':>9}")
    for p in curve["points"]:
        print(f"{p['lambda']:6.3f} {p['cost']:10.3f} {p['accuracy']:9.3f}")
    print(f"AUDC {curve['audc']:.3f}  QNC {curve['qnc']:.3f}  APGR {curve['apgr']:.3f}")
    print(f"\ncurve: {Path(path)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
