"""Tests for agent.logs: formats, validation messages and dropping (the real shared logs are
in ``test_shared_logs.py``)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from agent.logs import LogError, ReplayLog, from_long_frame, from_wide_frame, load_log


def long_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "prompt_id": ["p1", "p1", "p2", "p2", "p3", "p3"],
            "prompt": ["add 2+2", "add 2+2", "capital of France", "capital of France", "hi", "hi"],
            "model": ["small", "big"] * 3,
            "correct": [1.0, 1.0, 0.0, 1.0, 0.5, 1.0],
            "cost_usd": [0.001, 0.01, 0.001, 0.01, 0.002, 0.02],
            "dataset": ["math", "math", "geo", "geo", "chat", "chat"],
        }
    )


def wide_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sample_id": ["s1", "s2", "s3"],
            "prompt": ["a?", "b?", "c?"],
            "eval_name": ["arc", "arc", "mbpp"],
            "small": [1.0, 0.0, 1.0],
            "small|model_response": ["x", "y", "z"],
            "small|total_cost": [0.001, 0.001, 0.002],
            "big": [1.0, 1.0, 0.0],
            "big|model_response": ["x", "y", "z"],
            "big|total_cost": [0.01, 0.01, 0.02],
        }
    )


def write(df: pd.DataFrame, path: Path) -> Path:
    suffix = path.suffix
    if suffix == ".csv":
        df.to_csv(path, index=False)
    elif suffix in (".jsonl", ".ndjson"):
        df.to_json(path, orient="records", lines=True)
    elif suffix == ".json":
        df.to_json(path, orient="records")
    elif suffix == ".parquet":
        df.to_parquet(path)
    else:
        df.to_pickle(path)
    return path


def check_long(log: ReplayLog) -> None:
    assert log.prompt_ids == ["p1", "p2", "p3"]
    assert log.models == ["small", "big"]
    assert log.tasks == ["math", "geo", "chat"]
    np.testing.assert_allclose(log.correct, np.array([[1, 1], [0, 1], [0.5, 1]]))
    np.testing.assert_allclose(log.cost[:, 1], [0.01, 0.01, 0.02])
    assert log.correct.dtype == np.float64 and log.dropped == 0


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".ndjson", ".json", ".parquet", ".pkl"])
def test_long_formats_round_trip(tmp_path: Path, suffix: str) -> None:
    log = load_log(write(long_frame(), tmp_path / f"log{suffix}"))
    check_long(log)
    assert log.name == "log"


def test_json_file_holding_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "log.json"
    long_frame().to_json(path, orient="records", lines=True)
    check_long(load_log(path))


def test_directory_uses_long_parquet(tmp_path: Path) -> None:
    folder = tmp_path / "bench"
    folder.mkdir()
    write(long_frame(), folder / "long.parquet")
    write(long_frame().iloc[:2], folder / "other.csv")
    log = load_log(folder)
    assert log.name == "bench" and log.n_prompts == 3


def test_directory_with_single_file(tmp_path: Path) -> None:
    write(long_frame(), tmp_path / "only.csv")
    assert load_log(tmp_path).n_prompts == 3


def test_directory_ambiguous(tmp_path: Path) -> None:
    write(long_frame(), tmp_path / "a.csv")
    write(long_frame(), tmp_path / "b.csv")
    with pytest.raises(LogError, match="2 candidate files"):
        load_log(tmp_path)


@pytest.mark.parametrize("suffix", [".pkl", ".csv", ".parquet"])
def test_wide_formats(tmp_path: Path, suffix: str) -> None:
    log = load_log(write(wide_frame(), tmp_path / f"routerbench{suffix}"))
    assert log.models == ["small", "big"]
    assert log.prompt_ids == ["s1", "s2", "s3"]
    assert log.tasks == ["arc", "arc", "mbpp"]
    np.testing.assert_allclose(log.correct, [[1, 1], [0, 1], [1, 0]])
    np.testing.assert_allclose(log.mean_cost, [0.004 / 3, 0.04 / 3])


def test_wide_orphan_cost_column() -> None:
    df = wide_frame().drop(columns=["big"])
    with pytest.raises(LogError, match=r"w\.pkl: column 'big\|total_cost' has no correctness"):
        from_wide_frame(df, source="w.pkl")


def test_wide_bad_value_names_model_column() -> None:
    df = wide_frame()
    df.loc[2, "big|total_cost"] = -1.0
    with pytest.raises(LogError, match=r"column 'big\|total_cost', row 3: value -1.0 is negative"):
        from_wide_frame(df, source="w.pkl")


def test_missing_columns_named(tmp_path: Path) -> None:
    path = write(long_frame().drop(columns=["cost_usd", "model"]), tmp_path / "x.csv")
    with pytest.raises(LogError, match=r"x\.csv: missing required column\(s\) 'model', 'cost_usd'"):
        load_log(path)


@pytest.mark.parametrize(
    ("suffix", "where"),
    [(".csv", r"row 3 \(file line 4\)"), (".jsonl", "row 3"), (".parquet", "row 3")],
)
def test_correct_out_of_range_names_row(tmp_path: Path, suffix: str, where: str) -> None:
    df = long_frame()
    df.loc[2, "correct"] = 1.5
    path = write(df, tmp_path / f"x{suffix}")
    with pytest.raises(
        LogError, match=rf"x\{suffix}: column 'correct', {where}: value 1.5 is outside"
    ):
        load_log(path)


def test_negative_cost(tmp_path: Path) -> None:
    df = long_frame()
    df.loc[4, "cost_usd"] = -0.5
    with pytest.raises(LogError, match=r"column 'cost_usd', row 5 \(file line 6\): .* negative"):
        load_log(write(df, tmp_path / "x.csv"))


def test_nan_cost(tmp_path: Path) -> None:
    df = long_frame()
    df.loc[1, "cost_usd"] = np.nan
    with pytest.raises(LogError, match=r"column 'cost_usd', row 2: value is missing"):
        load_log(write(df, tmp_path / "x.parquet"))


def test_non_numeric_cost(tmp_path: Path) -> None:
    df = long_frame().astype({"cost_usd": object})
    df.loc[3, "cost_usd"] = "cheap"
    with pytest.raises(LogError, match=r"column 'cost_usd', row 4 .*'cheap' is not a number"):
        load_log(write(df, tmp_path / "x.csv"))


def test_duplicate_pair_names_both_rows(tmp_path: Path) -> None:
    df = pd.concat([long_frame(), long_frame().iloc[[2]]], ignore_index=True)
    with pytest.raises(
        LogError, match=r"row 3 .* and row 7 .* repeat prompt_id 'p2', model 'small'"
    ):
        load_log(write(df, tmp_path / "x.csv"))


def test_prompt_text_differs(tmp_path: Path) -> None:
    df = long_frame()
    df.loc[1, "prompt"] = "add 3+3"
    with pytest.raises(LogError, match=r"row 1 and row 2 give different text for prompt_id 'p1'"):
        load_log(write(df, tmp_path / "x.jsonl"))


def test_empty_prompt_text(tmp_path: Path) -> None:
    df = long_frame()
    df.loc[3, "prompt"] = "   "
    with pytest.raises(LogError, match=r"column 'prompt', row 4: value is an empty string"):
        load_log(write(df, tmp_path / "x.parquet"))


def test_non_string_prompt() -> None:
    df = long_frame().astype({"prompt": object})
    df.loc[0, "prompt"] = 42
    with pytest.raises(LogError, match=r"column 'prompt', row 1: value 42 is not a string"):
        from_long_frame(df, source="mem")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("")
    with pytest.raises(LogError, match=r"x\.csv: file is empty"):
        load_log(path)


def test_header_only_has_no_rows(tmp_path: Path) -> None:
    path = write(long_frame().iloc[:0], tmp_path / "x.csv")
    with pytest.raises(LogError, match=r"x\.csv: no rows"):
        load_log(path)


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "x.parquet"
    path.write_bytes(b"this is not parquet")
    with pytest.raises(LogError, match=r"x\.parquet: cannot read as parquet"):
        load_log(path)


def test_bad_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"prompt_id": 1,\n')
    with pytest.raises(LogError, match=r"x\.jsonl: cannot read as json"):
        load_log(path)


def test_unknown_suffix(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_text("hello")
    with pytest.raises(LogError, match=r"x\.txt: unsupported file type '\.txt'"):
        load_log(path)


def test_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(LogError, match="nope.csv: file not found"):
        load_log(tmp_path / "nope.csv")


def test_pickle_of_non_frame(tmp_path: Path) -> None:
    path = tmp_path / "x.pkl"
    pd.to_pickle([1, 2, 3], path)
    with pytest.raises(LogError, match="holds a list, not a pandas DataFrame"):
        load_log(path)


def test_drops_prompts_lacking_an_outcome(caplog: pytest.LogCaptureFixture) -> None:
    df = long_frame()
    df.loc[0, "correct"] = np.nan  # p1 lacks small's outcome
    df = df.drop(index=5)  # p3 lacks big's row altogether
    with caplog.at_level(logging.INFO, logger="agent.logs"):
        log = from_long_frame(df, source="data/mine.csv")
    assert log.prompt_ids == ["p2"] and log.dropped == 2
    assert not np.isnan(log.correct).any() and not np.isnan(log.cost).any()
    msgs = [r.getMessage() for r in caplog.records if r.name == "agent.logs"]
    assert msgs == ["mine: dropped 2 of 3 prompts lacking some model's outcome"]


def test_all_dropped_is_an_error() -> None:
    df = long_frame()
    df["correct"] = np.nan
    with pytest.raises(LogError, match="all 3 prompts lack some model's outcome"):
        from_long_frame(df, source="x.csv")


def test_numeric_ids_become_strings() -> None:
    df = long_frame()
    df["prompt_id"] = [7, 7, 8, 8, 9, 9]
    assert from_long_frame(df, source="m").prompt_ids == ["7", "8", "9"]


def test_subset_and_select_models() -> None:
    log = from_long_frame(long_frame(), source="m")
    sub = log.subset(np.array([False, True, True]))
    assert sub.prompt_ids == ["p2", "p3"] and sub.tasks == ["geo", "chat"]
    assert sub.subset([1, 0]).prompts == ["hi", "capital of France"]
    big = log.select_models(["big"])
    assert big.models == ["big"] and big.correct.shape == (3, 1)
    with pytest.raises(ValueError, match="unknown model"):
        log.select_models(["huge"])
    with pytest.raises(ValueError, match="must both have shape"):
        ReplayLog("bad", ["a"], ["a"], ["m"], np.zeros((2, 1)), np.zeros((1, 1)), [""])
