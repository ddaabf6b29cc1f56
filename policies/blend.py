"""The warm start: UniRoute's profile read at several partitions of prompt space, blended.

UniRoute describes a model by its error rate in each of K clusters, measured on a small
labelled validation set. This module keeps those rates as counts (successes, trials) per
(cell, model) at every partition the pool has: one cell for all prompts (the model's global
rate), the K clusters, and any extra partitions of the profiles (:mod:`agent.level_maps`:
the log's tasks, predicted from the embedding, or K-means at other resolutions).

Each cell's rate is shrunk toward the model's global rate by ``κ`` pseudo-trials, one ``κ``
per partition, chosen by empirical Bayes: the ``κ`` whose leave-one-out predictions of the
validation outcomes are the most likely (a partition whose cells differ little gets a large
``κ``). A prompt's estimate is then a weighted average of its cells' rates, one per partition,
with weights that stack the partitions (:func:`stack_weights`: the mixture that best predicts
held-out validation outcomes), so a log whose tasks decide the winner leans on the task
partition, and one whose clusters are finer than its tasks on the clusters.

>>> s = np.array([[8.0, 2.0], [2.0, 8.0]])  # successes, 2 clusters x 2 models
>>> n = np.full((2, 2), 10.0)
>>> b = Blend.from_counts([("clusters", s, n)], weights=[0.0, 1.0])
>>> b.mean((0,)).round(2).tolist()  # cluster 0 alone, shrunk toward each model's 0.5
[0.71, 0.29]
>>> Blend.from_counts([("clusters", s, n)]).mean((0,)).round(2).tolist()  # half global
[0.61, 0.39]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from policies.profile import ModelProfile

#: The shrink strengths (pseudo-trials toward the global rate) empirical Bayes chooses from.
KAPPAS = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0)
#: Every estimate stays this far inside (0, 1), so its probit is finite.
CLIP = 0.02
_TINY = 1e-6

#: (name, successes, trials): one partition's counts, each (cells, models).
Counts = tuple[str, np.ndarray, np.ndarray]


def global_rate(successes: np.ndarray, trials: np.ndarray) -> np.ndarray:
    """Each model's rate over every cell, with half a success and half a failure added."""
    return (successes.sum(axis=0) + 0.5) / (trials.sum(axis=0) + 1.0)


