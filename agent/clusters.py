"""The cluster map: K-means over prompt embeddings (UniRoute's step 1)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

logger = logging.getLogger(__name__)


class ClusterMap:
    """K-means (k-means++ init, best of ``n_init`` runs) mapping embeddings to cluster weights.

    Rows are usually unit vectors, for which squared Euclidean distance is ``2 - 2 cos``.
    ``weights(X, soft=True)`` is ``softmax(-squared_distance / temperature)`` per row.

    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(c, 0.05, size=(20, 2)) for c in ([0, 0], [1, 1], [0, 1])])
    >>> cmap = ClusterMap(k=3, seed=0).fit(X)
    >>> cmap.k_, len(set(cmap.assign(X).tolist())), cmap.weights(X[:2]).sum(axis=1).tolist()
    (3, 3, [1.0, 1.0])
    >>> bool((cmap.assign(X[:20]) == cmap.assign(X[:1])[0]).all())
    True
    """

    def __init__(
        self,
        k: int = 16,
        *,
        temperature: float = 0.1,
        n_init: int = 3,
        max_iter: int = 100,
        seed: int | None = 0,
    ) -> None:
        self.k = k
        self.temperature = temperature
        self.n_init = n_init
        self.max_iter = max_iter
        self.seed = seed

    @property
    def centroids(self) -> np.ndarray:
        """The fitted centroids, shape ``(K, d)`` (read-only view)."""
        view = self._fitted().view()
        view.flags.writeable = False
        return view

    @property
    def k_(self) -> int:
        """Number of clusters of the fitted map."""
        return int(self._fitted().shape[0])

    @property
    def similarity_(self) -> float:
        """The training rows' mean cosine to their most similar centroid: how close prompts
        like the fit prompts sit to the clusters (NaN for a map saved before it was kept)."""
        self._fitted()
        return float(self.__dict__.get("_similarity", float("nan")))

    @property
    def inertia_(self) -> float:
        """Sum of squared distances of the training rows to their centroids."""
        self._fitted()
        return float(self._inertia)

    def fit(self, X: np.ndarray) -> ClusterMap:
        """Fit the centroids to the rows of ``X`` (``n_samples >= k``)."""
        for name in ("k", "n_init", "max_iter"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"ClusterMap: {name} must be >= 1, got {getattr(self, name)}")
        X = _as_matrix(X)
        if self.k > X.shape[0]:
            raise ValueError(
                f"ClusterMap: k={self.k} clusters need at least {self.k} rows, got {X.shape[0]}"
            )
        rng = np.random.default_rng(self.seed)
        best: tuple[np.ndarray, float] | None = None
        for _ in range(self.n_init):
            centroids, inertia = _lloyd(X, _kmeans_pp(X, self.k, rng), self.max_iter)
            if best is None or inertia < best[1]:
                best = (centroids, inertia)
        assert best is not None
        self._centroids, self._inertia = best
        self._similarity = float(nearest_similarity(X, best[0]).mean())
        logger.info("ClusterMap: k=%d on %d rows, inertia %.4g", self.k, X.shape[0], best[1])
        return self

    def assign(self, X: np.ndarray) -> np.ndarray:
        """Index of the nearest centroid for each row of ``X``, shape ``(n,)``."""
        return np.asarray(_sq_dist(self._check(X), self._fitted()).argmin(axis=1))

    def scorer(self) -> tuple[np.ndarray, np.ndarray]:
        """``(A, bias)`` with a row's nearest centroid ``argmax(A @ x + bias)``: ``2c`` and
        ``−|c|²`` per centroid ``c`` (:class:`MapStack`)."""
        c = self._fitted()
        return 2.0 * c, -(c * c).sum(axis=1)

    def weights(self, X: np.ndarray, *, soft: bool = False) -> np.ndarray:
        """Cluster weights ``(n, K)``: one-hot nearest centroid, or a softmax if ``soft``."""
        dist = _sq_dist(self._check(X), self._fitted())
        if not soft:
            out = np.zeros_like(dist)
            out[np.arange(len(dist)), dist.argmin(axis=1)] = 1.0
            return out
        if not self.temperature > 0:
            raise ValueError(f"ClusterMap: temperature must be > 0, got {self.temperature}")
        logits = -dist / self.temperature
        logits -= logits.max(axis=1, keepdims=True)
        w = np.exp(logits)
        return np.asarray(w / w.sum(axis=1, keepdims=True))

    def save(self, path: str | Path) -> None:
        """Write centroids and parameters to an ``.npz`` file at exactly ``path``."""
        with open(path, "wb") as fh:
            np.savez(
                fh,
                centroids=self._fitted(),
                inertia=self._inertia,
                similarity=self.similarity_,
                k=self.k,
                temperature=self.temperature,
                n_init=self.n_init,
                max_iter=self.max_iter,
                seed=-1 if self.seed is None else self.seed,
                has_seed=self.seed is not None,
            )

    @classmethod
    def load(cls, path: str | Path) -> ClusterMap:
        """Read a map written by :meth:`save`."""
        try:
            with np.load(path, allow_pickle=False) as z:
                obj = cls(
                    int(z["k"]),
                    temperature=float(z["temperature"]),
                    n_init=int(z["n_init"]),
                    max_iter=int(z["max_iter"]),
                    seed=int(z["seed"]) if bool(z["has_seed"]) else None,
                )
                obj._centroids = np.array(z["centroids"], dtype=np.float64)
                obj._inertia = float(z["inertia"])
                obj._similarity = float(z["similarity"]) if "similarity" in z else float("nan")
        except (OSError, KeyError, ValueError) as exc:
            raise ValueError(f"{path}: not a saved ClusterMap ({exc})") from exc
        return obj

    def _fitted(self) -> np.ndarray:
        centroids = self.__dict__.get("_centroids")
        if centroids is None:
            raise RuntimeError("ClusterMap is not fitted: call fit(X) or ClusterMap.load(path)")
        return np.asarray(centroids)

    def _check(self, X: np.ndarray) -> np.ndarray:
        X = _as_matrix(X)
        d = self._fitted().shape[1]
        if X.shape[1] != d:
            raise ValueError(f"ClusterMap: X has {X.shape[1]} features, the map was fitted on {d}")
        return X


def nearest_similarity(X: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Each row's cosine to its most similar centroid, shape ``(n,)``.

    >>> nearest_similarity(np.array([[1.0, 0.0], [1.0, 1.0]]), np.array([[2.0, 0.0]])).round(3)
    array([1.   , 0.707])
    """
    x = np.atleast_2d(np.asarray(X, dtype=np.float64))
    c = np.asarray(centroids, dtype=np.float64)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    c = c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12)
    return np.asarray((x @ c.T).max(axis=1))


