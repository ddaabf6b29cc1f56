"""The in-memory replay log: every model's logged outcome and cost on every prompt."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np


@dataclass(frozen=True, eq=False)
class ReplayLog:
    """Outcomes of ``M`` models on ``N`` prompts, ready for replay.

    >>> log = ReplayLog("toy", ["a", "b"], ["hi", "yo"], ["m1", "m2"],
    ...                 np.array([[1.0, 0.0], [1.0, 1.0]]), np.full((2, 2), 0.01), ["", ""])
    >>> log.accuracy.tolist(), log.subset([1]).n_prompts, log.select_models(["m2"]).models
    ([1.0, 0.5], 1, ['m2'])
    """

    name: str
    prompt_ids: list[str]
    prompts: list[str]
    models: list[str]
    correct: np.ndarray
    cost: np.ndarray
    tasks: list[str]
    dropped: int = 0
    #: The log's other per-prompt columns as text ("" where empty), e.g. ``split``, ``dataset``.
    columns: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        shape = (len(self.prompt_ids), len(self.models))
        lengths = {len(self.prompts), len(self.tasks), *map(len, self.columns.values())}
        if lengths != {shape[0]}:
            raise ValueError(f"{self.name}: prompt_ids, prompts, tasks and columns differ in size")
        if self.correct.shape != shape or self.cost.shape != shape:
            raise ValueError(
                f"{self.name}: correct {self.correct.shape} and cost {self.cost.shape} "
                f"must both have shape {shape} (prompts, models)"
            )

    @property
    def n_prompts(self) -> int:
        """Number of prompts ``N``."""
        return len(self.prompt_ids)

    @property
    def n_models(self) -> int:
        """Number of models ``M``."""
        return len(self.models)

    @property
    def mean_cost(self) -> np.ndarray:
        """Mean cost per answer of each model, shape ``(M,)``."""
        return np.asarray(self.cost.mean(axis=0))

    @property
    def accuracy(self) -> np.ndarray:
        """Mean correctness of each model, shape ``(M,)``."""
        return np.asarray(self.correct.mean(axis=0))

    def subset(self, rows: np.ndarray | Sequence[int]) -> ReplayLog:
        """The log restricted to ``rows`` (integer positions or a boolean mask), in that order."""
        idx = np.asarray(rows)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        idx = idx.astype(np.intp, copy=False)
        ids, prompts, tasks = (
            [xs[i] for i in idx] for xs in (self.prompt_ids, self.prompts, self.tasks)
        )
        return replace(
            self,
            prompt_ids=ids,
            prompts=prompts,
            correct=self.correct[idx],
            cost=self.cost[idx],
            tasks=tasks,
            columns={c: [v[i] for i in idx] for c, v in self.columns.items()},
        )

    def select_models(self, names: Sequence[str]) -> ReplayLog:
        """The log restricted to the models ``names``, in that order."""
        unknown = [n for n in names if n not in self.models]
        if unknown:
            raise ValueError(f"{self.name}: unknown model(s) {unknown}; known: {self.models}")
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: model names repeat in {list(names)}")
        cols = [self.models.index(n) for n in names]
        return replace(
            self, models=list(names), correct=self.correct[:, cols], cost=self.cost[:, cols]
        )
