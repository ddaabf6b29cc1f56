"""Replay logs: every model's logged outcome and cost on every prompt.

Two layouts are read. The *long* layout has one row per (prompt, model) with the columns
``prompt_id, prompt, model, correct, cost_usd`` (``dataset`` and ``split`` optional). The
RouterBench *wide* layout has one row per prompt, a correctness column per model ``X`` and a
``X|total_cost`` column per model. Errors name the file, the column and the row; rows are
counted 1-based over data rows (a CSV header is not counted; the message also gives the file line).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from agent.log_checks import (
    LogError,
    check_split,
    first_disagreement,
    no_duplicates,
    numbers,
    require,
    row_label,
    strings,
)
from agent.replay_log import ReplayLog

logger = logging.getLogger(__name__)

LONG_COLUMNS = ("prompt_id", "prompt", "model", "correct", "cost_usd")
COST_SUFFIX = "|total_cost"
_READERS = {".parquet": "parquet", ".csv": "csv", ".pkl": "pickle", ".pickle": "pickle"}
_READERS.update(dict.fromkeys((".jsonl", ".ndjson", ".json"), "json"))
_TEXT_COLUMNS = ("prompt_id", "prompt", "model", "dataset", "sample_id", "eval_name")


def load_log(path: str | Path) -> ReplayLog:
    """Read a replay log from ``.parquet``, ``.csv``, ``.jsonl``/``.ndjson``/``.json`` or a
    pickled DataFrame (``.pkl``; only load pickles you trust). A directory means its
    ``long.parquet``, or else the single supported file inside it."""
    p = Path(path)
    if p.is_dir():
        p = _pick_file(p)
    if not p.exists():
        raise LogError(f"{p}: file not found")
    kind = _READERS.get(p.suffix.lower())
    if kind is None:
        raise LogError(
            f"{p}: unsupported file type {p.suffix!r}; expected one of {sorted(_READERS)}"
        )
    if p.stat().st_size == 0:
        raise LogError(f"{p}: file is empty")
    df = _read(p, kind)
    source = str(p)
    if "model" not in df.columns and any(str(c).endswith(COST_SUFFIX) for c in df.columns):
        return from_wide_frame(df, source=source)
    return from_long_frame(df, source=source)


def from_long_frame(df: pd.DataFrame, *, source: str) -> ReplayLog:
    """Build a log from the long layout (one row per prompt and model).

    >>> df = pd.DataFrame({"prompt_id": [1, 1, 2, 2], "prompt": ["a", "a", "b", "b"],
    ...                    "model": ["x", "y", "x", "y"], "correct": [1, 0, 0.5, None],
    ...                    "cost_usd": [0.1, 0.2, 0.1, 0.2]})
    >>> log = from_long_frame(df, source="toy.csv")
    >>> log.prompt_ids, log.models, log.correct.tolist(), log.dropped
    (['1'], ['x', 'y'], [[1.0, 0.0]], 1)
    """
    require(df, LONG_COLUMNS, source)
    df = df.reset_index(drop=True)
    ids = strings(df["prompt_id"], "prompt_id", source, cast=True)
    prompts = strings(df["prompt"], "prompt", source)
    models_col = strings(df["model"], "model", source)
    correct = numbers(df["correct"], "correct", source, allow_nan=True, upper=1.0)
    cost = numbers(df["cost_usd"], "cost_usd", source, allow_nan=False, upper=None)
    pcode, uniq_ids = pd.factorize(ids)
    mcode, models = pd.factorize(models_col)
    n, m = len(uniq_ids), len(models)
    no_duplicates(
        pcode * m + mcode,
        source,
        lambda r: (
            f"prompt_id {ids[r]!r}, model {models_col[r]!r} (a duplicated (prompt_id, model) pair)"
        ),
    )
    first = np.unique(pcode, return_index=True)[1]
    rows = first_disagreement(prompts, pcode, first)
    if rows is not None:
        i, j = rows
        raise LogError(
            f"{source}: column 'prompt', {row_label(source, i)} and {row_label(source, j)} give "
            f"different text for prompt_id {ids[j]!r}"
        )
    correct_m = np.full((n, m), np.nan)
    cost_m = np.full((n, m), np.nan)
    correct_m[pcode, mcode] = correct
    cost_m[pcode, mcode] = cost
    tasks = _tasks(df, ["dataset", "task", "eval_name"], first)
    check_split(df, pcode, first, source)
    extra = _prompt_columns(df, pcode, first, skip=LONG_COLUMNS)
    return _finish(
        source, list(uniq_ids), list(prompts[first]), list(models), correct_m, cost_m, tasks, extra
    )


def from_wide_frame(df: pd.DataFrame, *, source: str) -> ReplayLog:
    """Build a log from RouterBench's wide layout (one row per prompt, columns per model).

    >>> df = pd.DataFrame({"sample_id": ["s1", "s2"], "prompt": ["a", "b"], "eval_name": "t",
    ...                    "x": [1.0, 0.0], "x|total_cost": 0.1, "x|model_response": "",
    ...                    "y": [0.0, 1.0], "y|total_cost": 0.3})
    >>> log = from_wide_frame(df, source="toy.pkl")
    >>> log.models, log.correct.tolist(), log.tasks
    (['x', 'y'], [[1.0, 0.0], [0.0, 1.0]], ['t', 't'])
    """
    cols = [str(c) for c in df.columns]
    df = df.set_axis(cols, axis=1).reset_index(drop=True)
    priced = [c[: -len(COST_SUFFIX)] for c in cols if c.endswith(COST_SUFFIX)]
    if not priced:
        raise LogError(f"{source}: no '<model>{COST_SUFFIX}' columns; not a wide (RouterBench) log")
    orphans = [c for c in priced if c not in cols]
    if orphans:
        raise LogError(
            f"{source}: column '{orphans[0]}{COST_SUFFIX}' has no correctness column {orphans[0]!r}"
        )
    require(df, ("prompt",), source)
    models = [c for c in cols if c in set(priced)]
    id_col = next((c for c in ("sample_id", "prompt_id") if c in cols), None)
    if id_col is None:
        ids = np.array([str(i) for i in range(len(df))], dtype=object)
    else:
        ids = strings(df[id_col], id_col, source, cast=True)
    prompts = strings(df["prompt"], "prompt", source)
    no_duplicates(pd.factorize(ids)[0], source, lambda r: f"{id_col} {ids[r]!r} (a duplicated id)")
    correct = np.column_stack(
        [numbers(df[c], c, source, allow_nan=True, upper=1.0) for c in models]
    )
    cost = np.column_stack(
        [
            numbers(df[c + COST_SUFFIX], c + COST_SUFFIX, source, allow_nan=False, upper=None)
            for c in models
        ]
    )
    tasks = _tasks(df, ["eval_name", "dataset", "task"], np.arange(len(df)))
    rows = np.arange(len(df))
    skip = {"prompt", *models, *(c for c in cols if "|" in c)}
    check_split(df, rows, rows, source)
    extra = _prompt_columns(df, rows, rows, skip=skip)
    return _finish(source, list(ids), list(prompts), models, correct, cost, tasks, extra)


def _pick_file(folder: Path) -> Path:
    if (folder / "long.parquet").exists():
        return folder / "long.parquet"
    found = sorted(f for f in folder.iterdir() if f.is_file() and f.suffix.lower() in _READERS)
    if len(found) != 1:
        what = "no supported file" if not found else f"{len(found)} candidate files"
        raise LogError(f"{folder}: no long.parquet and {what}; pass the file path instead")
    return found[0]


def _read(p: Path, kind: str) -> pd.DataFrame:
    try:
        if kind == "parquet":
            df = pd.read_parquet(p)
        elif kind == "csv":
            df = pd.read_csv(p, dtype=dict.fromkeys(_TEXT_COLUMNS, str))
        elif kind == "pickle":
            df = pd.read_pickle(p)
        else:
            lines = p.suffix.lower() != ".json"
            try:  # dtype=False keeps ids such as "007" as written
                df = pd.read_json(p, lines=lines, dtype=False)
            except ValueError:
                if lines:
                    raise
                df = pd.read_json(p, lines=True, dtype=False)  # .json holding JSON lines
    except Exception as exc:  # pandas/pyarrow raise many types; none may escape raw
        raise LogError(f"{p}: cannot read as {kind}: {type(exc).__name__}: {exc}") from exc
    if not isinstance(df, pd.DataFrame):
        raise LogError(f"{p}: holds a {type(df).__name__}, not a pandas DataFrame")
    return df


def _tasks(df: pd.DataFrame, candidates: Sequence[str], rows: np.ndarray) -> list[str]:
    col = next((c for c in candidates if c in df.columns), None)
    if col is None:
        return [""] * len(rows)
    return [str(t) for t in df[col].iloc[rows].fillna("").astype(str)]


def _prompt_columns(
    df: pd.DataFrame, pcode: np.ndarray, first: np.ndarray, *, skip: Sequence[str] | set[str]
) -> dict[str, list[str]]:
    """The columns that hold one value per prompt, as text (a per-model column is left out)."""
    out = {}
    for col in df.columns:
        if col in skip:
            continue
        s = df[col]
        if s.groupby(pcode).nunique(dropna=False).max() > 1:
            continue
        out[str(col)] = [str(v) for v in s.iloc[first].astype(object).fillna("")]
    return out


def _finish(
    source: str,
    ids: list[str],
    prompts: list[str],
    models: list[str],
    correct: np.ndarray,
    cost: np.ndarray,
    tasks: list[str],
    columns: dict[str, list[str]],
) -> ReplayLog:
    name = Path(source).stem
    if name in ("long", "wide") and Path(source).parent.name:
        name = Path(source).parent.name
    keep = ~np.isnan(correct).any(axis=1)
    n, dropped = len(ids), int((~keep).sum())
    if not keep.any():
        raise LogError(
            f"{source}: all {n} prompts lack some model's outcome (NaN or missing "
            f"row); nothing is left to replay"
        )
    log = ReplayLog(name, ids, prompts, models, correct, cost, tasks, columns=columns)
    if dropped:
        logger.info("%s: dropped %d of %d prompts lacking some model's outcome", name, dropped, n)
        log = replace(log.subset(keep), dropped=dropped)
    return log
