"""The two values that cross the policy boundary: what a policy sees, and what it decides."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, slots=True)
class Context:
    """Where a prompt sits: its cluster weights, and optionally a finer leaf cell and its key.

    ``weights`` has one entry per cluster and sums to 1 (one-hot for a hard assignment).
    ``leaf`` indexes a finer partition of prompt space (-1 when there is none; no policy here
    reads it, and the router names none).
    ``prompt_key`` is a non-negative key of the exact prompt (a hash of its text, or a row index
    in a replay), -1 when unknown; policies with prompt memory learn per prompt on top of that.
    ``tags`` are the app's ``key=value`` tags, for reports. ``cells`` names the prompt's cell
    in each extra partition of the pool (the profiles' levels), empty when it has none.
    ``shift`` measures how unlike the prompts the profiles were measured on the recent traffic
    is (about 1 for traffic like them, far above under a shift; 0: not measured).

    >>> ctx = Context.hard(2, k=4)
    >>> ctx.cluster, ctx.weights.tolist()
    (2, [0.0, 0.0, 1.0, 0.0])
    >>> Context(np.array([0.5, 0.5])).cluster
    -1
    """

    weights: np.ndarray
    leaf: int = -1
    prompt_key: int = -1
    tags: tuple[str, ...] = ()
    cells: tuple[int, ...] = ()
    shift: float = 0.0
    cluster: int = field(init=False)

    def __post_init__(self) -> None:
        w = np.asarray(self.weights, dtype=np.float64)
        if w.ndim != 1 or w.size == 0:
            raise ValueError(f"cluster weights must be a non-empty vector, got shape {w.shape}")
        if not np.all(np.isfinite(w)) or np.any(w < 0) or abs(w.sum() - 1.0) > 1e-6:
            raise ValueError("cluster weights must be finite, non-negative and sum to 1")
        object.__setattr__(self, "weights", w)
        if not (np.isfinite(self.shift) and self.shift >= 0):
            raise ValueError(f"shift must be a finite number >= 0, got {self.shift}")
        top = int(np.argmax(w))
        object.__setattr__(self, "cluster", top if w[top] == 1.0 else -1)

    @classmethod
    def hard(
        cls,
        cluster: int,
        *,
        k: int,
        leaf: int = -1,
        prompt_key: int = -1,
        tags: tuple[str, ...] = (),
        cells: tuple[int, ...] = (),
        shift: float = 0.0,
    ) -> Context:
        """A context that sits wholly in one cluster."""
        if not 0 <= cluster < k:
            raise ValueError(f"cluster {cluster} is outside 0..{k - 1}")
        w = np.zeros(k)
        w[cluster] = 1.0
        return cls(w, leaf, prompt_key, tags, cells, shift)


@dataclass(frozen=True, slots=True)
class Choice:
    """One routing choice: the chosen model, every model's score, and how it was chosen.

    ``scores`` holds each model's score (estimated correctness minus λ × normalised cost);
    ineligible models score ``-inf``. ``propensity`` is the probability the rule had of picking
    ``model`` where that is known in closed form (random, ε-greedy, static rules), else ``None``.
    """

    model: str
    index: int
    scores: np.ndarray
    propensity: float | None
    context: Context
    lam: float
