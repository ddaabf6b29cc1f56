"""Validation of replay-log columns: every failure names the file, the column and the row."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd


class LogError(ValueError):
    """A replay log that cannot be read; the message names the file, column and row."""


def row_label(source: str, pos: int) -> str:
    """``row N`` counted 1-based over data rows (for a CSV, also the file line)."""
    if source.lower().endswith(".csv"):
        return f"row {pos + 1} (file line {pos + 2})"
    return f"row {pos + 1}"


def fail(source: str, column: str, pos: int, what: str) -> LogError:
    """The error for one bad cell."""
    return LogError(f"{source}: column {column!r}, {row_label(source, pos)}: {what}")


def require(df: pd.DataFrame, columns: Sequence[str], source: str) -> None:
    """The frame has these columns and at least one row."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        found = ", ".join(map(str, df.columns)) or "none"
        raise LogError(
            f"{source}: missing required column(s) {', '.join(map(repr, missing))} (found: {found})"
        )
    if len(df) == 0:
        raise LogError(f"{source}: no rows")


def strings(s: pd.Series, column: str, source: str, *, cast: bool = False) -> np.ndarray:
    """Non-empty strings as an object array; ``cast`` turns non-null non-strings into str."""
    missing = s.isna().to_numpy()
    if missing.any():
        raise fail(source, column, int(np.argmax(missing)), "value is missing")
    if cast:
        s = s.astype(str)
    if not pd.api.types.is_string_dtype(s):
        vals = s.to_numpy(dtype=object)
        for i, v in enumerate(vals):  # error path only: name the first non-string
            if not isinstance(v, str):
                raise fail(source, column, i, f"value {v!r} is not a string")
        s = s.astype(str)
    empty = (s.str.strip().str.len() == 0).to_numpy(dtype=bool)
    if empty.any():
        raise fail(source, column, int(np.argmax(empty)), "value is an empty string")
    return np.asarray(s.to_numpy(dtype=object))


def numbers(
    s: pd.Series, column: str, source: str, *, allow_nan: bool, upper: float | None
) -> np.ndarray:
    """Finite floats in ``[0, upper]`` (NaN kept only if ``allow_nan``)."""
    if pd.api.types.is_bool_dtype(s):
        s = s.astype(float)
    num = pd.to_numeric(s, errors="coerce")
    vals = np.asarray(num.to_numpy(dtype=np.float64, na_value=np.nan))
    nan = np.isnan(vals)
    checks: list[tuple[np.ndarray, Callable[[int], str]]] = [
        (nan & s.notna().to_numpy(), lambda i: f"value {s.iloc[i]!r} is not a number"),
        (np.isinf(vals), lambda i: f"value {vals[i]} is not finite"),
        (vals < 0, lambda i: f"value {vals[i]} is negative"),
    ]
    if not allow_nan:
        checks.append((nan, lambda i: "value is missing (NaN)"))
    if upper is not None:
        checks.append((vals > upper, lambda i: f"value {vals[i]} is outside [0, {upper:g}]"))
    for bad, what in checks:
        if bad.any():
            i = int(np.argmax(bad))
            raise fail(source, column, i, what(i))
    return vals


def no_duplicates(keys: np.ndarray, source: str, describe: Callable[[int], str]) -> None:
    """No key appears twice; the error names both rows."""
    dup = pd.Series(keys).duplicated().to_numpy()
    if dup.any():
        j = int(np.argmax(dup))
        i = int(np.argmax(keys == keys[j]))
        raise LogError(
            f"{source}: {row_label(source, i)} and {row_label(source, j)} repeat {describe(j)}"
        )


#: The values of the long format's optional ``split`` column that the simulator honours.
SPLIT_VALUES = ("fit", "val", "pool")


def first_disagreement(
    values: np.ndarray, pcode: np.ndarray, first: np.ndarray
) -> tuple[int, int] | None:
    """The first row whose value differs from its prompt's first row, as (first row, row);
    None when every prompt has one value. ``pcode`` is each row's prompt, ``first[p]`` the
    first row of prompt ``p``."""
    differs = np.flatnonzero(values != values[first][pcode])
    if not differs.size:
        return None
    j = int(differs[0])
    return int(first[pcode[j]]), j


def check_split(df: pd.DataFrame, pcode: np.ndarray, first: np.ndarray, source: str) -> None:
    """A ``split`` column is the same on every row of a prompt, and one that uses fit/val/pool
    uses nothing else (a column of none of them, such as train/test, is the source's own).
    ``first[p]`` is prompt ``p``'s first row and ``pcode`` each row's prompt."""
    if "split" not in df.columns:
        return
    text = np.array([None if pd.isna(v) else str(v) for v in df["split"]], dtype=object)
    rows = first_disagreement(text, pcode, first)
    if rows is not None:
        i, j = rows
        raise LogError(
            f"{source}: column 'split', {row_label(source, i)} and {row_label(source, j)} "
            f"give different values ({text[i]!r}, {text[j]!r}) for one prompt"
        )
    ours = np.isin(text, SPLIT_VALUES)
    if ours.any() and not ours.all():
        bad = int(np.argmax(~ours))
        what = f"value {text[bad]!r} is not one of {', '.join(SPLIT_VALUES)}"
        raise fail(source, "split", bad, what)
