"""The router a chat app embeds: embedder, cluster map, model pool, policy and decision store.

Also the data layer it is built from: replay logs (a user's, or the generated default of
:mod:`agent.synthetic_log`), embedders and the embedding cache. And, as the lowest package both
the simulator and the service stand on, the report helpers they share: number formats and
safe writes (:mod:`agent.report_kit`), figures as inline PNGs (:mod:`agent.figures`).
"""

from agent.clusters import ClusterMap
from agent.decision import Decision, FeedbackReceipt
from agent.embedder import Embedder, HashingEmbedder, MiniLMEmbedder
from agent.embedding_cache import CachedEmbedder
from agent.logs import LogError, ReplayLog, from_long_frame, from_wide_frame, load_log
from agent.memory_store import MemoryDecisionStore
from agent.router import Router
from agent.store import (
    DecisionError,
    DecisionStore,
    ExpiredDecisionError,
    FeedbackConflict,
    UnknownDecisionError,
)
from agent.synthetic_log import generate_log
from agent.warm_start import fit_pool

__all__ = [
    "CachedEmbedder",
    "ClusterMap",
    "Decision",
    "DecisionError",
    "DecisionStore",
    "Embedder",
    "ExpiredDecisionError",
    "FeedbackConflict",
    "FeedbackReceipt",
    "HashingEmbedder",
    "LogError",
    "MemoryDecisionStore",
    "MiniLMEmbedder",
    "ReplayLog",
    "Router",
    "UnknownDecisionError",
    "fit_pool",
    "from_long_frame",
    "from_wide_frame",
    "generate_log",
    "load_log",
]
