"""Turning the replay flags (:mod:`simulator.flags`) into a validated Experiment."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from agent.level_maps import TASK, Level, check_levels, default_levels, names_tasks
from agent.logs import ReplayLog
from policies import POLICY_NAMES
from simulator.channel import FeedbackChannel
from simulator.choose_k import choose_k
from simulator.data import load_replay_log, make_embedder
from simulator.experiment import Experiment, learns_from_feedback
from simulator.progress import stage
from simulator.scenario import Arrival, Drift, Event, PriceChange, load_scenario, parse_at
from simulator.splitting import (
    SUM_TOLERANCE,
    Division,
    Splits,
    check_shift,
    divide,
    own_split,
)


def _events(args: argparse.Namespace) -> list[Event]:
    events: list[Event] = list(load_scenario(args.scenario)) if args.scenario else []
    for text in args.arrive:
        model, step, _ = parse_at(text, "--arrive")
        events.append(Arrival(model, step))
    for text in args.drift:
        model, step, like = parse_at(text, "--drift")
        events.append(Drift(model, step, like))
    for text in args.price:
        model, step, value = parse_at(text, "--price")
        try:
            events.append(PriceChange(model, step, float(value or "")))
        except ValueError:
            raise ValueError(f"--price expects MODEL@STEP=USD, got {text!r}") from None
    return events


def _thumbs(text: str) -> tuple[float, float]:
    try:
        a, b = (float(x) for x in text.split(","))
    except ValueError:
        raise ValueError(f"--thumbs expects A,B such as 0.8,0.3, got {text!r}") from None
    return a, b


def _splits(text: str | None) -> Splits:
    """``--split FIT,VAL,POOL`` as :class:`Splits` (not given: the default shares).

    >>> _splits("0.5,0.2,0.3")
    Splits(fit=0.5, validation=0.2, pool=0.3)
    >>> _splits("0.5,0.2")
    Traceback (most recent call last):
    ...
    ValueError: --split expects three shares FIT,VAL,POOL such as 0.6,0.1,0.3, got '0.5,0.2'
    """
    if text is None:
        return Splits()
    parts = text.split(",")
    try:
        shares = [float(p) for p in parts]
    except ValueError:
        shares = []
    if len(shares) != 3 or not all(math.isfinite(x) for x in shares):
        raise ValueError(
            f"--split expects three shares FIT,VAL,POOL such as 0.6,0.1,0.3, got {text!r}"
        )
    if min(shares) <= 0:
        raise ValueError(f"--split: every share must be > 0, got {text!r}")
    if abs(sum(shares) - 1.0) > SUM_TOLERANCE:
        raise ValueError(f"--split: the shares must sum to 1, got {text!r} (sum {sum(shares):g})")
    return Splits(*shares)


def check_protocol(log: ReplayLog, exp: Experiment, *, split_given: bool = False) -> Division:
    """Fail before any embedding or replay if the log cannot carry the protocol's flags; the
    division of the first seed. ``split_given``: the shares came from ``--split``, which a
    log's own split column would silently override."""
    if split_given and own_split(log) is not None:
        raise ValueError(
            f"--split: {log.name} has its own split column (fit/val/pool), which divides its "
            "prompts; drop --split or the column"
        )
    if exp.shift:
        check_shift(log, exp.shift)
    return divide(
        log, np.random.default_rng(0), splits=exp.splits, val_size=exp.val_size, shift=exp.shift
    )


def frozen_twins(args: argparse.Namespace, policies: Sequence[str]) -> list[str]:
    """The policies ``--frozen`` replays a frozen twin of: those that learn from feedback
    (none without the flag). With the flag, an error if none of ``policies`` learns, or if
    nothing would teach them (``--feedback-rate 0`` and no ``--label-budget``)."""
    if not args.frozen:
        return []
    twins = [name for name in policies if learns_from_feedback(name)]
    if not twins:
        learners = [n for n in POLICY_NAMES if learns_from_feedback(n)]
        raise ValueError(
            f"--frozen: none of {', '.join(policies)} learns from feedback, so none has a "
            f"frozen twin to compare with; add a --policy that does ({', '.join(learners)})"
        )
    if args.feedback_rate == 0 and not args.label_budget:
        raise ValueError(
            "--frozen compares each learning policy with itself with feedback off, and "
            "--feedback-rate 0 already turns it off"
        )
    return twins


