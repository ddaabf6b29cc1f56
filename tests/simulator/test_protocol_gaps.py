"""The split column's load-time checks, K chosen on in-domain prompts, and sweep's protocol."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import simulator.options as options
from agent.logs import LogError, load_log
from agent.synthetic_log import generate_log
from cli import main

FAST = ["--embedder", "hashing", "--steps", "600", "--seeds", "2", "--clusters", "4"]


def write_log(path: Path, split: list[str] | None = None) -> Path:
    log = generate_log(n_prompts=400, n_models=3, seed=5)
    rows = [
        {"prompt_id": pid, "prompt": p, "model": m, "dataset": log.tasks[i]}
        | {"correct": log.correct[i, j], "cost_usd": log.cost[i, j]}
        | ({"split": split[i % len(split)]} if split else {})
        for i, (pid, p) in enumerate(zip(log.prompt_ids, log.prompts, strict=True))
        for j, m in enumerate(log.models)
    ]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("bad", ["validation", None])
def test_a_bad_split_value_names_the_file_row_and_value(tmp_path: Path, bad: str | None) -> None:
    path = write_log(tmp_path / "split.csv", ["fit", "fit", "val", "pool"])
    df = pd.read_csv(path)
    df.loc[df["prompt_id"] == df["prompt_id"][9], "split"] = bad  # rows 10-12 (prompt 4)
    df.to_csv(path, index=False)
    with pytest.raises(LogError) as err:
        load_log(path)
    assert str(err.value) == (
        f"{path}: column 'split', row 10 (file line 11): value {bad!r} is not one of fit, val, pool"
    )


def test_a_split_that_differs_between_a_prompts_rows_is_an_error_not_dropped(
    tmp_path: Path,
) -> None:
    path = write_log(tmp_path / "split.csv", ["fit", "fit", "val", "pool"])
    df = pd.read_csv(path)
    df.loc[1, "split"] = "pool"
    df.to_csv(path, index=False)
    with pytest.raises(LogError, match=r"split.csv: column 'split', row 1 .* and row 2 .*'fit'"):
        load_log(path)


def test_a_source_train_test_split_still_loads(tmp_path: Path) -> None:
    log = load_log(write_log(tmp_path / "log.csv", ["train", "test"]))
    assert log.columns["split"][:2] == ["train", "test"]


def test_clusters_auto_chooses_k_on_the_in_domain_prompts_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_log(tmp_path / "log.csv")
    shift = sorted(set(pd.read_csv(path)["dataset"]))[:2]
    used: list[np.ndarray] = []
    choose = options.choose_k

    def spy(log, embeddings, **kwargs):  # type: ignore[no-untyped-def]
        used.extend(kwargs["rows"])
        return choose(log, embeddings, **kwargs)

    monkeypatch.setattr(options, "choose_k", spy)
    flags = [f for f in FAST if f not in ("--clusters", "4")]
    args = ["simulate", "--data", str(path), "--policy", "static", "--clusters", "auto"]
    args += ["--shift", ",".join(shift), "--out", str(tmp_path / "o"), *flags]
    assert main([*args, "--cache-dir", str(tmp_path / "c")]) == 0
    log = load_log(path)
    assert used and all(log.tasks[i] not in shift for rows in used for i in rows)


def test_sweep_records_the_protocol_and_states_the_repeat_share(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_log(tmp_path / "log.csv")
    shift = sorted(set(pd.read_csv(path)["dataset"]))[0]
    out = tmp_path / "curve"
    args = ["sweep", "--data", str(path), "--lambdas", "0,0.5", "--out", str(out), *FAST]
    assert main([*args, "--shift", shift, "--val-size", "5", "--cache-dir", str(tmp_path)]) == 0
    curve = json.loads((out / "curve.json").read_text())
    protocol = curve["protocol"]
    assert protocol["shift"] == [shift] and protocol["val_size"] == 5
    assert 0.5 < protocol["repeat_share"] < 1
    assert "of requests repeat an earlier prompt" in capsys.readouterr().out
