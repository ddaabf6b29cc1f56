"""Our array ADWIN against river's, and its state through JSON."""

from __future__ import annotations

import base64
import json
import pickle

import numpy as np
import pytest
from river.drift import ADWIN as RiverADWIN

from policies import Context, ModelProfile, Policy, make_policy
from policies.adwin import ADWIN


def stream(seed: int) -> tuple[np.ndarray, dict]:
    """A random stream with up to three change points, and random ADWIN parameters."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(300, 4000))
    cuts = np.sort(rng.integers(0, n, size=int(rng.integers(0, 4))))
    means = rng.random(cuts.size + 1)
    seg = np.searchsorted(cuts, np.arange(n), side="right")
    kind = seed % 3
    if kind == 0:  # 0/1 outcomes
        x = (rng.random(n) < means[seg]).astype(float)
    elif kind == 1:  # Gaussian
        x = rng.normal(3.0 * means[seg], 1.0)
    else:  # surprises, as the drift guard feeds them: outcome minus a fixed expectation
        x = (rng.random(n) < means[seg]) - means[0]
    params = {
        "delta": float(rng.choice([0.002, 0.01, 0.1, 1e-5])),
        "clock": int(rng.choice([1, 4, 32])),
        "max_buckets": int(rng.choice([2, 5, 9])),
        "min_window_length": int(rng.choice([1, 5, 12])),
        "grace_period": int(rng.choice([0, 10, 50])),
    }
    return x, params


@pytest.mark.parametrize("seed", range(24))
def test_detections_and_window_match_river_exactly(seed: int) -> None:
    x, params = stream(seed)
    ours, theirs = ADWIN(**params), RiverADWIN(**params)
    for t, v in enumerate(x.tolist()):
        theirs.update(v)
        assert ours.update(v) == theirs.drift_detected, f"step {t}"
        assert (ours.width, ours.total, ours.variance) == (
            theirs.width,
            theirs.total,
            theirs.variance,
        ), f"step {t}"


def test_detections_happen_in_this_suite() -> None:
    """The comparison above is not vacuous: river finds drifts in most of those streams."""
    found = 0
    for seed in range(24):
        x, params = stream(seed)
        det = RiverADWIN(**params)
        hits = 0
        for v in x.tolist():
            det.update(v)
            hits += det.drift_detected
        found += hits > 0
    assert found >= 12


def test_state_round_trips_through_json_mid_stream() -> None:
    x, params = stream(3)
    a = ADWIN(**params)
    for v in x[:1500].tolist():
        a.update(v)
    b = ADWIN(**params)
    b.load_state(json.loads(json.dumps(a.to_state())))
    assert [a.update(v) for v in x[1500:].tolist()] == [b.update(v) for v in x[1500:].tolist()]
    assert (a.width, a.total, a.variance) == (b.width, b.total, b.variance)


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="delta"):
        ADWIN(delta=0.0)
    with pytest.raises(ValueError, match="clock"):
        ADWIN(clock=0)


def _guarded_run(policy, start: int, stop: int) -> None:  # type: ignore[no-untyped-def]
    """Feedback on model 0 of one cluster whose accuracy falls from 0.9 to 0.2 at step 300."""
    rng = np.random.default_rng(start)
    ctx = Context.hard(0, k=1)
    for t in range(start, stop):
        policy.update(ctx, 0, float(rng.random() < (0.9 if t < 300 else 0.2)))


def _guarded_policy():  # type: ignore[no-untyped-def]
    profile = ModelProfile("m", np.array([9.0]), np.array([10.0]), 0.001)
    return make_policy("greedy", drift=0.002, seed=0).warm_start([profile])


def test_guard_state_is_plain_json_and_resumes_exactly() -> None:
    a = _guarded_policy()
    _guarded_run(a, 0, 250)
    text = a.to_json()
    assert "detectors" not in text
    b = Policy.from_json(text)
    _guarded_run(a, 250, 600)
    _guarded_run(b, 250, 600)
    assert a.drift_alarms == b.drift_alarms and len(a.drift_alarms) == 1


def test_an_old_state_with_pickled_river_detectors_starts_fresh_detectors() -> None:
    a = _guarded_policy()
    _guarded_run(a, 0, 250)
    state = a.to_state()
    blob = base64.b64encode(pickle.dumps({"m": RiverADWIN()})).decode("ascii")  # as saved before
    state["guard"] = {"detectors": blob, "alarms": [[5, "m", 0]]}
    b = Policy.from_state(json.loads(json.dumps(state)))
    assert b.drift_alarms == [(5, "m", 0)]
    assert b.to_state()["guard"]["adwin"] == {}
    _guarded_run(b, 250, 600)
    assert len(b.drift_alarms) == 2  # the fresh detector still notices the change
