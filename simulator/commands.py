"""``routing-agent simulate`` and ``sweep``: replay a log, print the table, write the report."""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from agent.logs import ReplayLog
from agent.report_kit import fmt_per_1000
from simulator.experiment import (
    Experiment,
    aggregate,
    deferral_curve,
    fit_steps,
    frozen,
    recorded_protocol,
    run_seeds,
    setups,
    single_models,
)
from simulator.flags import DEFAULT_POLICIES
from simulator.headline import GAP_REFERENCE, best_model, frozen_name, relate, spread
from simulator.options import experiment_from_args, frozen_twins
from simulator.progress import progress_bar, stage
from simulator.protocol import Setup
from simulator.report import verdict, write_curve, write_report
from simulator.table import WIDTH, format_table, protocol_lines


def simulate(args: argparse.Namespace) -> int:
    """Replay each policy on every seed (with ``--frozen``, each learning one's frozen twin
    too, and static as the reference of the gap closed); print the verdict and the table and
    write report.json/html."""
    policies = tuple(args.policy or DEFAULT_POLICIES)
    twins = frozen_twins(args, policies)
    log, embeddings, exp, out = experiment_from_args(args, policies=policies, lam=args.lam)
    exp, seeds = _prepare(log, embeddings, exp)
    runs = []  # (row, policy, experiment): each policy, then its frozen twin
    for name in policies:
        runs.append((name, name, exp))
        if name in twins:
            runs.append((frozen_name(name), name, frozen(exp)))
    rows = [row for row, _, _ in runs]
    # static first: the reference of every row's gap closed, replayed even when not a row
    runs.sort(key=lambda run: run[0] != GAP_REFERENCE)
    if GAP_REFERENCE not in rows:
        runs.insert(0, (GAP_REFERENCE, GAP_REFERENCE, exp))
    report: dict[str, Any] = {
        "dataset": log.name,
        "lambda": exp.lam,
        "steps": exp.steps,
        "seeds": exp.seeds,
        "clusters": exp.clusters,
        "fresh": exp.fresh,
        "frozen": bool(twins),
        "protocol": recorded_protocol(exp, seeds),
        "settings": vars(args) | {"command": "simulate"},
        "models": single_models(seeds),
        "c_max": seeds[0].c_max,
        "policies": {},
    }
    done: dict[str, dict[str, Any]] = {}
    reference: list[float] | None = None
    interrupted = False
    with progress_bar(len(runs) * exp.seeds * exp.steps, "replaying") as bar:
        for row, name, run_exp in runs:
            start = bar.n

            def tick(n: int, start: int = start) -> None:
                bar.update(start + n - bar.n)

            traces = run_seeds(seeds, run_exp, name, progress=tick)
            bar.update(start + len(seeds) * exp.steps - bar.n)
            interrupted = any(tr.interrupted for tr in traces)
            done[row] = aggregate(traces, exp.clusters) | ({"frozen": True} if row != name else {})
            if row == GAP_REFERENCE:
                report["best_model"] = best_model(traces)
                reference = done[row]["regret_by_seed"]["prompt_oracle"]
                report["gap_reference"] = {
                    "policy": row,
                    "shown": row in rows,
                    "regret_prompt_oracle": spread(reference),
                }
            report["policies"] = {r: done[r] for r in rows if r in done}
            relate(report["policies"], reference)
            if report["policies"]:
                _flatten_single(report)
                write_report(out, report)
            if interrupted:
                break
    if report["policies"]:
        print(textwrap.fill(verdict(report), WIDTH, break_on_hyphens=False), end="\n\n")
        print(format_table(report))
        print(f"\nreport: {out / 'report.html'}")
    if interrupted:
        print("interrupted: the report holds what was replayed so far", file=sys.stderr)
        return 130
    return 0


def _prepare(
    log: ReplayLog, embeddings: np.ndarray, exp: Experiment
) -> tuple[Experiment, list[Setup]]:
    """Every seed's protocol, with a fresh run's steps cut to what its streams hold."""
    stage(f"preparing {exp.seeds} seeds: split, clusters, profiles, level maps")
    seeds = setups(log, embeddings, exp)
    fitted = fit_steps(exp, seeds)
    if fitted.steps < exp.steps:
        print(f"--fresh: {fitted.steps} steps, each prompt streamed once", file=sys.stderr)
    return fitted, seeds


def _flatten_single(report: dict[str, Any]) -> None:
    """With one policy, its keys also sit at the top level, as tools reading report.json expect."""
    (name, first), *_ = report["policies"].items()
    report["policy"] = name if len(report["policies"]) == 1 else list(report["policies"])
    for key in ("mean_accuracy", "mean_cost_usd", "mean_utility", "regret", "regret_curve"):
        report[key] = first[key]


def sweep(args: argparse.Namespace) -> int:
    """Replay one policy at each λ; print the points and write curve.json/html."""
    try:
        lambdas = [float(x) for x in args.lambdas.split(",") if x.strip()]
    except ValueError:
        raise ValueError(
            f"--lambdas expects comma-separated numbers, got {args.lambdas!r}"
        ) from None
    if not lambdas or min(lambdas) < 0:
        raise ValueError("--lambdas needs at least one value, all >= 0")
    log, embeddings, exp, out = experiment_from_args(args, policies=(args.policy,), lam=0.0)
    exp, seeds = _prepare(log, embeddings, exp)
    with progress_bar(len(lambdas), "sweeping λ", unit="λ values") as bar:
        curve = deferral_curve(seeds, exp, args.policy, lambdas, progress=lambda: bar.update(1))
    curve["protocol"] = recorded_protocol(exp, seeds)
    path = write_curve(out, curve)
    print(f"{'λ':>6} {'cost/c_max':>10} {'accuracy':>9} {'vs best model':>13}")
    for p in curve["points"]:
        figure = fmt_per_1000(p["per_1000_vs_best"]["mean"], p["per_1000_vs_best"]["se"])
        print(f"{p['lambda']:6.3f} {p['cost']:10.3f} {p['accuracy']:9.3f} {figure:>13}")
    print(
        "vs best model: utility per 1,000 requests above the best single model at that λ, "
        f"mean ± SE over {exp.seeds} seeds"
    )
    print(f"AUDC {curve['audc']:.3f}  QNC {curve['qnc']:.3f}  APGR {curve['apgr']:.3f}")
    print("\n".join(protocol_lines(curve["protocol"])))
    print(f"\ncurve: {Path(path)}")
    return 0
