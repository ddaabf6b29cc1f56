"""``--label-budget N``: the replay reveals every model's outcome on a sample of the traffic.

After every ``WINDOW`` requests, while budget is left, one of those requests is drawn at random
and the log's outcome of every model on its prompt is folded in, as a human or an offline
evaluation would label it (a Router nominates its recent prompts the same way:
:meth:`agent.router.Router.nominate`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from policies import Context, Policy

#: Requests between nominations (each nominates one of them).
WINDOW = 10


class LabelBudget:
    """How many sampled prompts a replay may still label, and which it labelled."""

    def __init__(self, budget: int, *, seed: int = 0) -> None:
        if budget < 0:
            raise ValueError(f"--label-budget must be >= 0, got {budget}")
        self.left = int(budget)
        self.rng = np.random.default_rng([seed, 11])
        self.labelled: list[int] = []  # the steps whose prompts were labelled

    def step(
        self,
        policy: Policy,
        t: int,
        contexts: Sequence[Context],
        outcomes: np.ndarray,
        models: Sequence[str],
    ) -> None:
        """After request ``t``: sample one of the last ``WINDOW`` and learn its outcomes
        (``outcomes[s]``: every log model's outcome at step s, in ``models`` order; NaN: not
        logged, skipped)."""
        if self.left <= 0 or (t + 1) % WINDOW:
            return
        s = int(self.rng.choice(range(t + 1 - WINDOW, t + 1)))
        logged = {m: v for m, v in zip(models, outcomes[s].tolist(), strict=True) if v == v}
        policy.learn_outcomes(contexts[s], logged)
        self.left -= 1
        self.labelled.append(s)
