"""The replay simulator: logged outcomes → splits → online replay → regret, cost, deferral curves.

Every model's outcome is logged, so regret against the oracles is exact, not estimated.

The exports load on first use, so the command line's ``--help`` imports none of them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.synthetic_log import generate_log
    from simulator.channel import FeedbackChannel
    from simulator.experiment import Experiment, aggregate, deferral_curve, run_policy, setups
    from simulator.metrics import apgr, audc, qnc, regret_curves, summary, traffic_share
    from simulator.protocol import Setup, Splits, prepare
    from simulator.scenario import Arrival, Drift, PriceChange, ScenarioError, load_scenario
    from simulator.sequential import Trace, replay

_EXPORTS = {
    "Arrival": "simulator.scenario",
    "Drift": "simulator.scenario",
    "Experiment": "simulator.experiment",
    "FeedbackChannel": "simulator.channel",
    "PriceChange": "simulator.scenario",
    "ScenarioError": "simulator.scenario",
    "Setup": "simulator.protocol",
    "Splits": "simulator.protocol",
    "Trace": "simulator.sequential",
    "aggregate": "simulator.experiment",
    "apgr": "simulator.metrics",
    "audc": "simulator.metrics",
    "deferral_curve": "simulator.experiment",
    "generate_log": "agent.synthetic_log",
    "load_scenario": "simulator.scenario",
    "prepare": "simulator.protocol",
    "qnc": "simulator.metrics",
    "regret_curves": "simulator.metrics",
    "replay": "simulator.sequential",
    "run_policy": "simulator.experiment",
    "setups": "simulator.experiment",
    "summary": "simulator.metrics",
    "traffic_share": "simulator.metrics",
}

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


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value