def _as_matrix(X: np.ndarray) -> np.ndarray:
    arr = np.asarray(X, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise ValueError(f"ClusterMap: X must be 2-D (n_samples, n_features), got {arr.shape}")
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        raise ValueError(f"ClusterMap: X row {int(np.argmax(bad))} holds NaN or inf")
    return arr


def _sq_dist(X: np.ndarray, C: np.ndarray) -> np.ndarray:
    d = (X * X).sum(axis=1)[:, None] - 2.0 * (X @ C.T) + (C * C).sum(axis=1)[None, :]
    return np.maximum(d, 0.0)


def _kmeans_pp(X: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding: each new centre drawn with probability proportional to D^2."""
    n = X.shape[0]
    idx = [int(rng.integers(n))]
    closest = _sq_dist(X, X[idx])[:, 0]
    for _ in range(1, k):
        total = closest.sum()
        p = closest / total if total > 0 else np.full(n, 1.0 / n)
        i = int(rng.choice(n, p=p))
        idx.append(i)
        closest = np.minimum(closest, _sq_dist(X, X[i : i + 1])[:, 0])
    return np.array(X[idx], dtype=np.float64)


def _lloyd(X: np.ndarray, centroids: np.ndarray, max_iter: int) -> tuple[np.ndarray, float]:
    """Lloyd iterations; an empty cluster is re-seeded at the row farthest from its centre."""
    n, k = X.shape[0], centroids.shape[0]
    labels = np.full(n, -1)
    for _ in range(max_iter):
        dist = _sq_dist(X, centroids)
        new = dist.argmin(axis=1)
        if np.array_equal(new, labels):
            break
        labels = new
        onehot = np.zeros((n, k))
        onehot[np.arange(n), labels] = 1.0
        counts = onehot.sum(axis=0)
        sums = onehot.T @ X
        filled = counts > 0
        centroids = centroids.copy()
        centroids[filled] = sums[filled] / counts[filled, None]
        if not filled.all():
            far = np.argsort(-dist[np.arange(n), labels], kind="stable")
            for j, i in zip(np.flatnonzero(~filled), far, strict=False):
                centroids[j] = X[i]
            labels = np.full(n, -1)  # force another pass after re-seeding
    inertia = float(_sq_dist(X, centroids).min(axis=1).sum())
    return centroids, inertia


class MapStack:
    """Several fitted level maps in one matrix, so one product finds a vector's cell in each
    (what each map's ``assign`` finds, map by map): every map scores a cell ``A @ x + bias``
    (its ``scorer()``) and a vector falls in its best-scoring cell.

    >>> a = ClusterMap(2, seed=0).fit(np.array([[0.0, 0.0], [0.0, 1.0], [5.0, 5.0], [5.0, 6.0]]))
    >>> stack = MapStack([a, a])
    >>> stack.cells(np.array([5.0, 5.5])) == [int(a.assign(np.array([[5.0, 5.5]]))[0])] * 2
    True
    """

    def __init__(self, maps: Sequence[LevelMap]) -> None:
        parts = [m.scorer() for m in maps]
        self.a = np.concatenate([a for a, _ in parts]) if parts else np.zeros((0, 0))
        self.bias = np.concatenate([b for _, b in parts]) if parts else np.zeros(0)
        self.bounds = np.cumsum([0, *(len(b) for _, b in parts)])

    def cells(self, x: np.ndarray) -> list[int]:
        """The best-scoring cell's index in each map for one vector ``x`` (finite, ``(d,)``)."""
        if not self.a.size:
            return []
        s = self.a @ x + self.bias
        return [
            int(s[a:b].argmax()) for a, b in zip(self.bounds[:-1], self.bounds[1:], strict=True)
        ]


class LevelMap(Protocol):
    """An extra partition of prompt space the warm start reads: a :class:`ClusterMap`, or a
    :class:`agent.task_map.TaskMap`."""

    @property
    def k_(self) -> int: ...

    def assign(self, X: np.ndarray) -> np.ndarray: ...

    def scorer(self) -> tuple[np.ndarray, np.ndarray]: ...

    def save(self, path: str | Path) -> None: ...
