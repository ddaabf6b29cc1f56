"""App tags (``{"task": "code", "tenant": "acme"}``): per-tag, per-model corrections to the cell.

An app often knows what a prompt is for. A tag's correction for a model is the mean of its
residuals, outcome minus the *current* estimate of the cluster the prompt fell in, shrunk toward
zero by empirical Bayes: the values of one tag name (``task=code``, ``task=chat``, ...) spread
their true corrections by τ², estimated from their mean residuals less sampling noise, and a
correction is shrunk by ``NOISE / τ²`` pseudo-observations, at least ``strength``. A tag name
whose values say nothing the cell does not (τ² = 0) moves nothing however much feedback it
gets; one that splits the cell keeps its corrections. So a tag moves an estimate only as far as
its evidence goes, an unseen tag changes nothing, and a tag that says no more than the cluster
already does (every prompt of the cluster has it) fades as the cluster learns instead of
counting the same feedback twice. The residual sum Σ (y − p_cluster) is Σ y − Σ_k n_k·p_k, so
the outcomes are summed per (tag, model) and only the evidence is kept per cluster. A context
with several tags takes the mean of the corrections of the tags that have evidence on a model.

>>> tags = TagResiduals(1, 2, strength=4.0)
>>> for _ in range(4):
...     tags.learn(("task=code",), np.ones(1), 1, 1.0, "label", ThumbsNoise())
>>> means = np.array([[0.5, 0.5]])
>>> tags.correction(("task=code",), means).tolist(), tags.correction(("task=chat",), means)
([0.0, 0.25], None)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from policies.thumbs import ThumbsNoise

MAX_TAGS = 8
MAX_TAG_CHARS = 128
_CLIP = 1e-3
#: An outcome's variance per unit of evidence, at most: a label's p(1 − p) ≤ 1/4, and a thumb
#: read as (thumb − b)/(a − b) with weight (a − b)² has P(up)(1 − P(up)) ≤ 1/4.
NOISE = 0.25


def tag_key(tag: str) -> str:
    """The name part of a ``key=value`` tag."""
    return tag.split("=", 1)[0]


def normalise_tags(tags: Mapping[str, Any] | None) -> tuple[str, ...]:
    """Validate app tags and spell them as sorted ``key=value`` strings.

    >>> normalise_tags({"tenant": "acme", "task": "code"})
    ('task=code', 'tenant=acme')
    >>> normalise_tags({"task": 3})
    Traceback (most recent call last):
    ...
    ValueError: tag 'task' must have a string value, got int
    """
    if not tags:
        return ()
    if not isinstance(tags, Mapping):
        raise ValueError(f"tags must be an object of string values, got {type(tags).__name__}")
    if len(tags) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} tags per request, got {len(tags)}")
    out = []
    for key, value in tags.items():
        if not isinstance(key, str) or not key.strip():
            raise ValueError(f"tag names must be non-empty strings, got {key!r}")
        if not isinstance(value, str):
            raise ValueError(f"tag {key!r} must have a string value, got {type(value).__name__}")
        if len(key) > MAX_TAG_CHARS or len(value) > MAX_TAG_CHARS:
            raise ValueError(f"tag {key!r}: names and values are at most {MAX_TAG_CHARS} chars")
        if "=" in key:
            raise ValueError(f"tag name {key!r} must not contain '='")
        out.append(f"{key}={value}")
    return tuple(sorted(out))


class TagResiduals:
    """Outcome sums ``y`` per (tag, model) and evidence ``n`` per (tag, cluster, model); rows
    added as tags first get feedback. A state saved before the evidence was kept per cluster
    loads its residual sums into ``y`` and its evidence into ``count0`` (fixed offsets)."""

    def __init__(self, k: int, m: int, *, strength: float = 10.0, max_tags: int = 10_000) -> None:
        if strength <= 0:
            raise ValueError(f"tag strength must be > 0, got {strength}")
        self.strength = float(strength)
        self.max_tags = int(max_tags)
        self.index: dict[str, int] = {}
        self.y: np.ndarray = np.zeros((0, m))
        self.n: np.ndarray = np.zeros((0, k, m))
        self.count0: np.ndarray = np.zeros((0, m))
        self.keys: dict[str, list[int]] = {}  # the rows of each tag name

    def residuals(self, rows: list[int], means: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Residual sums Σ (y − p) and evidence, (rows, M), against the current ``means``."""
        n = self.n[rows]
        return self.y[rows] - (n * means).sum(axis=1), n.sum(axis=1) + self.count0[rows]

    def spread(self, key: str, means: np.ndarray) -> float:
        """τ²: how far the true corrections of the values of tag ``key`` spread around zero,
        by the method of moments: each (value, model) correction's squared mean residual less
        its sampling variance ``NOISE / evidence``, weighted by evidence."""
        resid, evidence = self.residuals(self.keys.get(key, []), means)
        seen = evidence > 0
        if not seen.any():
            return 0.0
        excess = resid[seen] ** 2 / evidence[seen] - NOISE
        return max(0.0, float(excess.sum() / evidence[seen].sum()))

    def shrinkage(self, key: str, means: np.ndarray) -> float:
        """Pseudo-observations a correction of tag ``key`` is shrunk toward zero by:
        ``NOISE / τ²`` (empirical Bayes), at least ``strength``; infinite when τ² is 0."""
        tau2 = self.spread(key, means)
        return max(self.strength, NOISE / tau2) if tau2 > 0 else np.inf

    def correction(self, tags: tuple[str, ...], means: np.ndarray) -> np.ndarray | None:
        """Each model's correction for a context with ``tags``, None when no tag is known.

        ``means`` is the (K, M) array of the clusters' current estimates.
        """
        known = [t for t in tags if t in self.index]
        if not known:
            return None
        resid, evidence = self.residuals([self.index[t] for t in known], means)
        shrink = {key: self.shrinkage(key, means) for key in {tag_key(t) for t in known}}
        per_tag = resid / (evidence + np.array([[shrink[tag_key(t)]] for t in known]))
        has = evidence > 0
        k = has.sum(axis=0)
        return np.where(k > 0, (per_tag * has).sum(axis=0) / np.maximum(k, 1), 0.0)

    def apply(
        self, a: np.ndarray, b: np.ndarray, tags: tuple[str, ...], means: np.ndarray
    ) -> tuple[Any, Any]:
        """Beta(a, b) with its mean moved by the tags' correction and its total kept."""
        shift = self.correction(tags, means) if tags else None
        if shift is None:
            return a, b
        n = a + b
        mean = np.clip(a / n + shift, _CLIP, 1.0 - _CLIP)
        return n * mean, n * (1.0 - mean)

    def learn(
        self,
        tags: tuple[str, ...],
        weights: np.ndarray,
        arm: int,
        value: float,
        kind: str,
        noise: ThumbsNoise,
        weight: float = 1.0,
    ) -> None:
        """Fold one piece of feedback on ``arm`` in; ``weights`` is the context's (K,) cluster
        membership (one-hot for a hard context).

        A label or score counts as its value with weight 1. A thumb with likelihoods
        P(up | right) = a, P(up | wrong) = b stands for the unbiased estimate (thumb − b)/(a − b)
        of the outcome, weighted (a − b)² as its variance asks (a thumb that says nothing counts
        for nothing).
        """
        if kind == "thumbs":
            gap = noise.a - noise.b
            y, n = gap * ((1.0 if value >= 0.5 else 0.0) - noise.b), gap * gap
        else:
            y, n = value, 1.0
        w = weight * np.asarray(weights, dtype=np.float64)
        for tag in tags:
            row = self.index.get(tag)
            if row is None:
                if len(self.index) >= self.max_tags:
                    continue  # a bounded table: tags beyond the cap keep the cell's estimate
                row = self.index[tag] = len(self.index)
                self.keys.setdefault(tag_key(tag), []).append(row)
                self.y, self.count0, self.n = (
                    np.concatenate([a, np.zeros((1, *a.shape[1:]))])
                    for a in (self.y, self.count0, self.n)
                )
            self.y[row, arm] += weight * y
            self.n[row, :, arm] += w * n

    def forget(self, arm: int, keep: float) -> None:
        self.y[:, arm] *= keep
        self.n[..., arm] *= keep
        self.count0[:, arm] *= keep

    def add_arm(self) -> None:
        self.y, self.count0, self.n = (
            np.concatenate([a, np.zeros((*a.shape[:-1], 1))], axis=-1)
            for a in (self.y, self.count0, self.n)
        )

    def remove_arm(self, arm: int) -> None:
        self.y, self.count0, self.n = (
            np.delete(a, arm, axis=-1) for a in (self.y, self.count0, self.n)
        )

    def per_tag(self, means: np.ndarray) -> dict[str, dict[str, list[float]]]:
        """Every tag's corrections and evidence per model index (for reports)."""
        out = {}
        for t, i in self.index.items():
            corr = self.correction((t,), means)
            assert corr is not None
            evidence = self.n[i].sum(axis=0) + self.count0[i]
            out[t] = {"correction": corr.tolist(), "evidence": evidence.tolist()}
        return out

    def to_state(self) -> dict[str, Any]:
        return {
            "strength": self.strength,
            "max_tags": self.max_tags,
            "tags": list(self.index),
            "y": self.y.tolist(),
            "n": self.n.tolist(),
            "count0": self.count0.tolist(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], k: int, m: int) -> TagResiduals:
        """Load a state; one saved before the per-cluster evidence (``resid``/``count``) keeps
        its residual sums and evidence as fixed per-tag offsets."""
        out = cls(k, m, strength=state["strength"], max_tags=state["max_tags"])
        out.index = {t: i for i, t in enumerate(state["tags"])}
        for tag, i in out.index.items():
            out.keys.setdefault(tag_key(tag), []).append(i)
        t = len(out.index)
        if "resid" in state:
            out.y = np.asarray(state["resid"], dtype=np.float64).reshape(t, m)
            out.n = np.zeros((t, k, m))
            out.count0 = np.asarray(state["count"], dtype=np.float64).reshape(t, m)
            return out
        out.y = np.asarray(state["y"], dtype=np.float64).reshape(t, m)
        out.n = np.asarray(state["n"], dtype=np.float64).reshape(t, k, m)
        out.count0 = np.asarray(state["count0"], dtype=np.float64).reshape(t, m)
        return out
