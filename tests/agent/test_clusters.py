"""Tests for agent.clusters.ClusterMap."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agent.clusters import ClusterMap


def blobs(n_per: int = 50, k: int = 4, d: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Unit-vector blobs around ``k`` random directions, with their true labels."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    labels = np.repeat(np.arange(k), n_per)
    X = centres[labels] + rng.normal(0.0, 0.05, size=(k * n_per, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    perm = rng.permutation(len(X))
    return X[perm], labels[perm]


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    pairs = set(zip(a.tolist(), b.tolist(), strict=True))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def test_recovers_planted_blobs() -> None:
    X, truth = blobs()
    cmap = ClusterMap(k=4, seed=1).fit(X)
    assert cmap.k_ == 4 and cmap.centroids.shape == (4, 8)
    assert same_partition(cmap.assign(X), truth)
    assert cmap.inertia_ < 0.03 * len(X)


def test_hard_weights_are_one_hot() -> None:
    X, _ = blobs()
    cmap = ClusterMap(k=4).fit(X)
    w = cmap.weights(X)
    assert w.shape == (len(X), 4)
    np.testing.assert_array_equal(w.sum(axis=1), 1.0)
    np.testing.assert_array_equal(w.argmax(axis=1), cmap.assign(X))
    assert set(np.unique(w).tolist()) == {0.0, 1.0}


def test_soft_weights_sum_to_one_and_sharpen() -> None:
    X, _ = blobs()
    cmap = ClusterMap(k=4, temperature=1.0).fit(X)
    soft = cmap.weights(X, soft=True)
    np.testing.assert_allclose(soft.sum(axis=1), 1.0)
    assert (soft > 0).all() and soft.max(axis=1).min() < 0.9
    hard = cmap.weights(X)
    cold = ClusterMap(k=4, temperature=1e-4).fit(X).weights(X, soft=True)
    np.testing.assert_allclose(cold, hard, atol=1e-8)
    tiny = ClusterMap(k=4, temperature=1e-300).fit(X).weights(X, soft=True)
    assert np.isfinite(tiny).all()


def test_seeded_determinism() -> None:
    X, _ = blobs(k=6, seed=3)
    a = ClusterMap(k=6, seed=7).fit(X).centroids
    b = ClusterMap(k=6, seed=7).fit(X).centroids
    np.testing.assert_array_equal(a, b)


def test_save_load_exact(tmp_path: Path) -> None:
    X, _ = blobs()
    cmap = ClusterMap(k=5, temperature=0.37, n_init=2, max_iter=30, seed=None).fit(X)
    path = tmp_path / "clusters.bin"
    cmap.save(path)
    back = ClusterMap.load(path)
    np.testing.assert_array_equal(back.centroids, cmap.centroids)
    assert (back.k, back.temperature, back.n_init, back.max_iter, back.seed) == (
        5,
        0.37,
        2,
        30,
        None,
    )
    assert back.inertia_ == cmap.inertia_
    np.testing.assert_array_equal(back.weights(X, soft=True), cmap.weights(X, soft=True))


def test_load_rejects_other_files(tmp_path: Path) -> None:
    path = tmp_path / "x.npz"
    np.savez(path, something=np.zeros(2))
    with pytest.raises(ValueError, match="not a saved ClusterMap"):
        ClusterMap.load(path)


def test_empty_clusters_are_reseeded() -> None:
    X = np.vstack([np.zeros((30, 2)), np.ones((30, 2)), [[5.0, 5.0]]])
    cmap = ClusterMap(k=3, n_init=1, seed=0).fit(X)
    assert len(set(cmap.assign(X).tolist())) == 3


def test_more_clusters_than_distinct_points_is_fine() -> None:
    X = np.repeat(np.eye(2), 5, axis=0)
    cmap = ClusterMap(k=4, seed=0).fit(X)
    assert cmap.k_ == 4 and np.isfinite(cmap.centroids).all()


def test_bad_input() -> None:
    X, _ = blobs()
    cmap = ClusterMap(k=4)
    with pytest.raises(RuntimeError, match="not fitted"):
        cmap.assign(X)
    with pytest.raises(RuntimeError, match="not fitted"):
        _ = cmap.centroids
    with pytest.raises(ValueError, match="k=4 clusters need at least 4 rows, got 3"):
        cmap.fit(X[:3])
    with pytest.raises(ValueError, match="must be 2-D"):
        cmap.fit(X[0])
    cmap.fit(X)
    with pytest.raises(ValueError, match="X has 3 features, the map was fitted on 8"):
        cmap.weights(X[:, :3])
    bad = X.copy()
    bad[5, 2] = np.nan
    with pytest.raises(ValueError, match="row 5 holds NaN"):
        cmap.assign(bad)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        ClusterMap(k=4, temperature=0.0).fit(X).weights(X, soft=True)
    with pytest.raises(ValueError, match="n_init must be >= 1"):
        ClusterMap(k=2, n_init=0).fit(X)


def test_centroids_are_read_only() -> None:
    cmap = ClusterMap(k=2).fit(blobs(k=2)[0])
    with pytest.raises(ValueError, match="read-only"):
        cmap.centroids[0, 0] = 1.0


def test_constructor_stores_arguments_only() -> None:
    cmap = ClusterMap(k=3, temperature=0.2, n_init=4, max_iter=9, seed=5)
    assert vars(cmap) == {"k": 3, "temperature": 0.2, "n_init": 4, "max_iter": 9, "seed": 5}
