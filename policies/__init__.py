"""The learning core: Beta posteriors per (cluster, model), decision rules, pacing and drift.

Pure numpy/scipy (river only for the river baselines); it imports nothing from
``agent``, ``feedback`` or ``simulator``.
"""

from policies.base import Policy
from policies.context import Choice, Context
from policies.drift import DriftGuard
from policies.pacer import BudgetPacer
from policies.posterior import KINDS, BetaPosterior, validate_feedback
from policies.profile import ModelProfile, build_profiles, prior_counts
from policies.registry import DEFAULT_POLICY, POLICY_NAMES, make_policy
from policies.river_adapter import RiverBandit
from policies.rules import BayesUCB, BestFixed, Greedy, RandomPolicy, StaticUniRoute, Thompson
from policies.thumbs import ThumbsNoise, estimate_thumbs_noise
from policies.updates import utility

__all__ = [
    "DEFAULT_POLICY",
    "KINDS",
    "POLICY_NAMES",
    "BayesUCB",
    "BestFixed",
    "BetaPosterior",
    "BudgetPacer",
    "Context",
    "Choice",
    "DriftGuard",
    "Greedy",
    "ModelProfile",
    "Policy",
    "RandomPolicy",
    "RiverBandit",
    "StaticUniRoute",
    "Thompson",
    "ThumbsNoise",
    "build_profiles",
    "estimate_thumbs_noise",
    "make_policy",
    "prior_counts",
    "utility",
    "validate_feedback",
]