def loo_loss(s: np.ndarray, n: np.ndarray, g: np.ndarray, kappa: float) -> float:
    """Mean log-loss of predicting each validation outcome from its cell's other outcomes,
    shrunk toward ``g`` by ``kappa`` (counts may be fractional: graded scores)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        hit = (s - 1.0 + kappa * g) / (n - 1.0 + kappa)  # a success, held out
        miss = (s + kappa * g) / (n - 1.0 + kappa)  # a failure, held out
    hit = np.clip(hit, _TINY, 1.0 - _TINY)
    miss = np.clip(miss, _TINY, 1.0 - _TINY)
    ok = n >= 1.0
    total = np.where(ok, -s * np.log(hit) - (n - s) * np.log1p(-miss), 0.0).sum()
    return float(total / max(float(n[ok].sum()), 1.0))


def choose_kappa(s: np.ndarray, n: np.ndarray, g: np.ndarray) -> float:
    """The shrink strength in :data:`KAPPAS` with the smallest leave-one-out loss."""
    return KAPPAS[int(np.argmin([loo_loss(s, n, g, k) for k in KAPPAS]))]


class Blend:
    """Per-partition counts, their shrink strengths and the stacking weights.

    ``names[0]`` is always ``"global"`` (one cell); a context names its cell in every other
    partition, in order (:meth:`cells`). ``weights`` sum to 1.
    """

    def __init__(
        self,
        names: Sequence[str],
        successes: Sequence[np.ndarray],
        trials: Sequence[np.ndarray],
        kappas: Sequence[float],
        weights: Sequence[float],
    ) -> None:
        if not (len(names) == len(successes) == len(trials) == len(kappas) == len(weights)):
            raise ValueError("a blend needs one name, count pair, κ and weight per partition")
        w = np.asarray(weights, dtype=np.float64)
        if np.any(~np.isfinite(w)) or np.any(w < 0) or not w.sum() > 0:
            raise ValueError(f"blend weights must be finite, >= 0 and not all 0, got {w}")
        self.names = list(names)
        self.successes = [np.array(s, dtype=np.float64) for s in successes]
        self.trials = [np.array(n, dtype=np.float64) for n in trials]
        self.kappas = [float(k) for k in kappas]
        self.weights = w / w.sum()
        self._rates = self._shrunk()
        self._sizes = tuple(int(n.shape[0]) for n in self.trials)

    @classmethod
    def from_counts(cls, counts: Sequence[Counts], weights: Sequence[float] | None = None) -> Blend:
        """The blend of these partitions plus the global one (first), each ``κ`` chosen by
        empirical Bayes; ``weights`` (one per partition, the global one first) default to
        equal."""
        if not counts:
            raise ValueError("a blend needs at least one partition")
        s0, n0 = counts[0][1], counts[0][2]
        g = global_rate(s0, n0)
        names = ["global", *(c[0] for c in counts)]
        succ = [s0.sum(axis=0, keepdims=True), *(np.asarray(c[1], float) for c in counts)]
        tri = [n0.sum(axis=0, keepdims=True), *(np.asarray(c[2], float) for c in counts)]
        kappas = [0.0, *(choose_kappa(s, n, g) for s, n in zip(succ[1:], tri[1:], strict=True))]
        w = [1.0] * len(names) if weights is None else [float(x) for x in weights]
        return cls(names, succ, tri, kappas, w)

    @classmethod
    def from_profiles(
        cls, profiles: Sequence[ModelProfile], weights: Sequence[float] | None = None
    ) -> Blend:
        """The blend of the profiles' clusters and levels (every profile needs the same)."""
        levels = len(profiles[0].levels)
        if any(len(p.levels) != levels for p in profiles):
            raise ValueError("every profile of a pool needs the same levels")
        counts: list[Counts] = [
            (
                "clusters",
                _columns([p.successes for p in profiles]),
                _columns([p.trials for p in profiles]),
            )
        ]
        for i in range(levels):
            s = _columns([p.levels[i][0] for p in profiles])
            counts.append((f"level {i + 1}", s, _columns([p.levels[i][1] for p in profiles])))
        return cls.from_counts(counts, weights)

    @property
    def n_models(self) -> int:
        return int(self.trials[0].shape[1])

    @property
    def sizes(self) -> tuple[int, ...]:
        """Cells per partition, the global one first."""
        return self._sizes

    def _shrunk(self) -> list[np.ndarray]:
        g = global_rate(self.successes[0], self.trials[0])
        out = []
        for s, n, k in zip(self.successes, self.trials, self.kappas, strict=True):
            out.append(np.clip((s + 0.5 * (k == 0) + k * g) / (n + (k == 0) + k), CLIP, 1 - CLIP))
        return out

    def rates(self, part: int) -> np.ndarray:
        """Partition ``part``'s shrunk rate per (cell, model)."""
        return self._rates[part]

    def mean(self, cells: Sequence[int]) -> np.ndarray:
        """Each model's blended estimate for a prompt in ``cells`` (its cell in every
        partition but the global one, in order; -1 where its cell is unknown, e.g. a stored
        row from a pool without that partition: the other partitions' weights then share
        its weight)."""
        if len(cells) != len(self._sizes) - 1:
            raise ValueError(f"need a cell in each of {len(self._sizes) - 1} partitions")
        w = self.weights
        out, total = w[0] * self._rates[0][0], w[0]
        for i, c in enumerate(cells, start=1):
            if c >= 0:
                out, total = out + w[i] * self._rates[i][c], total + w[i]
        return np.asarray(out / total) if total > 0 else np.asarray(self._rates[0][0])

    # -- the pool changes ----------------------------------------------------------------------
    def add_model(self, counts: Sequence[tuple[np.ndarray, np.ndarray]]) -> None:
        """Append a model given its (successes, trials) at every partition but the global one
        (a model profiled on fewer partitions passes zeros there: its global rate stands in)."""
        if len(counts) != len(self.names) - 1:
            raise ValueError(f"a new model needs counts at {len(self.names) - 1} partitions")
        s0, n0 = np.asarray(counts[0][0], float), np.asarray(counts[0][1], float)
        cols = [(np.array([s0.sum()]), np.array([n0.sum()])), *counts]
        for i, (s, n) in enumerate(cols):
            s, n = np.asarray(s, float), np.asarray(n, float)
            if s.shape != (self.sizes[i],) or n.shape != s.shape:
                raise ValueError(f"partition {self.names[i]} has {self.sizes[i]} cells")
            self.successes[i] = np.column_stack([self.successes[i], s])
            self.trials[i] = np.column_stack([self.trials[i], n])
        self._rates = self._shrunk()

    def remove_model(self, j: int) -> None:
        self.successes = [np.delete(s, j, axis=1) for s in self.successes]
        self.trials = [np.delete(n, j, axis=1) for n in self.trials]
        self._rates = self._shrunk()

    # -- state ---------------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        return {
            "names": self.names,
            "successes": [s.tolist() for s in self.successes],
            "trials": [n.tolist() for n in self.trials],
            "kappas": self.kappas,
            "weights": self.weights.tolist(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Blend:
        return cls(
            state["names"],
            [np.asarray(s, float) for s in state["successes"]],
            [np.asarray(n, float) for n in state["trials"]],
            state["kappas"],
            state["weights"],
        )


def _columns(columns: Sequence[np.ndarray]) -> np.ndarray:
    return np.column_stack([np.asarray(c, dtype=np.float64) for c in columns])


def stack_weights(
    blend: Blend, cells: np.ndarray, outcomes: np.ndarray, *, prior: float = 1.0, iters: int = 200
) -> np.ndarray:
    """Stacking weights for ``blend``'s partitions: the mixture weights that maximise the
    likelihood of the validation outcomes under each partition's leave-one-out prediction
    (EM, with ``prior`` pseudo-counts toward equal weights).

    ``cells`` is (rows, partitions − 1), each validation row's cell in every partition but
    the global one; ``outcomes`` is (rows, models) in [0, 1], NaN where not logged. The rows
    must be the ones the blend's counts were made from.
    """
    y = np.asarray(outcomes, dtype=np.float64)
    seen = np.isfinite(y)
    y0 = np.where(seen, y, 0.0)
    rows = np.zeros((y.shape[0], 1), dtype=np.int64)
    cells = np.column_stack([rows, np.asarray(cells, dtype=np.int64).reshape(y.shape[0], -1)])
    s_g, n_g = blend.successes[0][0], blend.trials[0][0]
    lik = []
    for p, (s, n, k) in enumerate(zip(blend.successes, blend.trials, blend.kappas, strict=True)):
        c = cells[:, p]
        g = (s_g - y0 + 0.5) / (n_g - seen + 1.0)  # the global rate without this row
        if k == 0:
            pred = (s[c] - y0 + 0.5) / (n[c] - seen + 1.0)
        else:
            pred = (s[c] - y0 + k * g) / (n[c] - seen + k)
        pred = np.clip(pred, CLIP, 1 - CLIP)
        lik.append(np.where(seen, pred**y0 * (1 - pred) ** (1 - y0), np.nan)[seen])
    L = np.array(lik)  # (partitions, observations)
    w = np.full(L.shape[0], 1.0 / L.shape[0])
    for _ in range(iters):
        r = w[:, None] * L
        r /= r.sum(axis=0, keepdims=True)
        w = (r.sum(axis=1) + prior) / (L.shape[1] + prior * L.shape[0])
    return np.asarray(w)
