"""Prompt memory: evidence about one exact prompt, on top of its cell's posterior.

Chat traffic repeats itself: the same question, a regenerate after a thumbs-down, a templated
request. What a model did on *this* prompt says more about its next answer to it than the
cluster does, so the posterior keeps, per prompt key and model, the evidence seen on that prompt.
A prompt's posterior is that evidence on top of its cell's posterior, whose weight is capped at
``strength`` pseudo-observations (a prompt's outcome is close to deterministic, so a few
observations of it should outweigh the cluster). A model with no evidence on the prompt keeps
its cell's posterior unchanged, so on prompts never seen before the memory does nothing.

The memory is bounded: past ``capacity`` prompts the least recently used is forgotten.

>>> mem = PromptMemory(2, capacity=2)
>>> mem.add(7, 1, 0.0, 1.0)
>>> mem.get(7).tolist()
[[0.0, 0.0], [0.0, 1.0], [0.0, 1.0]]
>>> mem.add(8, 0, 1.0, 0.0); mem.add(9, 0, 1.0, 0.0)
>>> mem.get(7) is None, len(mem)
(True, 2)
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np


class PromptMemory:
    """Per prompt key: a (3, M) array of successes, failures and observation weight per model."""

    def __init__(self, n_models: int, *, capacity: int = 100_000) -> None:
        if capacity < 1:
            raise ValueError(f"prompt memory capacity must be >= 1, got {capacity}")
        self.n_models = int(n_models)
        self.capacity = int(capacity)
        self._rows: OrderedDict[int, np.ndarray] = OrderedDict()

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, key: int) -> np.ndarray | None:
        """The prompt's evidence (not a copy), or None if it has none."""
        return self._rows.get(key)

    def add(self, key: int, arm: int, ds: float, df: float, weight: float = 1.0) -> None:
        """Add evidence (``ds`` successes, ``df`` failures, scaled by ``weight``) on ``arm``."""
        row = self._rows.get(key)
        if row is None:
            row = self._rows[key] = np.zeros((3, self.n_models))
            while len(self._rows) > self.capacity:
                self._rows.popitem(last=False)
        else:
            self._rows.move_to_end(key)
        row[0, arm] += weight * ds
        row[1, arm] += weight * df
        row[2, arm] += weight

    def forget(self, arm: int, keep: float) -> None:
        """Keep only a ``keep`` share of every prompt's evidence on ``arm``."""
        for row in self._rows.values():
            row[:, arm] *= keep

    def add_arm(self) -> None:
        self.n_models += 1
        for key, row in self._rows.items():
            self._rows[key] = np.hstack([row, np.zeros((3, 1))])

    def remove_arm(self, arm: int) -> None:
        self.n_models -= 1
        for key, row in self._rows.items():
            self._rows[key] = np.delete(row, arm, axis=1)

    # -- state ---------------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        """Sparse and JSON-safe: per prompt, ``[key, [[arm, s, f, n], ...]]`` in LRU order."""
        rows = []
        for key, row in self._rows.items():
            arms = np.flatnonzero(row[2] != 0)
            cells = [[int(j), float(row[0, j]), float(row[1, j]), float(row[2, j])] for j in arms]
            rows.append([int(key), cells])
        return {"capacity": self.capacity, "n_models": self.n_models, "rows": rows}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> PromptMemory:
        mem = cls(int(state["n_models"]), capacity=int(state["capacity"]))
        for key, cells in state["rows"]:
            row = mem._rows[int(key)] = np.zeros((3, mem.n_models))
            for j, s, f, n in cells:
                row[:, int(j)] = (s, f, n)
        return mem

    def load_dense(self, keys: np.ndarray, rows: np.ndarray) -> None:
        """Replace the contents with dense ``rows[i]`` (3, M) for prompt ``keys[i]``, in order
        (the compiled replay keeps its memory as arrays and writes it back through this). The
        memory takes ``rows`` over: its rows are views of it, not copies."""
        self._rows.clear()
        rows = np.asarray(rows, dtype=np.float64)
        for key, row in zip(keys.tolist(), rows, strict=True):
            self._rows[int(key)] = row
        while len(self._rows) > self.capacity:
            self._rows.popitem(last=False)
