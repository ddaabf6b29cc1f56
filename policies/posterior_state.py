"""A :class:`~policies.posterior.BetaPosterior` as plain JSON-safe data, and back, exactly."""

from __future__ import annotations

from typing import Any

import numpy as np

from policies.levels import Levels
from policies.memory import PromptMemory
from policies.posterior import BetaPosterior
from policies.tags import TagResiduals
from policies.thumbs import ThumbsNoise


def posterior_state(post: BetaPosterior) -> dict[str, Any]:
    """Every array and setting of ``post`` (floats round-trip exactly through JSON)."""
    return {
        "alpha0": post.alpha0.tolist(),
        "beta0": post.beta0.tolist(),
        "alpha": post.alpha.tolist(),
        "beta": post.beta.tolist(),
        "leaf_s": post.leaf_s.tolist(),
        "leaf_f": post.leaf_f.tolist(),
        "leaf_strength": post.leaf_strength,
        "discount": post.discount,
        "noise": [post.noise.a, post.noise.b],
        "item_strength": post.item_strength,
        "items": post.items.to_state() if post.items is not None else None,
        "tags": post.tags.to_state() if post.tags is not None else None,
        "stale_strength": post.stale_strength,
        "levels": post.levels.to_state() if post.levels is not None else None,
    }


def load_posterior(state: dict[str, Any]) -> BetaPosterior:
    """The posterior :func:`posterior_state` described (older states lack the newer keys)."""
    alpha0 = np.asarray(state["alpha0"], dtype=np.float64)
    m = alpha0.shape[1]
    leaf_s = np.asarray(state["leaf_s"], dtype=np.float64).reshape(-1, m)
    post = BetaPosterior(
        alpha0,
        np.asarray(state["beta0"], dtype=np.float64),
        n_leaves=leaf_s.shape[0],
        leaf_strength=state["leaf_strength"],
        discount=state["discount"],
        noise=ThumbsNoise(*state["noise"]),
        item_strength=state.get("item_strength", 0.0),
        stale_strength=state.get("stale_strength", 0.0),
        levels=Levels.from_state(state["levels"]) if state.get("levels") else None,
    )
    if state.get("items") is not None:
        post.items = PromptMemory.from_state(state["items"])
    if state.get("tags") is not None:
        cells = alpha0.shape[0] + (sum(post.levels.sizes) if post.levels is not None else 0)
        post.tags = TagResiduals.from_state(state["tags"], cells, m)
    post.alpha = np.asarray(state["alpha"], dtype=np.float64)
    post.beta = np.asarray(state["beta"], dtype=np.float64)
    post.leaf_s = leaf_s
    post.leaf_f = np.asarray(state["leaf_f"], dtype=np.float64).reshape(-1, m)
    return post
