"""Helpers for the contexts a :class:`~agent.router.Router` routes and learns on: the level
cells a policy names, a stored row's cells as a policy reads them, and a request's eligible
models. (The Router turns a prompt into its Context itself: :meth:`Router.context_for`.)"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from policies import OnlineUniRoute, Policy


def level_sizes(policy: Policy) -> tuple[int, ...]:
    """The cells of each extra partition the policy's contexts name (none for the baselines)."""
    return policy.blend.sizes[2:] if isinstance(policy, OnlineUniRoute) else ()


def level_cells(policy: Policy, cells: Sequence[int]) -> tuple[int, ...]:
    """A stored row's level cells as the policy reads them: as stored when they fit its
    levels, else -1 (unknown) in each (a row decided by a pool built with other levels).

    >>> from policies import ModelProfile, make_policy
    >>> level = (np.array([1.0, 2.0]), np.array([2.0, 4.0]))  # a level of 2 cells
    >>> m = ModelProfile("m", np.array([5.0]), np.array([10.0]), 1.0, (level,))
    >>> policy = make_policy("default").warm_start([m])
    >>> level_cells(policy, [1]), level_cells(policy, [2]), level_cells(policy, [0, 1])
    ((1,), (-1,), (-1,))
    >>> level_cells(make_policy("greedy").warm_start([m]), [3, 1])  # a baseline has no levels
    ()
    """
    sizes = level_sizes(policy)
    got = tuple(int(c) for c in cells)
    if len(got) == len(sizes) and all(-1 <= c < k for c, k in zip(got, sizes, strict=True)):
        return got
    return (-1,) * len(sizes)


def eligible_mask(names: Sequence[str], allowed: Sequence[str] | None) -> np.ndarray | None:
    """Which of ``names`` a request allows (None: all); raises for names not in the pool.

    >>> eligible_mask(["a", "b"], ["b"]), eligible_mask(["a"], None)
    (array([False,  True]), None)
    """
    if allowed is None:
        return None
    unknown = sorted(set(allowed) - set(names))
    if unknown or not allowed:
        raise ValueError(f"allowed must name pool models; unknown: {unknown}")
    return np.isin(np.array(names, dtype=object), list(allowed))
