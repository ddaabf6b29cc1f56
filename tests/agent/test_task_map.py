"""The task map (agent.task_map) and the level maps around it (agent.level_maps, MapStack)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agent.clusters import ClusterMap, MapStack
from agent.level_maps import check_levels, default_levels, fit_level_maps, load_level_map
from agent.synthetic_log import generate_log
from agent.task_map import TaskMap

CENTRES = {"code": [0.0, 3.0], "math": [3.0, 0.0], "chat": [-3.0, -3.0]}


def blobs(n: int = 40, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(c, 0.5, size=(n, 2)) for c in CENTRES.values()])
    return X, [t for t in CENTRES for _ in range(n)]


def test_a_task_map_learns_the_tasks_and_generalises() -> None:
    X, tasks = blobs()
    tm = TaskMap().fit(X, tasks)
    assert tm.k_ == 3 and tm.names_ == ("chat", "code", "math")
    test, truth = blobs(seed=1)
    predicted = [tm.names_[c] for c in tm.assign(test)]
    assert np.mean([p == t for p, t in zip(predicted, truth, strict=True)]) > 0.97


def test_rows_without_a_task_are_left_out_of_the_fit() -> None:
    X, tasks = blobs()
    unknown = ["" if i % 2 else t for i, t in enumerate(tasks)]
    tm = TaskMap().fit(X, unknown)
    assert tm.names_ == ("chat", "code", "math")
    assert np.array_equal(tm.assign(X), TaskMap().fit(X[::2], tasks[::2]).assign(X))


@pytest.mark.parametrize(
    ("tasks", "message"),
    [
        (["code"] * 120, "at least two task names"),
        (["", "code"] * 60, "at least two task names"),
        (["code", "math"] * 59, "118 task names for 120 rows"),
    ],
)
def test_bad_fits_are_refused_with_a_reason(tasks: list[str], message: str) -> None:
    X, _ = blobs()
    with pytest.raises(ValueError, match=message):
        TaskMap().fit(X, tasks)


def test_bad_input_and_an_unfitted_map_are_refused() -> None:
    X, tasks = blobs()
    tm = TaskMap().fit(X, tasks)
    with pytest.raises(ValueError, match="row 1 holds NaN"):
        tm.assign(np.array([[0.0, 1.0], [np.nan, 0.0]]))
    with pytest.raises(ValueError, match=r"must be 2-D \(n, 2\)"):
        tm.assign(np.zeros((2, 3)))
    with pytest.raises(RuntimeError, match="not fitted"):
        TaskMap().assign(X)
    with pytest.raises(ValueError, match="C > 0"):
        TaskMap(C=0.0).fit(X, tasks)


def test_saved_maps_load_as_what_they_are(tmp_path: Path) -> None:
    X, tasks = blobs()
    tm = TaskMap(C=2.0).fit(X, tasks)
    km = ClusterMap(4, seed=0).fit(X)
    tm.save(tmp_path / "t.npz")
    km.save(tmp_path / "k.npz")
    back = load_level_map(tmp_path / "t.npz")
    assert isinstance(back, TaskMap) and back.names_ == tm.names_ and back.C == 2.0
    assert np.array_equal(back.assign(X), tm.assign(X))
    assert isinstance(load_level_map(tmp_path / "k.npz"), ClusterMap)
    with pytest.raises(ValueError, match="not a saved TaskMap"):
        TaskMap.load(tmp_path / "k.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a saved level map"):
        load_level_map(tmp_path / "junk.npz")


def test_one_product_finds_the_cell_of_every_kind_of_map() -> None:
    X, tasks = blobs()
    maps = [TaskMap().fit(X, tasks), ClusterMap(5, seed=0).fit(X), ClusterMap(2, seed=1).fit(X)]
    stack = MapStack(maps)
    want = np.column_stack([m.assign(X) for m in maps])
    assert np.array_equal(np.array([stack.cells(x) for x in X]), want)
    assert MapStack([]).cells(X[0]) == []


def test_levels_are_checked_fitted_and_chosen_by_the_log() -> None:
    X, tasks = blobs()
    maps = fit_level_maps(X, tasks, ["task", 8, 500])
    assert [type(m).__name__ for m in maps] == ["TaskMap", "ClusterMap", "ClusterMap"]
    assert maps[2].k_ == len(X)  # cut to the rows
    for bad, message in ((["task", "task"], "each level once"), ([1], "got 1"), (["x"], "'x'")):
        with pytest.raises(ValueError, match=message):
            check_levels(bad)
    log = generate_log(n_prompts=100, n_models=2, seed=0)
    assert default_levels(log) == ("task",)
    assert default_levels(log, exclude=sorted(set(log.tasks))[1:]) == (8, 32, 64)
