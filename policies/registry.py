"""Policies by name, as the command line and the service spell them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from policies.base import Policy
from policies.river_adapter import RiverBandit
from policies.rules import BayesUCB, BestFixed, Greedy, RandomPolicy, StaticUniRoute, Thompson

_FACTORIES: dict[str, Callable[..., Policy]] = {
    "static": StaticUniRoute,
    "thompson": Thompson,
    "ucb": BayesUCB,
    "greedy": Greedy,
    "best-fixed": BestFixed,
    "random": RandomPolicy,
    "river-egreedy": lambda **kw: RiverBandit(algorithm="egreedy", **kw),
    "river-ts": lambda **kw: RiverBandit(algorithm="ts", **kw),
}

#: The recommended online policy's settings; ``default`` is this, not a separate algorithm:
#: Thompson sampling on the clusters with a prompt memory, app tags and a drift guard, its
#: exploration tempered by the pool's size (÷ √M) and by how much the feedback teaches, and
#: its clusters' estimates averaged with its pool's levels (:mod:`policies.levels`). On
#: prompts never seen before, wider exploration costs more than it repays (BENCHMARKS.md,
#: "Learning on new prompts"). A Router (and the simulator) adds leaf cells fitted on the
#: traffic, used only while it looks shifted (:mod:`agent.traffic_cells`): leaves fitted
#: before deployment route worse than the clusters alone ("Fresh prompts").
DEFAULT_POLICY: tuple[str, dict[str, Any]] = (
    "thompson",
    {
        "item_strength": 2.0,
        "explore": 0.5,
        "pool_tempering": 0.5,
        "info_tempering": 1.0,
        "drift": 0.002,
        "multires": True,
    },
)

POLICY_NAMES = ("default", *_FACTORIES)


def make_policy(name: str, **params: Any) -> Policy:
    """Build a policy by name; ``params`` override the name's defaults.

    >>> make_policy("greedy", lam=0.3).lam
    0.3
    >>> make_policy("nope")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown policy 'nope'; choose from default, static, thompson, ...
    """
    if name == "default":
        base, defaults = DEFAULT_POLICY
        return _FACTORIES[base](**{**defaults, **params})
    try:
        factory = _FACTORIES[name]
    except KeyError:
        raise ValueError(
            f"unknown policy {name!r}; choose from {', '.join(POLICY_NAMES)}"
        ) from None
    return factory(**params)
