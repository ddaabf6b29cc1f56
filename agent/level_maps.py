"""The extra partitions (levels) a pool's warm start reads beside its clusters: which
ones a log gets, fitting their maps, and reading a saved one back.

A level is named by its number of K-means cells (``32``) or by ``"task"``: the supervised
partition by the log's task column (:class:`agent.task_map.TaskMap`). A log that names at
least two tasks gets the task level; one that names none gets K-means levels at 8, 32 and 64
cells.

>>> from agent.logs import ReplayLog
>>> def log(tasks):
...     z = np.zeros((len(tasks), 1))
...     return ReplayLog("x", ["1", "2"], ["a", "b"], ["m"], z, z, tasks)
>>> default_levels(log(["gsm8k", "mmlu"])), default_levels(log(["", ""]))
(('task',), (8, 32, 64))
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from agent.clusters import ClusterMap, LevelMap
from agent.logs import ReplayLog
from agent.task_map import TaskMap

#: The K-means resolutions a pool without task names fits beside its clusters.
DEFAULT_LEVELS = (8, 32, 64)
#: The name of the supervised (task) level.
TASK = "task"
#: A level: a number of K-means cells, or :data:`TASK`.
Level = int | str


def names_tasks(
    log: ReplayLog, rows: np.ndarray | None = None, *, exclude: Sequence[str] = ()
) -> bool:
    """Whether the log (its ``rows``) names at least two distinct tasks besides ``exclude``."""
    tasks = np.asarray(log.tasks, dtype=object)
    if rows is not None:
        tasks = tasks[rows]
    return len(set(tasks.tolist()) - {"", *exclude}) >= 2


def default_levels(log: ReplayLog, *, exclude: Sequence[str] = ()) -> tuple[Level, ...]:
    """The task level for a log that names tasks (besides ``exclude``: a shift's streamed
    datasets, which the maps are not fitted on), else K-means levels at 8, 32 and 64 cells."""
    return (TASK,) if names_tasks(log, exclude=exclude) else tuple(DEFAULT_LEVELS)


def check_levels(levels: Sequence[Level]) -> tuple[Level, ...]:
    """``levels`` as a tuple, each once: K-means sizes of at least 2 cells, or :data:`TASK`."""
    out = tuple(levels)
    for lv in out:
        if lv != TASK and not (isinstance(lv, int) and not isinstance(lv, bool) and lv >= 2):
            raise ValueError(f"a level is a number of cells >= 2 or {TASK!r}, got {lv!r}")
    if len(set(out)) != len(out):
        raise ValueError(f"each level once, got {list(out)}")
    return out


def fit_level_maps(
    X: np.ndarray, tasks: Sequence[str], levels: Sequence[Level], *, seed: int = 0
) -> tuple[LevelMap, ...]:
    """One map per level, fitted on the rows of ``X`` (each row's task in ``tasks``); a
    K-means level is cut to the number of rows."""
    maps: list[LevelMap] = []
    for lv in check_levels(levels):
        if lv == TASK:
            maps.append(TaskMap().fit(X, tasks))
        else:
            assert isinstance(lv, int)
            maps.append(ClusterMap(min(lv, len(X)), seed=seed).fit(X))
    return tuple(maps)


def load_level_map(path: str | Path) -> LevelMap:
    """A level map written by its ``save``: a :class:`TaskMap` or a :class:`ClusterMap`."""
    try:
        with np.load(path, allow_pickle=False) as z:
            kind = str(z["kind"]) if "kind" in z else "kmeans"
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a saved level map ({exc})") from exc
    return TaskMap.load(path) if kind == TaskMap.kind else ClusterMap.load(path)
