"""The learning core's update formulas and ADWIN, compiled with numba for the replay kernel.

:mod:`policies.updates` and :mod:`policies.adwin` are plain Python over floats and arrays (the
core does not import numba); here the very same functions are compiled, each module's functions
seeing each other's compiled versions, so the kernel runs one copy of the math.
"""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

from numba import njit

from agent import traffic_cells
from policies import adwin, updates

_HERE = Path(__file__).resolve().parent
#: What the compiled kernel is built from, its inlined helpers included.
SOURCES = (
    Path(updates.__file__),
    Path(adwin.__file__),
    Path(traffic_cells.__file__),
    *(_HERE / f"{m}.py" for m in ("compiled", "kernel", "kernel_learn", "lazy_pick", "samplers")),
)


def drop_stale_caches() -> None:
    """numba checks a cached function against its own source file only, so the kernel's cache
    would outlive an edit of a formula it inlines from another file. Drop the cache indexes
    older than the newest of :data:`SOURCES`: what they index is compiled again, once."""
    try:
        newest = max(p.stat().st_mtime for p in SOURCES)
        for folder in {p.parent / "__pycache__" for p in SOURCES}:
            for index in folder.glob("*.nbi"):
                if index.stat().st_mtime < newest:
                    index.unlink(missing_ok=True)
    except OSError:  # a read-only install: its caches are as old as its sources
        pass


drop_stale_caches()


def compile_functions(module: types.ModuleType, names: tuple[str, ...]) -> dict[str, Any]:
    """numba dispatchers for ``module``'s functions ``names``, calling one another compiled and
    inlined into their callers (a real call costs reference counting on every array)."""
    env = dict(vars(module))
    out: dict[str, Any] = {}
    for name in names:
        fn = getattr(module, name)
        clone = types.FunctionType(fn.__code__, env, fn.__name__, fn.__defaults__)
        clone.__qualname__ = fn.__qualname__
        clone.__module__ = fn.__module__
        clone.__doc__ = fn.__doc__
        out[name] = env[name] = njit(cache=True, error_model="numpy", inline="always")(clone)
    return out


_U = compile_functions(
    updates,
    (
        "outcome_step",
        "thumbs_likelihood",
        "thumbs_step",
        "thumbs_expectation",
        "stack",
        "discount_step",
        "prior_shrink",
        "forget_step",
        "utility",
        "information_rate",
        "tempered",
        "pace",
    ),
)
outcome_step = _U["outcome_step"]
thumbs_likelihood = _U["thumbs_likelihood"]
thumbs_step = _U["thumbs_step"]
thumbs_expectation = _U["thumbs_expectation"]
stack = _U["stack"]
discount_step = _U["discount_step"]
prior_shrink = _U["prior_shrink"]
forget_step = _U["forget_step"]
utility = _U["utility"]
information_rate = _U["information_rate"]
tempered = _U["tempered"]
pace = _U["pace"]

_A = compile_functions(
    adwin, ("_drop_oldest", "_merge", "_insert", "_delete_oldest", "_cut", "_detect", "update")
)
adwin_update = _A["update"]

#: The traffic cells' online k-means (:func:`agent.traffic_cells.assign_stream`), compiled for
#: the replays, where it fits a whole stream at once.
assign_stream = compile_functions(traffic_cells, ("assign_stream",))["assign_stream"]
