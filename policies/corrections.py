"""What feedback teaches beyond the warm start: Bayesian probit corrections, learnt online.

A model's chance of answering a prompt well is modelled as ``Φ(offset + Σ w)``: the offset is
the warm start's estimate on the probit scale (``Φ⁻¹`` of :class:`policies.blend.Blend`'s
mean), and the ``w`` are corrections, one per partition the prompt sits in (all prompts, its
cluster, its cell in each extra partition), of two kinds:

- a **shared** correction per cell, the same for every model: how much harder or easier the
  traffic there is than the profile said (a shift in difficulty moves every model at once,
  so failing on hard prompts does not make the untried models look better);
- a **per-model** correction per (cell, model): how much better or worse that model does there
  than its profile said.

Every correction starts at 0 with a Gaussian prior (:data:`PRIOR_SD`, or one its learner
derives from the profile: :class:`policies.online.OnlineUniRoute`) and is updated by assumed
density filtering, as Microsoft's AdPredictor does (Graepel et al. 2010): one closed-form
step per piece of feedback, which moves each
correction the prompt touches in proportion to its variance and narrows it. The same step
serves every kind of feedback, because each has a likelihood ``c0 + c1·Φ(s)`` in the model's
score ``s``: a label, a graded score (``c0 = 1 − y``, ``c1 = 2y − 1``) and a thumb through its
noise model (:func:`policies.updates.thumbs_likelihood`). A correction's variance is how
unsure the learner still is there, so Thompson draws explore each (cell, model) as much as its
own evidence leaves open.

>>> c = Corrections.flat((1, 2), n_models=2)  # all prompts, and 2 cells
>>> rows = c.rows((1,))  # a prompt in cell 1
>>> m, v = c.moments(np.zeros(2), rows)
>>> m.tolist(), v.round(3).tolist()  # no evidence yet: the offset, the prior's spread
([0.0, 0.0], [0.52, 0.52])
>>> for _ in range(20):
...     _ = c.learn(np.zeros(2), rows, 0, *outcome_likelihood(1.0))
>>> m, v = c.moments(np.zeros(2), rows)
>>> bool(m[0] > m[1] > 0)  # model 0 learnt most; the shared part lifts model 1 too
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.special import ndtr

#: Prior standard deviation of a correction (probit scale), by kind and partition: the shared
#: correction of all prompts, of a cell; a model's correction of all prompts, of a cell.
PRIOR_SD = {"shared_all": 0.5, "shared_cell": 0.3, "model_all": 0.3, "model_cell": 0.3}
_MIN_VAR = 1e-6
_SQRT_2PI = float(np.sqrt(2.0 * np.pi))


def outcome_likelihood(value: float) -> tuple[float, float]:
    """(c0, c1) of a label or graded score ``value`` in [0, 1]: its likelihood is
    ``c0 + c1·p`` for a model correct with probability ``p``."""
    return 1.0 - value, 2.0 * value - 1.0


class Corrections:
    """Shared and per-model corrections over partitions of ``sizes`` cells (the first is
    the one cell of all prompts), each starting at 0 with its prior variance: ``shared``, one
    per row, and ``model``, one per (row, model).

    Cells are stacked into one table of rows; :meth:`rows` turns a prompt's cell in each
    partition (-1: none there) into its rows. :meth:`flat` gives every correction the prior
    of :data:`PRIOR_SD`, times a scale.
    """

    def __init__(self, sizes: Sequence[int], shared: np.ndarray, model: np.ndarray) -> None:
        if not sizes or sizes[0] != 1 or any(s < 1 for s in sizes):
            raise ValueError(f"corrections need partitions of >= 1 cells, the first of 1: {sizes}")
        self.sizes = tuple(int(s) for s in sizes)
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)[:-1]]).astype(np.int64)
        n = int(sum(self.sizes))
        shared = np.asarray(shared, dtype=np.float64)
        model = np.asarray(model, dtype=np.float64)
        if shared.shape != (n,) or model.ndim != 2 or model.shape[0] != n:
            raise ValueError(
                f"priors must be ({n},) and ({n}, models), got {shared.shape}, {model.shape}"
            )
        if np.any(~np.isfinite(shared)) or np.any(shared <= 0) or np.any(~np.isfinite(model)):
            raise ValueError("prior variances must be finite and > 0")
        self.shared_mu: np.ndarray = np.zeros(n)
        self.shared_var: np.ndarray = shared.copy()
        self.model_mu: np.ndarray = np.zeros(model.shape)
        self.model_var: np.ndarray = np.maximum(model, _MIN_VAR)

    @classmethod
    def flat(cls, sizes: Sequence[int], *, n_models: int, scale: float = 1.0) -> Corrections:
        """Every correction with :data:`PRIOR_SD`'s prior, its standard deviation times
        ``scale``."""
        if not scale > 0:
            raise ValueError(f"a prior scale must be > 0, got {scale}")
        shared, model = flat_priors(sizes, scale)
        return cls(sizes, shared, np.tile(model[:, None], (1, n_models)))

    def rows(self, cells: Sequence[int]) -> np.ndarray:
        """The table rows of a prompt in ``cells`` (one per partition after the first;
        -1 for a partition it has no cell in), the row of all prompts first."""
        if len(cells) != len(self.sizes) - 1:
            raise ValueError(f"need a cell (or -1) in each of {len(self.sizes) - 1} partitions")
        out = [0]
        for off, size, c in zip(self.offsets[1:], self.sizes[1:], cells, strict=True):
            if c >= size:
                raise ValueError(f"cell {c} is outside a partition of {size}")
            if c >= 0:
                out.append(int(off) + int(c))
        return np.asarray(out, dtype=np.int64)

    def moments(self, offset: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each model's score ``s`` for a prompt: its mean (offset plus the corrections) and
        its variance."""
        m = offset + self.shared_mu[rows].sum() + self.model_mu[rows].sum(axis=0)
        v = self.shared_var[rows].sum() + self.model_var[rows].sum(axis=0)
        return m, v

    def draw(self, offset: np.ndarray, rows: np.ndarray, z: np.ndarray, width: float) -> np.ndarray:
        """Scores with every correction drawn ``width`` standard deviations times ``z``
        (standard normals: one per shared row, then one per (row, model)); ``z`` of shape
        (draws, ...) gives one row of scores per draw."""
        k = rows.size
        zs = np.atleast_2d(z)
        shared = self.shared_mu[rows] + width * np.sqrt(self.shared_var[rows]) * zs[:, :k]
        zm = zs[:, k:].reshape(zs.shape[0], k, -1)
        model = self.model_mu[rows] + width * np.sqrt(self.model_var[rows]) * zm
        out = offset + shared.sum(axis=1)[:, None] + model.sum(axis=1)
        return np.asarray(out if z.ndim > 1 else out[0])

    def predict(self, offset: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Each model's predicted chance of success, the corrections' spread integrated out."""
        m, v = self.moments(offset, rows)
        return np.asarray(ndtr(m / np.sqrt(1.0 + v)))

    def learn(
        self,
        offset: np.ndarray,
        rows: np.ndarray,
        arm: int,
        c0: float,
        c1: float,
        weight: float = 1.0,
        shared: float | None = None,
    ) -> float:
        """Fold one piece of feedback on ``arm`` with likelihood ``c0 + c1·Φ(s)`` into every
        correction of ``rows`` (a ``weight`` below 1 takes that share of the step; the shared
        corrections take ``shared``'s, default ``weight``). Returns the log-likelihood the
        learner gave the feedback before learning it."""
        m, v = self.moments(offset, rows)
        total = 1.0 + float(v[arm])
        root = float(np.sqrt(total))
        u = float(m[arm]) / root
        density = float(np.exp(-0.5 * u * u)) / _SQRT_2PI
        z = max(c0 + c1 * float(ndtr(u)), 1e-12)
        alpha = c1 * density / (root * z)  # d log Z / d mean
        shrink = alpha * alpha + c1 * density * u / (total * z)  # −2 d log Z / d variance
        for mu, var, col, w in (
            (self.shared_mu, self.shared_var, None, weight if shared is None else shared),
            (self.model_mu, self.model_var, arm, weight),
        ):
            idx = rows if col is None else (rows, col)
            cur = var[idx]
            mu[idx] += w * cur * alpha
            var[idx] = np.maximum(cur - w * cur * cur * shrink, _MIN_VAR)
        return float(np.log(z))

    # -- the pool changes ----------------------------------------------------------------------
    def add_model(self, prior: np.ndarray) -> None:
        """A new model's corrections, each at its ``prior`` variance (one per row)."""
        prior = np.maximum(np.asarray(prior, dtype=np.float64), _MIN_VAR)
        if prior.shape != (self.model_mu.shape[0],):
            raise ValueError(f"a new model needs one prior variance per row, got {prior.shape}")
        self.model_mu = np.column_stack([self.model_mu, np.zeros(self.model_mu.shape[0])])
        self.model_var = np.column_stack([self.model_var, prior])

    def remove_model(self, j: int) -> None:
        self.model_mu = np.delete(self.model_mu, j, axis=1)
        self.model_var = np.delete(self.model_var, j, axis=1)

    def keep_partitions(self, n: int) -> Corrections:
        """These corrections over their first ``n`` partitions only (itself when it has no
        more)."""
        if len(self.sizes) <= n:
            return self
        rows = int(sum(self.sizes[:n]))
        out = Corrections(self.sizes[:n], self.shared_var[:rows], self.model_var[:rows])
        out.shared_mu = self.shared_mu[:rows].copy()
        out.model_mu = self.model_mu[:rows].copy()
        return out

    # -- state ---------------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        return {
            "sizes": list(self.sizes),
            "shared_mu": self.shared_mu.tolist(),
            "shared_var": self.shared_var.tolist(),
            "model_mu": self.model_mu.tolist(),
            "model_var": self.model_var.tolist(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Corrections:
        out = cls(state["sizes"], np.asarray(state["shared_var"]), np.asarray(state["model_var"]))
        out.shared_mu = np.asarray(state["shared_mu"], dtype=np.float64)
        out.model_mu = np.asarray(state["model_mu"], dtype=np.float64).reshape(out.model_var.shape)
        return out


def flat_priors(sizes: Sequence[int], scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Prior variances of :data:`PRIOR_SD` (times ``scale``) for every shared row and every
    model row of partitions of ``sizes`` cells."""
    n = int(sum(sizes))
    shared = np.full(n, PRIOR_SD["shared_cell"])
    shared[0] = PRIOR_SD["shared_all"]
    model = np.full(n, PRIOR_SD["model_cell"])
    model[0] = PRIOR_SD["model_all"]
    return (scale * shared) ** 2, (scale * model) ** 2
