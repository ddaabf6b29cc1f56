"""The replay simulator: logged outcomes → splits → online replay → regret, cost, deferral curves.

Every model's outcome is logged, so regret against the oracles is exact, not estimated.
"""

from simulator.channel import FeedbackChannel
from simulator.experiment import Experiment, aggregate, deferral_curve, run_policy, setups
from simulator.metrics import apgr, audc, qnc, regret_curves, summary, traffic_share
from simulator.protocol import Setup, Splits, prepare
from simulator.replay import Trace, replay
from simulator.scenario import Arrival, Drift, PriceChange, ScenarioError, load_scenario
from simulator.synthetic import generate_log

__all__ = [
    "Arrival",
    "Drift",
    "Experiment",
    "FeedbackChannel",
    "PriceChange",
    "ScenarioError",
    "Setup",
    "Splits",
    "Trace",
    "aggregate",
    "apgr",
    "audc",
    "deferral_curve",
    "generate_log",
    "load_scenario",
    "prepare",
    "qnc",
    "regret_curves",
    "replay",
    "run_policy",
    "setups",
    "summary",
    "traffic_share",
]
