"""Per-cluster, per-model Beta posteriors over correctness, with an optional finer leaf level."""

from __future__ import annotations

from typing import Any

import numpy as np

from policies.context import Context
from policies.levels import Grid, Levels, cap_cell, forget_model
from policies.memory import PromptMemory
from policies.tags import TagResiduals
from policies.thumbs import ThumbsNoise
from policies.updates import (  # KINDS and validate_feedback are re-exported
    KINDS,
    discount_step,
    outcome_step,
    stack,
    thumbs_step,
    validate_feedback,
)

__all__ = ["KINDS", "BetaPosterior", "validate_feedback"]


class BetaPosterior:
    """Beta(α[k, m], β[k, m]) for K clusters × M models, plus optional leaf and prompt evidence.

    The leaf level holds raw evidence ``leaf_s[l, m]``, ``leaf_f[l, m]`` for L finer cells. A
    leaf's posterior is its evidence on top of its cluster's posterior, whose weight is capped at
    ``leaf_strength`` pseudo-observations, so enough local evidence can overrule the cluster.
    With ``item_strength > 0`` a :class:`~policies.memory.PromptMemory` does the same one level
    further down, per exact prompt (the context's ``prompt_key``), for models with evidence on it.
    With ``tag_strength > 0`` the context's app tags correct the cell (:mod:`policies.tags`).
    With ``stale_strength > 0`` feedback from a leaf first calls :meth:`mark_stale`.
    With ``levels``, a context's cells at extra resolutions average into its cluster's mean
    (:mod:`policies.levels`) and learn from the same feedback.

    >>> post = BetaPosterior(np.ones((2, 3)), np.ones((2, 3)))
    >>> ctx = Context.hard(0, k=2)
    >>> post.observe(ctx, 1, 1.0, kind="label")
    1.0
    >>> post.alpha.tolist()
    [[1.0, 2.0, 1.0], [1.0, 1.0, 1.0]]
    >>> post.mean(ctx).round(3).tolist()
    [0.5, 0.667, 0.5]
    """

    def __init__(
        self,
        alpha0: np.ndarray,
        beta0: np.ndarray,
        *,
        n_leaves: int = 0,
        leaf_strength: float = 20.0,
        discount: float = 1.0,
        noise: ThumbsNoise | None = None,
        item_strength: float = 0.0,
        max_items: int = 100_000,
        tag_strength: float = 0.0,
        stale_strength: float = 0.0,
        levels: Levels | None = None,
    ) -> None:
        if alpha0.shape != beta0.shape or alpha0.ndim != 2:
            raise ValueError("prior arrays must both be (K, M)")
        if np.any(alpha0 <= 0) or np.any(beta0 <= 0):
            raise ValueError("Beta prior parameters must be > 0")
        if not 0.0 < discount <= 1.0:
            raise ValueError(f"discount must be in (0, 1], got {discount}")
        self.alpha0 = np.array(alpha0, dtype=np.float64)
        self.beta0 = np.array(beta0, dtype=np.float64)
        self.alpha = self.alpha0.copy()
        self.beta = self.beta0.copy()
        m = alpha0.shape[1]
        self.leaf_s = np.zeros((n_leaves, m))
        self.leaf_f = np.zeros((n_leaves, m))
        self.leaf_strength = float(leaf_strength)
        self.discount = float(discount)
        self.noise = noise or ThumbsNoise()
        if item_strength < 0:
            raise ValueError(f"item_strength must be >= 0, got {item_strength}")
        self.item_strength = float(item_strength)
        self.items = PromptMemory(m, capacity=max_items) if item_strength > 0 else None
        if stale_strength < 0:
            raise ValueError(f"stale_strength must be >= 0, got {stale_strength}")
        self.stale_strength = float(stale_strength)  # 0: never stale
        k = alpha0.shape[0]
        if levels is not None and levels.alpha[0].shape[1] != m:
            raise ValueError(f"level cells cover {levels.alpha[0].shape[1]} models, not {m}")
        self.levels = levels
        cells = k + (sum(levels.sizes) if levels is not None else 0)
        self.tags = TagResiduals(cells, m, strength=tag_strength) if tag_strength > 0 else None

    @property
    def shape(self) -> tuple[int, int]:
        k, m = self.alpha.shape
        return int(k), int(m)

    # -- reading -------------------------------------------------------------------------------
    def cluster_params(self, ctx: Context) -> tuple[np.ndarray, np.ndarray]:
        """Pooled (α, β) over the context's clusters (exact for a hard context), its mean
        averaged with the context's level cells' where it names them and has no leaf (a leaf
        is a finer partition already, and one fitted on the traffic)."""
        a, b = self.pooled(ctx)
        if self.levels is None or not ctx.cells or self.in_leaf(ctx):
            return a, b
        return self.levels.combine(a, b, ctx.cells)

    def pooled(self, ctx: Context) -> tuple[np.ndarray, np.ndarray]:
        """Pooled (α, β) over the context's clusters alone (exact for a hard context)."""
        if ctx.cluster >= 0:
            return self.alpha[ctx.cluster], self.beta[ctx.cluster]
        return ctx.weights @ self.alpha, ctx.weights @ self.beta

    def _grid(self) -> Grid:
        return self.alpha, self.beta, self.alpha0, self.beta0

    def in_leaf(self, ctx: Context) -> bool:
        """Whether the context sits in a leaf cell: there the leaf, not the levels, refines."""
        return ctx.leaf >= 0 and self.leaf_s.shape[0] > 0

    def leaf_params(self, ctx: Context) -> tuple[np.ndarray, np.ndarray]:
        """The (α, β) of the context's leaf when it has one, else its cluster's."""
        a, b = self.cluster_params(ctx)
        if ctx.leaf < 0 or self.leaf_s.shape[0] == 0:
            return a, b
        return stack(a, b, self.leaf_strength, self.leaf_s[ctx.leaf], self.leaf_f[ctx.leaf])

    def cell_params(self, ctx: Context) -> tuple[np.ndarray, np.ndarray]:
        """The (α, β) of the context's cell: its leaf's (or cluster's), corrected by its tags."""
        a, b = self.leaf_params(ctx)
        if self.tags is None or not ctx.tags:
            return a, b
        return self.tags.apply(a, b, ctx.tags, self.reference_means())

    def reference_means(self) -> np.ndarray:
        """Every cluster's current estimate per model, (K, M), then every level cell's: what
        tags learn their residuals against (with :meth:`reference_weights`)."""
        means = [self.alpha / (self.alpha + self.beta)]
        if self.levels is not None:
            means += [a / (a + b) for a, b in zip(self.levels.alpha, self.levels.beta, strict=True)]
        return np.concatenate(means)

    def reference_weights(self, ctx: Context) -> np.ndarray:
        """The context's share in each row of :meth:`reference_means`: its estimate's mean is
        the weights' average of the means (its clusters', averaged with its level cells')."""
        if self.levels is None:
            return ctx.weights
        cells = () if self.in_leaf(ctx) else ctx.cells
        parts, total = [ctx.weights], 1.0
        for i, (size, w) in enumerate(zip(self.levels.sizes, self.levels.weights, strict=True)):
            part = np.zeros(size)
            if cells:
                part[cells[i]] = w
                total += w
            parts.append(part)
        return np.concatenate(parts) / total

    def params(self, ctx: Context) -> tuple[np.ndarray, np.ndarray]:
        """The (α, β) a decision should use: the prompt's where it has evidence, else the cell's.

        A model never observed on this prompt keeps its cell's posterior (mean *and* spread):
        exploring one-off prompts at the prompt level would only chase answer-to-answer noise.
        """
        a, b = self.cell_params(ctx)
        row = (
            self.items.get(ctx.prompt_key)
            if self.items is not None and ctx.prompt_key >= 0
            else None
        )
        if row is None:
            return a, b
        pa, pb = stack(a, b, self.item_strength, row[0], row[1])
        seen = row[2] > 0
        return np.where(seen, pa, a), np.where(seen, pb, b)

    def mean(self, ctx: Context) -> np.ndarray:
        a, b = self.params(ctx)
        return a / (a + b)

    def evidence(self, ctx: Context) -> float:
        """Observations gathered so far (beyond the prior) in the context's clusters."""
        extra = (self.alpha + self.beta - self.alpha0 - self.beta0).sum(axis=1)
        return float(ctx.weights @ extra)

    # -- learning ------------------------------------------------------------------------------
    def _delta(self, a: Any, b: Any, value: float, kind: str) -> tuple[Any, Any]:
        """Evidence one observation adds to Beta(a, b) (arrays or floats)."""
        if kind == "thumbs":
            a2, b2 = thumbs_step(a, b, *self.noise.likelihood(up=value >= 0.5))
            return a2 - a, b2 - b
        return outcome_step(value)

    def observe(
        self, ctx: Context, arm: int, value: float, *, kind: str = "label", weight: float = 1.0
    ) -> float:
        """Fold one piece of feedback on ``arm`` into the posterior (value already validated).

        A soft context updates every cluster in proportion to its weight. Returns the evidence
        gained, in labels: 1 for a label or score, less for a thumb (the growth of α + β).
        """
        if ctx.cluster >= 0:
            ks: Any = ctx.cluster
            w: Any = weight
        else:
            ks = np.flatnonzero(ctx.weights > 1e-6)
            w = ctx.weights[ks] * weight
        leaf = ctx.leaf >= 0 and self.leaf_s.shape[0] > 0
        if leaf:
            self.mark_stale(ctx)
        keyed = ctx.prompt_key >= 0 and self.items is not None
        if leaf:  # before this observation
            la, lb = self.leaf_params(ctx)
            lda, ldb = self._delta(la[arm], lb[arm], value, kind)
        if self.tags is not None and ctx.tags:
            self.tags.learn(
                ctx.tags, self.reference_weights(ctx), arm, value, kind, self.noise, weight
            )
        if keyed:  # the prompt level updates on its cell's posterior before this observation
            ca, cb = self.cell_params(ctx)
        if keyed:
            assert self.items is not None
            row = self.items.get(ctx.prompt_key)
            s, f = (row[0, arm], row[1, arm]) if row is not None else (0.0, 0.0)
            ia, ib = stack(ca[arm], cb[arm], self.item_strength, s, f)
            ida, idb = self._delta(ia, ib, value, kind)
        a, b = self.alpha[ks, arm], self.beta[ks, arm]
        if self.discount < 1.0:
            a, b = discount_step(a, b, self.alpha0[ks, arm], self.beta0[ks, arm], self.discount**w)
        da, db = self._delta(a, b, value, kind)
        self.alpha[ks, arm] = a + w * da
        self.beta[ks, arm] = b + w * db
        gained = w * (da + db)
        gained = float(gained if ctx.cluster >= 0 else gained.sum())
        if self.levels is not None and ctx.cells:
            keep = self.discount**weight
            delta = lambda a, b: self._delta(a, b, value, kind)  # noqa: E731
            self.levels.learn(ctx.cells, arm, delta, weight, keep)
        if leaf:
            self.leaf_s[ctx.leaf, arm] += weight * lda
            self.leaf_f[ctx.leaf, arm] += weight * ldb
        if keyed:
            assert self.items is not None
            self.items.add(ctx.prompt_key, arm, ida, idb, weight)
        return gained

    def forget(self, arm: int, keep: float, prior_strength: float | None = None) -> None:
        """Keep only a ``keep`` share of a model's learned evidence, in every cluster, leaf and
        prompt (used when drift is detected). Its warm-start prior stays, weakened to at most
        ``prior_strength`` pseudo-observations per cluster when given (a stale profile)."""
        forget_model(self._grid(), arm, keep, prior_strength)
        if self.leaf_s.shape[0]:
            self.leaf_s[:, arm] *= keep
            self.leaf_f[:, arm] *= keep
        if self.items is not None:
            self.items.forget(arm, keep)
        if self.tags is not None:
            self.tags.forget(arm, keep)
        if self.levels is not None:
            self.levels.forget(arm, keep, prior_strength)

    def mark_stale(self, ctx: Context) -> None:
        """Cap the context's cluster prior at ``stale_strength`` pseudo-observations per model
        (a stale profile, :func:`agent.traffic_cells.leaf_params`), keeping what it learned."""
        cap_cell(self._grid(), int(ctx.weights.argmax()), self.stale_strength or np.inf)
        if self.levels is not None and ctx.cells and self.stale_strength:
            self.levels.cap_prior(ctx.cells, self.stale_strength)

    # -- the pool changes ----------------------------------------------------------------------
    def add_arm(
        self,
        alpha0: np.ndarray,
        beta0: np.ndarray,
        levels: list[tuple[np.ndarray, np.ndarray]] | None = None,
    ) -> None:
        if self.levels is not None:
            self.levels.add_arm(levels or [])
        for name, col in (("alpha0", alpha0), ("beta0", beta0), ("alpha", alpha0), ("beta", beta0)):
            setattr(self, name, np.column_stack([getattr(self, name), col]))
        zeros = np.zeros((self.leaf_s.shape[0], 1))
        self.leaf_s = np.hstack([self.leaf_s, zeros])
        self.leaf_f = np.hstack([self.leaf_f, zeros])
        if self.items is not None:
            self.items.add_arm()
        if self.tags is not None:
            self.tags.add_arm()

    def remove_arm(self, arm: int) -> None:
        for name in ("alpha0", "beta0", "alpha", "beta", "leaf_s", "leaf_f"):
            setattr(self, name, np.delete(getattr(self, name), arm, axis=1))
        if self.levels is not None:
            self.levels.remove_arm(arm)
        if self.items is not None:
            self.items.remove_arm(arm)
        if self.tags is not None:
            self.tags.remove_arm(arm)
