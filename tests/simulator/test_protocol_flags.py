"""The replay protocol's options: a label budget, a shifted stream, the log's own split column,
tags from a column, the repeat share, and their flags' good and bad input."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from agent.embedder import HashingEmbedder
from agent.logs import ReplayLog, load_log
from agent.synthetic_log import generate_log
from cli import main
from simulator.experiment import Experiment, fit_steps, setups
from simulator.protocol import Splits, prepare
from simulator.splitting import divide

SHIFT = ("python", "sql")


@pytest.fixture(scope="module")
def log() -> ReplayLog:
    return generate_log(n_prompts=600, n_models=4, seed=3)


@pytest.fixture(scope="module")
def emb(log: ReplayLog) -> np.ndarray:
    return HashingEmbedder(dim=32).encode(log.prompts)


def tasks_of(log: ReplayLog, rows: np.ndarray) -> set[str]:
    return {log.tasks[i] for i in rows}


def test_a_shift_streams_only_its_datasets_and_profiles_on_the_others(
    log: ReplayLog, emb: np.ndarray
) -> None:
    s = prepare(log, emb, k=4, seed=1, shift=SHIFT, fresh=True)
    assert tasks_of(log, s.shifted_idx) == set(SHIFT)
    for rows in (s.fit_idx, s.val_idx, s.pool_idx):
        assert not tasks_of(log, rows) & set(SHIFT)
    stream = s.stream(10_000, np.random.default_rng(0))
    assert stream.size == s.shifted_idx.size == s.fresh_steps
    assert tasks_of(log, stream) == set(SHIFT) and np.unique(stream).size == stream.size
    # The profiles saw no shifted prompt: their trials add up to the validation share alone.
    assert all(p.trials.sum() == s.val_idx.size for p in s.profiles)


def test_a_shift_share_mixes_in_held_back_in_domain_prompts(
    log: ReplayLog, emb: np.ndarray
) -> None:
    s = prepare(log, emb, k=4, seed=1, shift=SHIFT, shift_share=0.5, fresh=True)
    stream = s.stream(s.fresh_steps, np.random.default_rng(0))
    shifted = np.isin(stream, s.shifted_idx)
    assert shifted.sum() == round(0.5 * stream.size) and np.unique(stream).size == stream.size
    assert np.isin(stream[~shifted], s.pool_idx).all()
    repeated = replace(s, fresh=False).stream(4000, np.random.default_rng(0))
    assert 0.45 < np.isin(repeated, s.shifted_idx).mean() < 0.55


def test_val_size_keeps_that_many_labelled_prompts(log: ReplayLog, emb: np.ndarray) -> None:
    s = prepare(log, emb, k=4, seed=0, val_size=20)
    assert s.val_idx.size == 20 and all(p.trials.sum() == 20 for p in s.profiles)
    with pytest.raises(ValueError, match="between 1 and the 60 labelled"):
        prepare(log, emb, k=4, seed=0, val_size=61)


def test_the_logs_own_split_column_is_honoured(log: ReplayLog) -> None:
    split = np.array(["fit"] * 300 + ["val"] * 100 + ["pool"] * 200, dtype=object)
    own = replace(log, columns={"split": list(split)})
    d = divide(own, np.random.default_rng(0), splits=Splits())
    assert set(split[d.fit]) == {"fit"} and set(split[d.val]) == {"val"}
    assert set(split[d.pool]) == {"pool"} and d.pool.size == 200
    # The shared logs' train/test split is the source's, not a protocol: it is left alone.
    other = replace(log, columns={"split": ["train"] * 600})
    assert divide(other, np.random.default_rng(0), splits=Splits()).val.size == 60
    mixed = replace(log, columns={"split": ["fit"] * 599 + ["test"]})
    with pytest.raises(ValueError, match="mixes fit/val/pool with 'test'"):
        divide(mixed, np.random.default_rng(0), splits=Splits())


def test_repeat_share_and_fresh_step_cap(log: ReplayLog, emb: np.ndarray) -> None:
    exp = Experiment(steps=5000, seeds=2, clusters=4, fresh=True, shift=SHIFT)
    prepared = setups(log, emb, exp)
    capped = fit_steps(exp, prepared)
    assert capped.steps == min(s.shifted_idx.size for s in prepared)
    assert all(s.repeat_share(capped.steps) == 0.0 for s in prepared)
    again = prepare(log, emb, k=4, seed=0)
    stream = again.stream(2000, np.random.default_rng([0, 7]))
    assert again.repeat_share(2000) == 1.0 - np.unique(stream).size / 2000 > 0.8


def write_csv(log: ReplayLog, path: Path, **extra: list[str]) -> Path:
    rows = [
        {
            "prompt_id": log.prompt_ids[i],
            "prompt": log.prompts[i],
            "model": m,
            "correct": log.correct[i, j],
            "cost_usd": log.cost[i, j],
            "dataset": log.tasks[i],
            **{k: v[i] for k, v in extra.items()},
        }
        for i in range(log.n_prompts)
        for j, m in enumerate(log.models)
    ]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


FAST = ["--embedder", "hashing", "--seeds", "2", "--clusters", "4", "--policy", "greedy"]


def test_the_flags_run_and_the_report_records_the_protocol(
    log: ReplayLog, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_csv(log, tmp_path / "log.csv", tenant=["acme", "beta"] * 300)
    args = ["simulate", "--data", str(data), *FAST, "--fresh", "--val-size", "20"]
    args += ["--shift", "python,sql", "--shift-share", "0.5"]
    assert main([*args, "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "traffic shifted to python, sql, 50% of the stream" in out
    assert "split: 60/10/30% of prompts (cluster fit / labelled validation / replay pool)" in out
    assert "0% of requests repeat an earlier prompt" in out
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["protocol"] == {
        "split": [0.6, 0.1, 0.3],
        "fresh": True,
        "val_size": 20,
        "shift": ["python", "sql"],
        "shift_share": 0.5,
        "label_budget": 0,
        "levels": ["task"],  # the log names topics: the task level (fitted on the others)
        "repeat_share": 0.0,
    }
    assert load_log(data).columns["tenant"][:2] == ["acme", "beta"]


def test_levels_run_and_the_report_records_them(tmp_path: Path) -> None:
    args = ["simulate", *FAST[:-1], "default", "--policy", "greedy", "--fresh", "--steps", "300"]
    for flag, levels in (("2,8", [2, 8]), ("none", []), ("task,8", ["task", 8])):
        assert main([*args, "--levels", flag, "--out", str(tmp_path / flag)]) == 0
        report = json.loads((tmp_path / flag / "report.json").read_text())
        assert report["protocol"]["levels"] == levels


def test_levels_default_to_the_task_level_where_the_log_names_tasks(
    log: ReplayLog, tmp_path: Path
) -> None:
    args = ["simulate", *FAST, "--fresh", "--steps", "200"]
    bare = write_csv(replace(log, tasks=[""] * log.n_prompts), tmp_path / "bare.csv")
    for data, levels in ((None, ["task"]), (bare, [8, 32, 64])):
        where = ["--data", str(data)] if data else []
        assert main([*args, *where, "--levels", "auto", "--out", str(tmp_path / "o")]) == 0
        report = json.loads((tmp_path / "o" / "report.json").read_text())
        assert report["protocol"]["levels"] == levels
    assert main([*args, "--data", str(bare), "--levels", "task"]) == 2


def test_a_repeated_stream_says_its_figures_are_memory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["simulate", *FAST, "--steps", "3000", "--out", str(tmp_path / "o")]
    assert main(args) == 0
    assert "repeat an earlier prompt: these regrets mostly measure prompt memory" in (
        capsys.readouterr().out
    )
    page = (tmp_path / "o" / "report.html").read_text()
    assert "mostly measure prompt memory" in page.split("</p>")[0]


def test_split_sets_the_shares_and_the_report_records_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "o"
    args = ["simulate", *FAST, "--fresh", "--split", "0.5,0.3,0.2", "--out", str(out)]
    assert main(args) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["protocol"]["split"] == [0.5, 0.3, 0.2]
    assert report["steps"] == 480  # the pool: 20% of 2,400 prompts, each streamed once
    line = "split: 50/30/20% of prompts (cluster fit / labelled validation / replay pool)"
    assert line in capsys.readouterr().out
    assert line in (out / "report.html").read_text()
    # A larger pool streams more fresh prompts; sweep records the shares in curve.json.
    sweep = ["sweep", *FAST, "--fresh", "--split", "0.3,0.1,0.6", "--lambdas", "0.1"]
    assert main([*sweep, "--out", str(tmp_path / "c")]) == 0
    curve = json.loads((tmp_path / "c" / "curve.json").read_text())
    assert curve["protocol"]["split"] == [0.3, 0.1, 0.6]
    assert "split: 30/10/60% of prompts" in capsys.readouterr().out


def test_a_logs_own_split_column_is_recorded_and_conflicts_with_split(
    log: ReplayLog, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    own = ["fit"] * 300 + ["val"] * 100 + ["pool"] * 200
    data = write_csv(log, tmp_path / "own.csv", split=own)
    args = ["simulate", "--data", str(data), *FAST, "--fresh", "--out", str(tmp_path / "o")]
    assert main(args) == 0
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["protocol"]["split"] == "column" and report["steps"] == 200
    assert "split: prompts divided by the log's split column" in capsys.readouterr().out
    assert main([*args, "--split", "0.5,0.2,0.3"]) == 2
    err = capsys.readouterr().err
    assert "--split: own has its own split column (fit/val/pool)" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--split", "a,b,c"], "--split expects three shares FIT,VAL,POOL such as 0.6,0.1,0.3"),
        (["--split", "0.5,0.5"], "--split expects three shares FIT,VAL,POOL"),
        (["--split", "0.5,0.2,0.2,0.1"], "--split expects three shares FIT,VAL,POOL"),
        (["--split", "nan,0.5,0.5"], "--split expects three shares FIT,VAL,POOL"),
        (["--split", "0,0.5,0.5"], "--split: every share must be > 0, got '0,0.5,0.5'"),
        (["--split", "1.2,-0.1,-0.1"], "--split: every share must be > 0"),
        (["--split", "0.6,0.1,0.2"], "--split: the shares must sum to 1, got '0.6,0.1,0.2' (sum"),
        (
            ["--split", "0.9995,0.0004,0.0001"],
            "--split 0.9995,0.0004,0.0001: 2400 prompts leave 2399 to fit, 1 to validate and 0 "
            "to replay; each needs at least one",
        ),
        (["--split", "0.001,0.5,0.499"], "--clusters 4 exceeds the 2 prompts fitted on"),
        (["--val-size", "0"], "--val-size must be >= 1"),
        (["--val-size", "100000"], "--val-size must be between 1 and the"),
        (["--shift", "nope"], "unknown dataset(s) nope; synthetic"),
        (["--shift", ","], "--shift expects a comma list"),
        (["--shift", "python", "--shift-share", "0"], "--shift-share must be in (0, 1]"),
        (["--shift-share", "0.5"], "--shift-share needs --shift"),
        (
            ["--levels", "8,x"],
            "--levels expects 'auto', 'none' or a comma list of whole "
            "numbers and 'task', got '8,x'",
        ),
        (["--levels", "1,8"], "--levels: a level is a number of cells >= 2 or 'task', got 1"),
        (["--levels", "8,8"], "--levels: each level once, got [8, 8]"),
        (["--levels", "task,task"], "--levels: each level once, got ['task', 'task']"),
        (["--levels", "100000"], "--levels 100000 exceeds the"),
    ],
)
def test_bad_protocol_flags_are_one_line_errors(
    flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["simulate", *FAST, *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_shift_needs_a_dataset_column(log: ReplayLog, tmp_path: Path) -> None:
    bare = replace(log, tasks=[""] * log.n_prompts)
    with pytest.raises(ValueError, match="needs a 'dataset' column"):
        divide(bare, np.random.default_rng(0), splits=Splits(), shift=("python",))
