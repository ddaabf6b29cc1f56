"""How much a decision whose ``allowed`` narrowed the choice may teach the posterior.

A request that allows only some models chooses among them, not as the router would have: with
``allowed: ["tiny-1b"]`` a caller picks the model and the cell whose evidence its feedback
moves. Such feedback is weighed by the clipped importance ratio of the unrestricted policy to
the restricted one that made the choice,

    teach = min(1, P(unrestricted policy chooses m | x) / P(restricted policy chooses m | x)),

so a restricted decision teaches as much as the router itself would have learnt about ``m``
there: fully when ``m`` is what it would have chosen anyway, almost nothing when it would
seldom have chosen ``m``. An unrestricted decision teaches fully (1). Both probabilities come
from :meth:`~policies.Policy.choice_probabilities` on the same draws (Thompson sampling's are
Monte Carlo; the deterministic rules' are 0 or 1).

>>> import numpy as np
>>> from policies import Context, ModelProfile, make_policy
>>> profiles = [ModelProfile("weak", np.array([2.0]), np.array([10.0]), 0.01),
...             ModelProfile("strong", np.array([9.0]), np.array([10.0]), 0.01)]
>>> policy = make_policy("greedy", lam=0.0).warm_start(profiles)
>>> ctx = Context.hard(0, k=1)
>>> teach_factor(policy, ctx, np.array([True, False]), 0, lam=0.0)
0.0
>>> teach_factor(policy, ctx, np.array([False, True]), 1, lam=0.0)
1.0
>>> teach_factor(policy, ctx, None, 0, lam=0.0)
1.0
"""

from __future__ import annotations

import numpy as np

from policies import Context, Policy

#: Posterior draws for Thompson sampling's two probabilities.
SAMPLES = 256


def teach_factor(
    policy: Policy,
    context: Context,
    eligible: np.ndarray | None,
    chosen: int,
    *,
    lam: float,
    samples: int = SAMPLES,
) -> float:
    """The weight factor of feedback on a decision for ``chosen`` among ``eligible`` (a bool
    mask over the pool; None or all True: not narrowed, 1)."""
    if eligible is None or bool(eligible.all()):
        return 1.0
    free = policy.choice_probabilities(context, lam=lam, samples=samples)[chosen]
    held = policy.choice_probabilities(context, eligible=eligible, lam=lam, samples=samples)[chosen]
    return float(min(1.0, free / held)) if held > 0 else 0.0
