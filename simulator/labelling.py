"""``--label-budget N``: the router nominates prompts; the replay reveals every model's outcome.

After every ``WINDOW`` requests, while budget is left, one of those requests is nominated and
the log's outcome of every model on that prompt is folded in, as a human or an offline
evaluation would label it: with ``pick="sample"`` (the default, as ``Router.nominate`` does) a
random one of them, so labels follow the traffic; with ``pick="value"`` the one whose full
evaluation would teach most (:func:`policies.labelling.label_value`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from agent.nominations import PICKS
from policies import Context, Policy
from policies.labelling import label_value, learn_labels

#: Requests between nominations (each nominates one of them).
WINDOW = 10


class LabelBudget:
    """How many nominated prompts a replay may still label, and which it labelled."""

    def __init__(self, budget: int, *, pick: str = "sample", seed: int = 0) -> None:
        if budget < 0:
            raise ValueError(f"--label-budget must be >= 0, got {budget}")
        if pick not in PICKS:
            raise ValueError(f"pick must be one of {', '.join(PICKS)}, got {pick!r}")
        self.left, self.pick = int(budget), pick
        self.rng = np.random.default_rng([seed, 11])
        self.labelled: list[int] = []  # the steps whose prompts were labelled

    def step(
        self,
        policy: Policy,
        t: int,
        contexts: Sequence[Context],
        outcomes: np.ndarray,
        models: Sequence[str],
        lam: float,
    ) -> None:
        """After request ``t``: nominate one of the last ``WINDOW`` and learn its outcomes
        (``outcomes[s]``: every log model's outcome at step s, in ``models`` order)."""
        if self.left <= 0 or (t + 1) % WINDOW:
            return
        steps = range(t + 1 - WINDOW, t + 1)
        if self.pick == "sample":
            s = int(self.rng.choice(steps))
        else:
            values = [label_value(policy, contexts[s], lam=lam) for s in steps]
            s = steps[int(np.argmax(values))]
        learn_labels(policy, contexts[s], dict(zip(models, outcomes[s].tolist(), strict=True)))
        self.left -= 1
        self.labelled.append(s)
