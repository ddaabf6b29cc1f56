"""``routing-agent simulate`` and ``sweep``: replay a log, print the table, write the report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from agent.logs import ReplayLog
from simulator.experiment import (
    Experiment,
    aggregate,
    deferral_curve,
    fit_steps,
    recorded_protocol,
    run_seeds,
    setups,
    single_models,
)
from simulator.flags import DEFAULT_POLICIES
from simulator.options import experiment_from_args
from simulator.progress import progress_bar, stage
from simulator.protocol import Setup
from simulator.report import write_curve, write_report
from simulator.table import format_table, protocol_lines


def simulate(args: argparse.Namespace) -> int:
    """Replay each policy on every seed; print the table and write report.json/html."""
    policies = tuple(args.policy or DEFAULT_POLICIES)
    log, embeddings, exp, out = experiment_from_args(args, policies=policies, lam=args.lam)
    exp, seeds = _prepare(log, embeddings, exp)
    report: dict[str, Any] = {
        "dataset": log.name,
        "lambda": exp.lam,
        "steps": exp.steps,
        "seeds": exp.seeds,
        "clusters": exp.clusters,
        "fresh": exp.fresh,
        "protocol": recorded_protocol(exp, seeds),
        "settings": vars(args) | {"command": "simulate"},
        "models": single_models(seeds),
        "c_max": seeds[0].c_max,
        "policies": {},
    }
    interrupted = False
    with progress_bar(len(policies) * exp.seeds * exp.steps, "replaying") as bar:
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
    print(f"{'λ':>6} {'cost/c_max':>10} {'accuracy':>9}")
    for p in curve["points"]:
        print(f"{p['lambda']:6.3f} {p['cost']:10.3f} {p['accuracy']:9.3f}")
    print(f"AUDC {curve['audc']:.3f}  QNC {curve['qnc']:.3f}  APGR {curve['apgr']:.3f}")
    print("\n".join(protocol_lines(curve["protocol"])))
    print(f"\ncurve: {Path(path)}")
    return 0
