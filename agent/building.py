"""Building a :class:`~agent.router.Router`: from UniRoute profiles, or from a replay log
whose prompts give the clusters and whose labelled rows give the profiles."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Self

from agent.clusters import ClusterMap
from agent.embedder import Embedder
from agent.level_maps import default_levels
from agent.logs import ReplayLog
from agent.shift import ShiftMeter
from agent.warm_start import fit_pool
from policies import ModelProfile, OnlineUniRoute, make_policy


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
        blend: Sequence[float] | None = None,
        shift: ShiftMeter | None = None,
        **kwargs: Any,
    ) -> Self:
        """A router whose policy is warm-started from UniRoute profiles; ``policy_params``
        override the named policy's settings (e.g. ``{"propensity_samples": 256}``).

        For ``default``: the warm start's stacking weights ``blend`` (equal when None) and
        the ``shift`` meter (:class:`agent.shift.ShiftMeter`;
        without one the policy sees no shift). The router observes a copy of ``shift``, so
        routers built from one pool's meter do not share what they see."""
        params: dict[str, Any] = {"seed": seed}
        online = isinstance(make_policy(policy), OnlineUniRoute)
        if online:
            kwargs["shift"] = None if shift is None else ShiftMeter.from_state(shift.to_state())
        params.update(policy_params or {})
        if lam is not None:
            params["lam"] = lam
        made = make_policy(policy, **params).warm_start(profiles, blend=blend)
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
        ``default`` also gets the log's extra partitions (the task partition where the log
        names tasks, else K-means ones: :func:`agent.level_maps.default_levels`), stacked by
        their validation outcomes, and a shift meter fitted on the prompts."""
        online = isinstance(make_policy(policy), OnlineUniRoute)
        pool = fit_pool(
            log,
            embedder=embedder,
            k=k,
            seed=seed,
            val_share=val_share,
            soft=bool(kwargs.get("soft", False)),
            levels=default_levels(log) if online else (),
        )
        return cls.from_profiles(
            pool.profiles,
            pool.cluster_map,
            embedder,
            policy=policy,
            policy_params=policy_params,
            seed=seed,
            lam=lam,
            level_maps=pool.level_maps,
            blend=pool.blend,
            shift=pool.shift if online else None,
            **kwargs,
        )
