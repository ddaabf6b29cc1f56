"""The fresh-stream cases the learning benchmarks share (bench_learning's bars, bench_levels):
each a log, changes to the protocol and a bar, and how to replay one.

Every stream is fresh (each prompt once): 30% of a log's prompts fit the clusters, 10% are the
labelled validation set, 60% are streamed.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from agent.logs import ReplayLog  # noqa: E402
from simulator import Experiment, FeedbackChannel, Splits, setups  # noqa: E402
from simulator.experiment import fit_steps, run_seeds  # noqa: E402
from simulator.metrics import regret_curves  # noqa: E402
from simulator.protocol import Setup  # noqa: E402
from simulator.sequential import Trace  # noqa: E402

SPLITS = Splits(fit=0.3, validation=0.1, pool=0.6)
THUMBS = FeedbackChannel(rate=0.3, kind="thumbs", thumbs=(0.8, 0.3))
#: Half of llmrouter_dcrouter's datasets: the stream comes from these, the profiles from the rest.
SHIFT = ("gsm8k", "math", "mbpp", "human_eval", "gpqa", "agentverse-mgsm", "agentverse-logicgrid")


@dataclass(frozen=True)
class Case:
    """One row of the bars: a log, the protocol's changes, and the bar on default's ratio."""

    label: str
    log: str
    bar: float
    protocol: dict[str, Any] = field(default_factory=dict)
    channel: FeedbackChannel = field(default_factory=FeedbackChannel)
    against: str = "static"  # the ratio's denominator


def cases() -> list[Case]:
    rb, lr, big = "routerbench_subset", "llmrouter_dcrouter", "generated-32-models"
    out = [Case("full profile", name, 1.05) for name in (rb, lr)]
    out += [Case("`--val-size 20`", name, 0.5, {"val_size": 20}) for name in (rb, lr)]
    out.append(Case("`--shift` (7 of 14 datasets)", lr, 0.45, {"shift": SHIFT}))
    out.append(Case("`--shift`, thumbs (0.8, 0.3) on 30%", lr, 0.8, {"shift": SHIFT}, THUMBS))
    out += [Case("`--tag-column dataset`", n, 0.8, {"tag_column": "dataset"}) for n in (rb, lr)]
    out.append(Case("`--val-size 20`, 32 models", big, 1.05, {"val_size": 20}, against="greedy"))
    return out


def prepared_case(
    log: ReplayLog, emb: np.ndarray, case: Case, seeds: int, **changes: Any
) -> tuple[Experiment, list[Setup]]:
    """The case's fresh-stream experiment (``changes`` on top of its protocol) and one setup
    per seed, its steps cut to what every stream holds."""
    exp = Experiment(steps=10**9, seeds=seeds, splits=SPLITS, fresh=True, channel=case.channel)
    exp = replace(exp, **case.protocol, **changes)
    prepared = setups(log, emb, exp)
    return fit_steps(exp, prepared), prepared


def final_regrets(traces: Sequence[Trace], k: int) -> np.ndarray:
    """Each trace's cumulative regret vs the cluster oracle at its last step."""
    return np.array([regret_curves(t, k)["cluster_oracle"][-1] for t in traces])


def case_regrets(prepared: Sequence[Setup], exp: Experiment, name: str) -> np.ndarray:
    """The named policy's :func:`final_regrets` over the setups."""
    return final_regrets(run_seeds(prepared, exp, name), exp.clusters)