def experiment_from_args(
    args: argparse.Namespace, *, policies: Sequence[str], lam: float
) -> tuple[ReplayLog, np.ndarray, Experiment, Path]:
    """Validate the flags, load and embed the data, and build the Experiment."""
    for name in policies:
        if name not in POLICY_NAMES:
            raise ValueError(f"unknown policy {name!r}; choose from {', '.join(POLICY_NAMES)}")
    auto_k = args.clusters == "auto"
    try:
        clusters = 16 if auto_k else int(args.clusters)
    except ValueError:
        raise ValueError(f"--clusters expects a number or 'auto', got {args.clusters!r}") from None
    for flag, value, low in (
        ("--steps", args.steps, 1),
        ("--seeds", args.seeds, 1),
        ("--clusters", clusters, 1),
        ("--label-budget", args.label_budget, 0),
    ):
        if value < low:
            raise ValueError(f"{flag} must be >= {low}, got {value}")
    if args.budget is not None and not args.budget > 0:
        raise ValueError(f"--budget must be > 0 USD, got {args.budget}")
    if lam < 0:
        raise ValueError(f"--lam must be >= 0, got {lam}")
    if args.val_size is not None and args.val_size < 1:
        raise ValueError(f"--val-size must be >= 1, got {args.val_size}")
    shift = tuple(s.strip() for s in (args.shift or "").split(",") if s.strip())
    if args.shift is not None and not shift:
        raise ValueError("--shift expects a comma list of dataset names")
    if not 0.0 < args.shift_share <= 1.0:
        raise ValueError(f"--shift-share must be in (0, 1], got {args.shift_share}")
    if args.shift_share < 1.0 and not shift:
        raise ValueError("--shift-share needs --shift")
    levels = _levels(args.levels)
    splits = _splits(args.split)
    channel = FeedbackChannel(
        rate=args.feedback_rate,
        kind=args.feedback,
        thumbs=_thumbs(args.thumbs),
        delay=args.delay,
        random_delay=args.random_delay,
    )
    events = _events(args)
    params = {"thumbs": channel.thumbs}
    exp = Experiment(
        policies=tuple(policies),
        lam=lam,
        steps=args.steps,
        seeds=args.seeds,
        clusters=clusters,
        label_budget=args.label_budget,
        channel=channel,
        events=tuple(events),
        budget=args.budget,
        splits=splits,
        policy_params=dict.fromkeys(policies, params),
        fresh=args.fresh,
        val_size=args.val_size,
        shift=shift,
        shift_share=args.shift_share,
        levels=levels,
    )
    log = load_replay_log(args.data)
    division = check_protocol(log, exp, split_given=args.split is not None)
    if not auto_k and clusters > division.fit.size:
        raise ValueError(f"--clusters {clusters} exceeds the {division.fit.size} prompts fitted on")
    if levels is None:
        exp = replace(exp, levels=default_levels(log, exclude=shift))
    elif TASK in levels and not names_tasks(log, division.fit):
        raise ValueError(
            f"--levels task: the prompts {log.name} fits on name fewer than two tasks "
            "(its 'dataset', 'task' or 'eval_name' column)"
        )
    too_fine = [k for k in levels or () if k != TASK and int(k) > division.fit.size]
    if too_fine:
        raise ValueError(
            f"--levels {too_fine[0]} exceeds the {division.fit.size} prompts fitted on"
        )
    stage(f"embedding {len(log.prompts):,} prompts of {log.name} with {args.embedder}")
    embeddings = make_embedder(args.embedder, cache=args.cache_dir).encode(log.prompts)
    if auto_k:
        # on the protocol's in-domain fit and validation prompts: never the shifted ones
        k, areas = choose_k(log, embeddings, rows=(division.fit, division.val))
        shown = ", ".join(f"K={c}: {a:.3f}" for c, a in areas.items())
        print(f"chose K={k} by validation AUDC of static UniRoute ({shown})", file=sys.stderr)
        exp = replace(exp, clusters=k)
    out = Path(args.out) if args.out else Path("runs") / log.name
    return log, embeddings, exp, out


def _levels(text: str | None) -> tuple[Level, ...] | None:
    """``--levels task,8,32,64`` as a tuple of distinct levels (K-means sizes of at least 2,
    or ``task``); ``none``: no levels; ``auto`` or not given: None, the log's default
    (:func:`agent.level_maps.default_levels`)."""
    if text is None or text.strip().lower() == "auto":
        return None
    if text.strip().lower() == "none":
        return ()
    parts = [p.strip().lower() for p in text.split(",")]
    try:
        levels = tuple(p if p == TASK else int(p) for p in parts)
    except ValueError:
        raise ValueError(
            f"--levels expects 'auto', 'none' or a comma list of whole numbers and 'task', "
            f"got {text!r}"
        ) from None
    try:
        return check_levels(levels)
    except ValueError as exc:
        raise ValueError(f"--levels: {exc} (in {text!r})") from None
