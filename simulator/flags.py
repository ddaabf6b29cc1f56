"""The flags of ``simulate`` and ``sweep``: argparse only, so ``--help`` answers at once."""

from __future__ import annotations

import argparse
from typing import Any

#: Embedder names the command line accepts: :data:`agent.encoders.ENCODERS`, written out here
#: so that ``--help`` imports nothing.
EMBEDDERS = ("minilm", "minilm-onnx", "minilm-onnx-int8", "minilm-m2v", "hashing")
#: Feedback kinds: :data:`policies.KINDS`, written out for the same reason.
FEEDBACK_KINDS = ("label", "score", "thumbs")
#: :data:`agent.encoders.DEFAULT_ENCODER`.
DEFAULT_EMBEDDER = "minilm-m2v"
#: :class:`simulator.splitting.Splits`' default shares, as ``--split`` spells them.
DEFAULT_SPLIT = "0.6,0.1,0.3"
#: :data:`policies.levels.DEFAULT_LEVELS`.
DEFAULT_LEVELS = (8, 32, 64)
#: Policies ``simulate`` replays when no ``--policy`` is given, and the λ grid of ``sweep``.
DEFAULT_POLICIES = (
    "static",
    "default",
    "thompson",
    "greedy",
    "ucb",
    "bandit",
    "best-fixed",
    "random",
)
DEFAULT_LAMBDAS = (0.0, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 2.0, 5.0)


def add_replay_flags(p: argparse.ArgumentParser) -> None:
    """The flags that choose the log, the protocol, the feedback channel and the scenario."""
    p.add_argument(
        "--data",
        metavar="PATH",
        help="replay log (long format: parquet/csv/jsonl; or RouterBench wide .pkl); "
        "default: the project's generated log",
    )
    p.add_argument("--steps", type=int, default=20_000, help="requests per replay (20000)")
    p.add_argument("--seeds", type=int, default=5, help="seeds, each with its own split (5)")
    p.add_argument(
        "--clusters",
        default="16",
        help="K-means clusters K (16), or 'auto' to pick K by validation AUDC",
    )
    p.add_argument(
        "--split",
        metavar="FIT,VAL,POOL",
        help=f"shares of the prompts that fit the K-means clusters, profile the models (the "
        f"labelled validation set) and feed the replay pool ({DEFAULT_SPLIT}); positive, summing "
        "to 1; with --shift they divide the other datasets; a log's own split column "
        "(fit/val/pool) divides it instead",
    )
    p.add_argument(
        "--levels",
        metavar="LEVELS",
        help="extra partitions whose estimates default stacks with the clusters' (weights "
        "from the validation outcomes), each warm-started from the profiles and learning "
        "online, as the Router's default does: a comma list of K-means sizes and 'task' (a "
        "classifier of the fit prompts' tasks, the log's dataset column); auto (default): "
        f"task where the log names tasks, else {','.join(map(str, DEFAULT_LEVELS))}; none: "
        "the clusters alone",
    )
    p.add_argument(
        "--label-budget",
        type=int,
        default=0,
        metavar="N",
        help="active labelling: after every 10 requests one of them is sampled and the log "
        "reveals every model's outcome on it, as Router.nominate and a labeller would, up to "
        "N prompts (0: none)",
    )
    p.add_argument(
        "--fresh",
        action="store_true",
        help="stream each replay-pool prompt at most once (no repeats; --steps is capped at "
        "the pool size), to measure what carries over to prompts never seen before",
    )
    p.add_argument(
        "--val-size",
        type=int,
        metavar="N",
        help="profile the models on only N labelled validation prompts (a new deployment)",
    )
    p.add_argument(
        "--shift",
        metavar="DATASETS",
        help="comma list of the log's datasets to stream from; the clusters and profiles come "
        "only from the other datasets (traffic unlike the validation set)",
    )
    p.add_argument(
        "--shift-share",
        type=float,
        default=1.0,
        metavar="P",
        help="share of the stream drawn from the --shift datasets; the rest from held-back "
        "in-domain prompts (default 1)",
    )
    p.add_argument(
        "--feedback-rate", type=float, default=1.0, help="share of requests with feedback"
    )
    p.add_argument("--feedback", choices=FEEDBACK_KINDS, default="label")
    p.add_argument(
        "--thumbs",
        default="0.8,0.3",
        metavar="A,B",
        help="P(up|correct),P(up|wrong) for --feedback thumbs (0.8,0.3)",
    )
    p.add_argument("--delay", type=int, default=0, help="feedback arrives D requests later")
    p.add_argument("--random-delay", action="store_true", help="delay uniform on 0..2D instead")
    p.add_argument(
        "--arrive",
        action="append",
        default=[],
        metavar="MODEL@STEP",
        help="hold MODEL out of the pool until STEP (repeatable)",
    )
    p.add_argument(
        "--drift",
        action="append",
        default=[],
        metavar="MODEL@STEP[=LIKE]",
        help="from STEP, MODEL answers like LIKE (default: the worst model)",
    )
    p.add_argument(
        "--price",
        action="append",
        default=[],
        metavar="MODEL@STEP=USD",
        help="from STEP, MODEL costs USD per answer",
    )
    p.add_argument("--scenario", metavar="FILE", help="JSON list of scenario events")
    p.add_argument(
        "--budget",
        type=float,
        metavar="USD",
        help="target mean cost per request; λ is then paced online",
    )
    p.add_argument(
        "--embedder",
        choices=EMBEDDERS,
        default=DEFAULT_EMBEDDER,
        help=f"prompt encoder ({DEFAULT_EMBEDDER}); all are MiniLM or built from the bundled "
        "MiniLM on first use; each has its own embedding cache",
    )
    p.add_argument("--cache-dir", metavar="DIR", help="embedding cache (default ~/.cache)")
    p.add_argument("--out", metavar="DIR", help="report folder (default runs/DATASET)")


def add_simulate_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``simulate`` (handler: :func:`simulator.commands.simulate`)."""
    sim: argparse.ArgumentParser = subparsers.add_parser(
        "simulate", help="replay a log and compare routing policies"
    )
    add_replay_flags(sim)
    sim.add_argument(
        "--policy",
        action="append",
        metavar="NAME",
        help=f"policy to replay (repeatable; default: {', '.join(DEFAULT_POLICIES)})",
    )
    sim.add_argument("--lam", type=float, default=0.1, help="cost penalty λ (default 0.1)")
    sim.add_argument(
        "--frozen",
        action="store_true",
        help="also replay each policy that learns from feedback frozen (feedback off and no "
        "labels revealed, the same seeds and stream) as its own row, and report learning: the "
        "policy's utility per 1,000 requests minus its frozen twin's, paired by seed",
    )
    return sim


def add_sweep_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``sweep`` (handler: :func:`simulator.commands.sweep`)."""
    sweep: argparse.ArgumentParser = subparsers.add_parser(
        "sweep", help="sweep λ and write the deferral curve"
    )
    add_replay_flags(sweep)
    sweep.add_argument("--policy", default="default", metavar="NAME")
    sweep.add_argument(
        "--lambdas", default=",".join(map(str, DEFAULT_LAMBDAS)), help="comma-separated λ values"
    )
    return sweep
