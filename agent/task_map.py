"""The task map: a supervised partition of prompt space, one cell per task the log names.

K-means cells are what the embedding separates; a task (the log's ``dataset`` column: GSM8K,
MMLU, HumanEval, ...) is what decides which model wins, and a prompt's task is known for the
prompts a pool is fitted on even where no model's outcome is. A :class:`TaskMap` is a
multinomial logistic regression (L2, L-BFGS) from embedding to task, fitted on those prompts;
its cells are the tasks, and a new prompt falls in the one it most likely belongs to. As an
extra partition of the warm start (:mod:`policies.blend`) each model is profiled per
predicted task.

>>> rng = np.random.default_rng(0)
>>> X = np.vstack([rng.normal(c, 0.3, size=(30, 2)) for c in ([0, 2], [2, 0], [-2, -2])])
>>> tasks = ["code"] * 30 + ["math"] * 30 + ["chat"] * 30
>>> tm = TaskMap().fit(X, tasks)
>>> tm.names_, tm.k_, tm.names_[int(tm.assign(np.array([[2.1, 0.2]]))[0])]
(('chat', 'code', 'math'), 3, 'math')
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy.optimize import minimize


class TaskMap:
    """Prompt embedding → task cell, by multinomial logistic regression.

    ``C`` is the inverse L2 strength (scikit-learn's convention: the loss summed over prompts
    plus ``|W|² / (2C)``).
    """

    kind = "task"

    def __init__(self, *, C: float = 10.0, max_iter: int = 500):
        self.C = C
        self.max_iter = max_iter

    @property
    def names_(self) -> tuple[str, ...]:
        """The tasks, one per cell, in cell order."""
        return tuple(self._fitted()[2])

    @property
    def k_(self) -> int:
        """Number of cells (tasks)."""
        return len(self._fitted()[2])

    def fit(self, X: np.ndarray, tasks: Sequence[str]) -> TaskMap:
        """Fit on embeddings ``X`` and each row's task name; rows with an empty name are left
        out. Needs at least two distinct names."""
        if not (self.C > 0 and self.max_iter >= 1):
            raise ValueError("TaskMap: need C > 0 and max_iter >= 1")
        X = _as_matrix(X)
        names = np.asarray([str(t) for t in tasks], dtype=object)
        if names.shape != (X.shape[0],):
            raise ValueError(f"TaskMap: {names.size} task names for {X.shape[0]} rows")
        known = names != ""
        classes, y = np.unique(names[known].astype(str), return_inverse=True)
        if classes.size < 2:
            raise ValueError(
                "a task level needs at least two task names among the prompts it is fitted on, "
                f"got {classes.size}"
            )
        self._w, self._b = _softmax_regression(X[known], y, classes.size, self.C, self.max_iter)
        self._names = tuple(str(c) for c in classes)
        return self

    def scores(self, X: np.ndarray) -> np.ndarray:
        """Each row's logit per task, shape ``(n, k)``."""
        w, b, _ = self._fitted()
        return np.asarray(_as_matrix(X, w.shape[1]) @ w.T + b)

    def assign(self, X: np.ndarray) -> np.ndarray:
        """The most likely task's cell for each row of ``X``, shape ``(n,)``."""
        return np.asarray(self.scores(X).argmax(axis=1))

    def scorer(self) -> tuple[np.ndarray, np.ndarray]:
        """``(A, bias)`` with a row's cell ``argmax(A @ x + bias)``
        (:class:`agent.clusters.MapStack`)."""
        w, b, _ = self._fitted()
        return w, b

    def save(self, path: str | Path) -> None:
        """Write the fitted map to an ``.npz`` file at exactly ``path``."""
        w, b, names = self._fitted()
        with open(path, "wb") as fh:
            np.savez(
                fh, kind=self.kind, w=w, b=b, names=np.array(names, dtype=str), C=self.C,
                max_iter=self.max_iter,
            )  # fmt: skip

    @classmethod
    def load(cls, path: str | Path) -> TaskMap:
        """Read a map written by :meth:`save`."""
        try:
            with np.load(path, allow_pickle=False) as z:
                if str(z["kind"]) != cls.kind:
                    raise ValueError(f"holds a {z['kind']} map")
                obj = cls(C=float(z["C"]), max_iter=int(z["max_iter"]))
                obj._w = np.array(z["w"], dtype=np.float64)
                obj._b = np.array(z["b"], dtype=np.float64)
                obj._names = tuple(str(n) for n in z["names"])
        except (OSError, KeyError, ValueError) as exc:
            raise ValueError(f"{path}: not a saved TaskMap ({exc})") from exc
        return obj

    def _fitted(self) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
        if "_w" not in self.__dict__:
            raise RuntimeError("TaskMap is not fitted: call fit(X, tasks) or TaskMap.load(path)")
        return self._w, self._b, self._names


def _as_matrix(X: np.ndarray, d: int | None = None) -> np.ndarray:
    arr = np.asarray(X, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] == 0 or (d is not None and arr.shape[1] != d):
        want = f"(n, {d})" if d is not None else "(n_samples, n_features)"
        raise ValueError(f"TaskMap: X must be 2-D {want}, got {arr.shape}")
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        raise ValueError(f"TaskMap: X row {int(np.argmax(bad))} holds NaN or inf")
    return arr


def _softmax_regression(
    X: np.ndarray, y: np.ndarray, k: int, C: float, max_iter: int
) -> tuple[np.ndarray, np.ndarray]:
    """Weights ``(k, d)`` and intercepts ``(k,)`` minimising the summed log-loss plus
    ``|W|² / (2C)`` (intercepts unpenalised), by L-BFGS from zero: deterministic."""
    n, d = X.shape
    onehot = np.zeros((n, k))
    onehot[np.arange(n), y] = 1.0

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[: k * d].reshape(k, d), theta[k * d :]
        z = X @ w.T + b
        z -= z.max(axis=1, keepdims=True)
        ez = np.exp(z)
        total = ez.sum(axis=1, keepdims=True)
        value = float(np.log(total).sum() - (z * onehot).sum() + (w * w).sum() / (2.0 * C))
        g = ez / total - onehot
        return value, np.concatenate([(g.T @ X + w / C).ravel(), g.sum(axis=0)])

    res = minimize(loss, np.zeros(k * (d + 1)), jac=True, method="L-BFGS-B",
                   options={"maxiter": max_iter})  # fmt: skip
    return res.x[: k * d].reshape(k, d).copy(), res.x[k * d :].copy()
