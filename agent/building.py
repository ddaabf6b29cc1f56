"""Building a :class:`~agent.router.Router`: from UniRoute profiles, or from a replay log
whose prompts give the clusters and whose labelled rows give the profiles."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Self

from agent.clusters import ClusterMap
from agent.embedder import Embedder
from agent.level_maps import default_levels
from agent.logs import ReplayLog
from agent.traffic_cells import DEFAULT_CELLS, TrafficLeaves, leaf_params
from agent.warm_start import fit_pool
from policies import ModelProfile, make_policy


class Builders:
    """The Router's constructors beyond ``__init__``."""

    @classmethod
    def from_profiles(
        cls,
        profiles: Sequence[ModelProfile],
        cluster_map: ClusterMap,
        embedder: Embedder,
        *,
        policy: str = "default",
        policy_params: dict[str, Any] | None = None,
        seed: int = 0,
        lam: float | None = None,
        traffic_cells: int | None = None,
        **kwargs: Any,
    ) -> Self:
        """A router whose policy is warm-started from UniRoute profiles; ``policy_params``
        override the named policy's settings (e.g. ``{"propensity_samples": 256}``).

        ``traffic_cells``: how many leaf cells to fit on the traffic (0: none; the default,
        None, is :data:`~agent.traffic_cells.DEFAULT_CELLS` for the ``default`` policy without
        a leaf map, else 0). They are used only while the traffic looks shifted."""
        if traffic_cells is None:
            plain = policy == "default" and kwargs.get("leaf_map") is None
            traffic_cells = DEFAULT_CELLS if plain else 0
        if traffic_cells < 0:
            raise ValueError(f"traffic_cells must be >= 0, got {traffic_cells}")
        params: dict[str, Any] = {"seed": seed}
        if traffic_cells:
            params.update(leaf_params(traffic_cells))
            kwargs["traffic_cells"] = TrafficLeaves.for_map(cluster_map, traffic_cells)
        params.update(policy_params or {})
        if lam is not None:
            params["lam"] = lam
        weights = [m.level_weight for m in kwargs.get("level_maps", ())]
        made = make_policy(policy, **params).warm_start(profiles, level_weights=weights or None)
        build: Callable[..., Self] = cls
        return build(made, cluster_map, embedder, **kwargs)

    @classmethod
    def from_log(
        cls,
        log: ReplayLog,
        *,
        embedder: Embedder,
        k: int = 16,
        policy: str = "default",
        policy_params: dict[str, Any] | None = None,
        seed: int = 0,
        val_share: float = 1.0,
        lam: float | None = None,
        **kwargs: Any,
    ) -> Self:
        """Fit clusters on the log's prompts and profiles on its labelled rows, then warm-start.
        A policy with leaves (``n_leaves > 0``, e.g. from ``policy_params``) also gets a leaf
        map of that many cells (at most one per prompt); one that learns on resolution levels
        (``multires``, as ``default`` does) gets their maps and profiles: the task level where
        the log names tasks, else K-means levels (:func:`agent.level_maps.default_levels`)."""
        made = make_policy(policy, **(policy_params or {}))
        leaves = int(getattr(made, "n_leaves", 0))
        pool = fit_pool(
            log,
            embedder=embedder,
            k=k,
            seed=seed,
            val_share=val_share,
            soft=bool(kwargs.get("soft", False)),
            leaves=leaves,
            levels=default_levels(log) if made.multires and made.learns else (),
        )
        return cls.from_profiles(
            pool.profiles,
            pool.cluster_map,
            embedder,
            policy=policy,
            policy_params=policy_params,
            seed=seed,
            lam=lam,
            leaf_map=pool.leaf_map,
            level_maps=pool.level_maps,
            **kwargs,
        )
