"""--label-budget: the replay reveals every model's outcome on a sample of its requests."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from agent.logs import ReplayLog
from cli import main
from policies import make_policy
from simulator import Experiment, Splits, setups
from simulator.experiment import fit_steps, run_seeds
from simulator.labelling import WINDOW, LabelBudget
from simulator.metrics import regret_curves

SPLITS = Splits(fit=0.3, validation=0.1, pool=0.6)


def fresh_exp(log: ReplayLog, emb: np.ndarray, **kw: object) -> tuple[Experiment, list]:
    kw = {"seeds": 2, **kw}
    exp = Experiment(steps=10**9, splits=SPLITS, fresh=True, clusters=4, **kw)  # type: ignore[arg-type]
    prepared = setups(log, emb, exp)
    return fit_steps(exp, prepared), prepared


def test_the_budget_is_spent_once_per_window_and_labels_teach(
    small_log: ReplayLog, small_embeddings: np.ndarray
) -> None:
    exp, prepared = fresh_exp(small_log, small_embeddings, label_budget=5)
    traces = run_seeds(prepared, exp, "greedy")
    assert [t.labelled for t in traces] == [5, 5]
    plain = run_seeds(prepared, replace(exp, label_budget=0), "greedy")
    assert all(t.labelled == 0 for t in plain)
    # the labels change what is learnt, so what is chosen after the first window
    assert any(
        not np.array_equal(a.chosen[WINDOW:], b.chosen[WINDOW:])
        for a, b in zip(traces, plain, strict=True)
    )
    again = run_seeds(prepared, exp, "greedy")
    assert all(np.array_equal(a.chosen, b.chosen) for a, b in zip(traces, again, strict=True))


def test_a_generous_budget_cuts_regret_on_a_thin_profile(
    small_log: ReplayLog, small_embeddings: np.ndarray
) -> None:
    exp, prepared = fresh_exp(small_log, small_embeddings, val_size=8, seeds=6)

    def regret(e: Experiment) -> float:
        return float(
            np.mean(
                [
                    regret_curves(t, 4)["cluster_oracle"][-1]
                    for t in run_seeds(prepared, e, "greedy")
                ]
            )
        )

    assert regret(replace(exp, label_budget=48)) < regret(exp)


def test_each_window_labels_a_random_one_of_its_requests(
    small_log: ReplayLog, small_embeddings: np.ndarray
) -> None:
    exp, prepared = fresh_exp(small_log, small_embeddings, val_size=8)
    setup = prepared[0]
    contexts = setup.contexts(setup.pool_idx[: 8 * WINDOW])
    outcomes = small_log.correct[setup.pool_idx[: 8 * WINDOW]].astype(float)

    def labelled(seed: int) -> tuple[list[int], int]:
        policy = make_policy("greedy").warm_start(setup.profiles, cost_scale=setup.c_max)
        budget = LabelBudget(8, seed=seed)
        for t in range(8 * WINDOW):
            budget.step(policy, t, contexts, outcomes, small_log.models)
        return budget.labelled, policy.counters[0]

    picks, updates = labelled(0)
    assert [s // WINDOW for s in picks] == list(range(8))  # one in each window
    assert updates == 8 * small_log.n_models  # every model's outcome on each
    assert labelled(0)[0] == picks and labelled(1)[0] != picks  # reproducible per seed
    assert len({s % WINDOW for s in picks}) > 1  # not always the same place in the window


def test_outcomes_not_logged_are_skipped(
    small_log: ReplayLog, small_embeddings: np.ndarray
) -> None:
    exp, prepared = fresh_exp(small_log, small_embeddings, val_size=8)
    setup = prepared[0]
    contexts = setup.contexts(setup.pool_idx[:WINDOW])
    outcomes = small_log.correct[setup.pool_idx[:WINDOW]].astype(float)
    outcomes[:, 0] = np.nan
    policy = make_policy("greedy").warm_start(setup.profiles, cost_scale=setup.c_max)
    budget = LabelBudget(1)
    for t in range(WINDOW):
        budget.step(policy, t, contexts, outcomes, small_log.models)
    assert policy.counters[0] == small_log.n_models - 1


def test_a_bad_budget_is_refused() -> None:
    with pytest.raises(ValueError, match="--label-budget must be >= 0"):
        LabelBudget(-1)


def test_the_flag_runs_records_the_protocol_and_refuses_bad_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fast = ["--embedder", "hashing", "--seeds", "1", "--clusters", "4", "--policy", "default"]
    args = ["simulate", *fast, "--fresh", "--label-budget", "7", "--out", str(tmp_path / "o")]
    assert main(args) == 0
    assert "every model's outcome revealed on 7 sampled prompts" in capsys.readouterr().out
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["protocol"]["label_budget"] == 7
    with pytest.raises(SystemExit):  # argparse: the value pick is gone
        main(["simulate", *fast, "--label-pick", "value"])
    assert "unrecognized arguments: --label-pick" in capsys.readouterr().err
    assert main(["simulate", *fast, "--label-budget", "-2"]) == 2
    err = capsys.readouterr().err
    assert "--label-budget must be >= 0, got -2" in err and err.count("\n") == 1
