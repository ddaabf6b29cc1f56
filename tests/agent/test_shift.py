"""The shift meter: about 1 on traffic like the fit prompts, far above on traffic from elsewhere,
forgetting beyond its window, and resumed exactly from plain data."""

from __future__ import annotations

import json

import numpy as np
import pytest

from agent.shift import ShiftMeter, unit_rows

DIM = 16


def draws(rng: np.random.Generator, n: int, centre: int) -> np.ndarray:
    """Prompts around the ``centre``-th axis (a task), as embeddings."""
    return rng.normal(size=(n, DIM)) + 3.0 * np.eye(DIM)[centre]


def test_like_traffic_reads_about_one_whatever_the_scale() -> None:
    rng = np.random.default_rng(0)
    base = ShiftMeter.fit(draws(rng, 20_000, 0), window=50)
    # within the window the mean is exact: n·|mean − centre|² / spread is about 1 on average
    # for prompts drawn like the fit ones, and an embedding's length does not matter
    readings = []
    for _ in range(200):
        meter = ShiftMeter.from_state(base.to_state())
        readings.append([meter.observe(7.0 * x) for x in draws(rng, 20, 0)][-1])
    assert 0.8 < float(np.mean(readings)) < 1.25
    # past it the mean is exponential, with half the variance: about 1/2
    meter = ShiftMeter.from_state(base.to_state())
    later = [meter.observe(x) for x in draws(rng, 2000, 0)][50:]
    assert 0.35 < float(np.mean(later)) < 0.7 and meter.seen == 2000


def test_a_shift_reads_far_above_and_passes_when_the_traffic_comes_back() -> None:
    rng = np.random.default_rng(1)
    meter = ShiftMeter.fit(draws(rng, 5000, 0), window=50)
    like = [meter.observe(x) for x in draws(rng, 100, 0)]
    away = [meter.observe(x) for x in draws(rng, 100, 1)]  # another task
    assert max(like) < 4.0 < away[30]  # 4: where default's fast learner starts to decide
    assert away[-1] > 20 * float(np.mean(like)) and away[-1] > 30.0
    back = [meter.observe(x) for x in draws(rng, 400, 0)]  # the window forgets the shift
    assert back[-1] < 4.0


def test_observe_all_is_observe_in_turn() -> None:
    rng = np.random.default_rng(2)
    fit = draws(rng, 300, 0)
    stream = np.vstack([draws(rng, 30, 0), draws(rng, 30, 2)])
    one, many = ShiftMeter.fit(fit, window=20), ShiftMeter.fit(fit, window=20)
    np.testing.assert_allclose(many.observe_all(stream), [one.observe(x) for x in stream])
    assert many.to_state() == one.to_state()


def test_the_state_round_trips_through_json_and_resumes_exactly() -> None:
    rng = np.random.default_rng(3)
    stream = np.vstack([draws(rng, 40, 0), draws(rng, 60, 3)])
    whole = ShiftMeter.fit(draws(rng, 500, 0), window=30)
    half = ShiftMeter.from_state(whole.to_state())
    expect = [whole.observe(x) for x in stream]
    for x in stream[:50]:
        half.observe(x)
    state = json.loads(json.dumps(half.to_state(), allow_nan=False))
    resumed = ShiftMeter.from_state(state)
    assert [resumed.observe(x) for x in stream[50:]] == expect[50:]
    assert resumed.to_state() == whole.to_state()


def test_the_reference_is_the_fit_prompts_centre_and_spread() -> None:
    X = np.array([[1.0, 0.0], [0.0, 2.0]])
    meter = ShiftMeter.fit(X)
    assert meter.center.tolist() == [0.5, 0.5] and meter.spread == pytest.approx(0.5)
    assert unit_rows(np.zeros(2)).tolist() == [[0.0, 0.0]]  # a zero row stays zero
    with pytest.raises(ValueError, match="window >= 1 and spread > 0"):
        ShiftMeter(np.zeros(2), 1.0, window=0)
    with pytest.raises(ValueError, match="window >= 1 and spread > 0"):
        ShiftMeter(np.zeros(2), 0.0)
