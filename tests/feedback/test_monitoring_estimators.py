"""Off-policy estimators on simulated live runs, where every model's outcome is known.

A Thompson-sampling router logs its propensities while it learns; IPS, SNIPS and DR then
estimate the accuracy of FIXED target policies (always the most accurate model, static
UniRoute) on the same stream. The true value is computable from the counterfactual outcomes,
and must fall inside the reported 95% interval in at least 90% of seeded runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from agent.embedder import HashingEmbedder
from agent.logs import ReplayLog
from agent.synthetic_log import generate_log
from feedback.monitoring.estimators import (
    beta_interval,
    dr,
    drift_alarms,
    ips,
    mean_ci,
    snips,
    utility_gap,
)
from policies import Choice, Context, ModelProfile, Thompson
from simulator.protocol import prepare
from simulator.sequential import replay

RUNS, STEPS, LAM = 24, 1500, 0.1


class LoggedThompson(Thompson):
    """Thompson sampling that keeps each decision's propensity, as a live router logs it."""

    def warm_start(self, profiles: Sequence[ModelProfile], **warm: Any) -> LoggedThompson:
        self.propensities_: list[float] = []
        super().warm_start(profiles, **warm)
        return self

    def select(
        self, context: Context, *, eligible: np.ndarray | None = None, lam: float | None = None
    ) -> Choice:
        decision = super().select(context, eligible=eligible, lam=lam)
        assert decision.propensity is not None
        self.propensities_.append(decision.propensity)
        return decision


@pytest.fixture(scope="module")
def runs() -> list[dict[str, Any]]:
    log: ReplayLog = generate_log(n_prompts=600, n_models=4, seed=1)
    emb = HashingEmbedder(dim=64).encode(log.prompts)
    out = []
    for seed in range(RUNS):
        setup = prepare(log, emb, k=4, seed=seed)
        policy = LoggedThompson(propensity_samples=256, seed=seed)
        trace = replay(setup, policy, name="ts", steps=STEPS, lam=LAM)
        rows = np.arange(trace.steps)
        # What a user reports: a 0/1 label drawn from the chosen model's outcome.
        rng = np.random.default_rng([seed, 11])
        reward = (rng.random(trace.steps) < trace.outcomes[rows, trace.chosen]).astype(float)
        alpha, beta, alpha0, beta0 = policy.cluster_betas()
        acc = np.array([p.accuracy for p in setup.profiles])
        m = acc.size
        prior = alpha0 / (alpha0 + beta0)
        cost = np.array([p.cost for p in setup.profiles])
        static = np.eye(m)[np.argmax(prior - LAM / setup.c_max * cost, axis=1)]
        best = np.tile(np.eye(m)[np.argmax(acc)], (setup.k, 1))
        out.append(
            {
                "trace": trace,
                "p": np.array(policy.propensities_),
                "r": reward,
                "q": (alpha / (alpha + beta))[trace.clusters],
                "targets": {"always_best": best, "static_uniroute": static},
            }
        )
    return out


@pytest.mark.parametrize("method", ["ips", "snips", "dr"])
@pytest.mark.parametrize("target", ["always_best", "static_uniroute"])
def test_interval_covers_the_true_value(
    runs: list[dict[str, Any]], method: str, target: str
) -> None:
    hits, widths = [], []
    for run in runs:
        tr = run["trace"]
        probs = run["targets"][target][tr.clusters]
        truth = float((probs * tr.outcomes).sum(axis=1).mean())
        tgt = probs[np.arange(tr.steps), tr.chosen]
        if method == "dr":
            est = dr(run["r"], run["p"], tr.chosen, probs, run["q"])
        else:
            est = (ips if method == "ips" else snips)(run["r"], run["p"], tgt)
        hits.append(est.covers(truth))
        widths.append(est.high - est.low)
    assert len(hits) >= 20
    assert np.mean(hits) >= 0.9, f"{method} covered {np.mean(hits):.2f} of {len(hits)} runs"
    assert np.mean(widths) < 0.2  # informative, not vacuous


def test_ips_is_exact_for_the_logging_policy_itself() -> None:
    r = np.array([1.0, 0.0, 1.0])
    p = np.array([0.2, 0.5, 1.0])
    assert snips(r, p, p).value == pytest.approx(r.mean())
    assert ips(r, p, p).value == pytest.approx(r.mean())


def test_dr_with_a_perfect_reward_model_has_no_variance() -> None:
    rng = np.random.default_rng(0)
    q = np.tile([0.2, 0.9], (200, 1))
    a = rng.integers(0, 2, 200)
    r = q[np.arange(200), a]
    pi = np.tile([0.0, 1.0], (200, 1))
    est = dr(r, np.full(200, 0.5), a, pi, q)
    assert est.value == pytest.approx(0.9) and est.high - est.low == pytest.approx(0.0)


def test_bad_propensities_are_rejected_and_empty_input_is_nan() -> None:
    with pytest.raises(ValueError, match="propensities"):
        ips(np.ones(2), np.array([0.5, 0.0]), np.ones(2))
    assert np.isnan(mean_ci(np.zeros(0)).value)


def test_utility_gap_and_beta_interval() -> None:
    means = np.array([[0.9, 0.6], [0.3, 0.5]])
    gap = utility_gap(
        means,
        np.array([1.0, 0.0]),
        1.0,
        np.array([0, 1, 0]),
        np.array([1, 0, 0]),
        np.array([0.0, 0.0, 0.5]),
    )
    assert gap.tolist() == pytest.approx([0.3, 0.2, 0.2])
    m, lo, hi = beta_interval(np.array([80.0]), np.array([20.0]))
    assert m[0] == pytest.approx(0.8) and lo[0] < 0.8 < hi[0]


def test_drift_alarms_find_a_change_in_one_model_only() -> None:
    rng = np.random.default_rng(0)
    arms = np.tile([0, 1], 1000)
    p = np.where((np.arange(2000) > 1000) & (arms == 0), 0.1, 0.9)
    alarms = drift_alarms(arms, (rng.random(2000) < p).astype(float), ["a", "b"])
    assert alarms and {m for _, m in alarms} == {"a"} and all(pos > 1000 for pos, _ in alarms)
