"""App tags (``{"task": "code", "tenant": "acme"}``): per-tag, per-model corrections to the cell.

An app often knows what a prompt is for. A tag's correction for a model is the mean of its
residuals (outcome minus the cell's estimate when the feedback came), shrunk toward zero by
``strength`` pseudo-observations, so a tag moves an estimate only as far as its evidence goes
and an unseen tag changes nothing. A context with several tags takes the mean of the
corrections of the tags that have evidence on a model.

>>> tags = TagResiduals(2, strength=4.0)
>>> for _ in range(4):
...     tags.observe(("task=code",), 1, 1.0 - 0.5)
>>> tags.correction(("task=code",)).tolist(), tags.correction(("task=chat",)) is None
([0.0, 0.25], True)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from policies.thumbs import ThumbsNoise

MAX_TAGS = 8
MAX_TAG_CHARS = 128
_CLIP = 1e-3


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
    """Residual sums and evidence per (tag, model); rows are added as tags first get feedback."""

    def __init__(self, m: int, *, strength: float = 10.0, max_tags: int = 10_000) -> None:
        if strength <= 0:
            raise ValueError(f"tag strength must be > 0, got {strength}")
        self.strength = float(strength)
        self.max_tags = int(max_tags)
        self.index: dict[str, int] = {}
        self.resid = np.zeros((0, m))
        self.count = np.zeros((0, m))

    def correction(self, tags: tuple[str, ...]) -> np.ndarray | None:
        """Each model's correction for a context with ``tags``, None when no tag is known."""
        rows = [self.index[t] for t in tags if t in self.index]
        if not rows:
            return None
        n = self.count[rows]
        per_tag = self.resid[rows] / (n + self.strength)
        has = n > 0
        k = has.sum(axis=0)
        return np.where(k > 0, (per_tag * has).sum(axis=0) / np.maximum(k, 1), 0.0)

    def apply(self, a: np.ndarray, b: np.ndarray, tags: tuple[str, ...]) -> tuple[Any, Any]:
        """Beta(a, b) with its mean moved by the tags' correction and its total kept."""
        shift = self.correction(tags) if tags else None
        if shift is None:
            return a, b
        n = a + b
        mean = np.clip(a / n + shift, _CLIP, 1.0 - _CLIP)
        return n * mean, n * (1.0 - mean)

    def learn(
        self,
        tags: tuple[str, ...],
        arm: int,
        p: float,
        value: float,
        kind: str,
        noise: ThumbsNoise,
        weight: float = 1.0,
    ) -> None:
        """Fold one piece of feedback on ``arm`` in, given the cell's estimate ``p`` before it.

        A label or score is the outcome; a thumb stands for P(correct | thumb) under ``p`` and
        counts for ``a − b`` of an observation (a thumb that says nothing counts for nothing).
        """
        if kind != "thumbs":
            self.observe(tags, arm, value - p, weight)
            return
        up = value >= 0.5
        like_c, like_w = (noise.a, noise.b) if up else (1.0 - noise.a, 1.0 - noise.b)
        posterior = p * like_c / max(p * like_c + (1.0 - p) * like_w, 1e-12)
        self.observe(tags, arm, posterior - p, weight * (noise.a - noise.b))

    def observe(
        self, tags: tuple[str, ...], arm: int, residual: float, weight: float = 1.0
    ) -> None:
        """Add one residual (outcome minus the cell's estimate) of ``arm`` under each tag."""
        for tag in tags:
            row = self.index.get(tag)
            if row is None:
                if len(self.index) >= self.max_tags:
                    continue  # a bounded table: tags beyond the cap keep the cell's estimate
                row = self.index[tag] = len(self.index)
                pad = np.zeros((1, self.resid.shape[1]))
                self.resid = np.vstack([self.resid, pad])
                self.count = np.vstack([self.count, pad])
            self.resid[row, arm] += weight * residual
            self.count[row, arm] += weight

    def forget(self, arm: int, keep: float) -> None:
        self.resid[:, arm] *= keep
        self.count[:, arm] *= keep

    def add_arm(self) -> None:
        pad = np.zeros((self.resid.shape[0], 1))
        self.resid = np.hstack([self.resid, pad])
        self.count = np.hstack([self.count, pad])

    def remove_arm(self, arm: int) -> None:
        self.resid = np.delete(self.resid, arm, axis=1)
        self.count = np.delete(self.count, arm, axis=1)

    def per_tag(self) -> dict[str, dict[str, list[float]]]:
        """Every tag's corrections and evidence per model index (for reports)."""
        n = self.count
        corr = self.resid / (n + self.strength)
        return {
            t: {"correction": corr[i].tolist(), "evidence": n[i].tolist()}
            for t, i in self.index.items()
        }

    def to_state(self) -> dict[str, Any]:
        return {
            "strength": self.strength,
            "max_tags": self.max_tags,
            "tags": list(self.index),
            "resid": self.resid.tolist(),
            "count": self.count.tolist(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], m: int) -> TagResiduals:
        out = cls(m, strength=state["strength"], max_tags=state["max_tags"])
        out.index = {t: i for i, t in enumerate(state["tags"])}
        out.resid = np.asarray(state["resid"], dtype=np.float64).reshape(-1, m)
        out.count = np.asarray(state["count"], dtype=np.float64).reshape(-1, m)
        return out
