"""Saving and restoring a policy exactly: parameters, pool, posterior, drift guard and RNG."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from policies.drift import DriftGuard
from policies.posterior import BetaPosterior

if TYPE_CHECKING:
    from policies.base import Policy


def dump_state(policy: Policy) -> dict[str, Any]:
    """A JSON-safe description of ``policy`` (floats round-trip exactly through JSON)."""
    params = {k: list(v) if isinstance(v, tuple) else v for k, v in policy.get_params().items()}
    guard = policy._guard
    return {
        "class": type(policy).__name__,
        "params": params,
        "names": list(policy._names),
        "cost": policy._cost.tolist(),
        "acc": policy._acc.tolist(),
        "cost_scale": policy._cost_scale,
        "posterior": policy._post.to_state(),
        "rng": policy._rng.bit_generator.state,
        "t": policy._t,
        "decided": policy._decided,
        "evidence": policy._evidence,
        "guard": guard.to_state() if guard is not None else None,
        "extra": policy._extra_state(),
    }


def load_state(state: dict[str, Any], registry: dict[str, type[Policy]]) -> Policy:
    """Rebuild the policy :func:`dump_state` described; ``registry`` maps class names."""
    try:
        cls = registry[state["class"]]
    except KeyError:
        raise ValueError(f"unknown policy class {state.get('class')!r} in saved state") from None
    params = dict(state["params"])
    if "thumbs" in params:
        params["thumbs"] = tuple(params["thumbs"])
    policy = cls(**params)
    policy._names = list(state["names"])
    policy._cost = np.asarray(state["cost"], dtype=np.float64)
    policy._acc = np.asarray(state["acc"], dtype=np.float64)
    policy._cost_scale = float(state["cost_scale"])
    policy._post = BetaPosterior.from_state(state["posterior"])
    policy._rng = np.random.default_rng()
    policy._rng.bit_generator.state = state["rng"]
    policy._t = int(state["t"])
    policy._decided = int(state["decided"])
    policy._evidence = float(state["evidence"])
    policy._guard = None
    if state["guard"] is not None:
        policy._guard = DriftGuard(delta=policy.drift or 0.002)
        policy._guard.load_state(state["guard"])
    policy._load_extra_state(state["extra"])
    return policy
