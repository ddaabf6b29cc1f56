"""The learning core: the warm start, its online corrections, the baselines, pacing.

``default`` (:class:`OnlineUniRoute`) blends UniRoute's profiles over partitions of prompt
space (:mod:`policies.blend`) and corrects them online (:mod:`policies.corrections`); the
baselines keep per-cluster Beta posteriors (:mod:`policies.rules`). Pure numpy/scipy (river
only for the river baselines); it imports nothing from ``agent``, ``feedback`` or
``simulator``.
"""

from policies.base import Policy
from policies.blend import Blend, stack_weights
from policies.context import Choice, Context
from policies.corrections import Corrections
from policies.online import OnlineUniRoute
from policies.pacer import BudgetPacer
from policies.posterior import KINDS, BetaPosterior, validate_feedback
from policies.profile import ModelProfile, build_profiles, prior_counts
from policies.registry import POLICY_NAMES, make_policy
from policies.river_adapter import RiverBandit
from policies.rules import (
    BayesUCB,
    BestFixed,
    BetaRule,
    Greedy,
    RandomPolicy,
    StaticUniRoute,
    Thompson,
)
from policies.thumbs import ThumbsNoise, estimate_thumbs_noise
from policies.updates import THUMBS, utility

__all__ = [
    "KINDS",
    "POLICY_NAMES",
    "BayesUCB",
    "BestFixed",
    "BetaPosterior",
    "BetaRule",
    "Blend",
    "BudgetPacer",
    "Choice",
    "Context",
    "Corrections",
    "Greedy",
    "ModelProfile",
    "OnlineUniRoute",
    "Policy",
    "RandomPolicy",
    "RiverBandit",
    "THUMBS",
    "StaticUniRoute",
    "Thompson",
    "ThumbsNoise",
    "build_profiles",
    "estimate_thumbs_noise",
    "make_policy",
    "prior_counts",
    "stack_weights",
    "utility",
    "validate_feedback",
]
