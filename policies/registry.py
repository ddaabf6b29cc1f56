"""Policies by name, as the command line and the service spell them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from policies.base import Policy
from policies.online import OnlineUniRoute
from policies.river_adapter import RiverBandit
from policies.rules import BayesUCB, BestFixed, Greedy, RandomPolicy, StaticUniRoute, Thompson

#: ``default`` is :class:`OnlineUniRoute` with its own defaults: one definition, read by the
#: Router, the service and the simulator alike.
_FACTORIES: dict[str, Callable[..., Policy]] = {
    "default": OnlineUniRoute,
    "static": StaticUniRoute,
    "thompson": Thompson,
    "ucb": BayesUCB,
    "greedy": Greedy,
    "best-fixed": BestFixed,
    "random": RandomPolicy,
    "river-egreedy": lambda **kw: RiverBandit(algorithm="egreedy", **kw),
    "river-ts": lambda **kw: RiverBandit(algorithm="ts", **kw),
    "bandit": lambda **kw: RiverBandit(algorithm="ts", per_cluster=False, **kw),
}

POLICY_NAMES = tuple(_FACTORIES)


def make_policy(name: str, **params: Any) -> Policy:
    """Build a policy by name; ``params`` override the name's defaults.

    >>> make_policy("greedy", lam=0.3).lam
    0.3
    >>> make_policy("nope")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown policy 'nope'; choose from default, static, thompson, ...
    """
    try:
        factory = _FACTORIES[name]
    except KeyError:
        raise ValueError(
            f"unknown policy {name!r}; choose from {', '.join(POLICY_NAMES)}"
        ) from None
    return factory(**params)
