"""The router a chat app embeds: embedder, cluster map, model pool, policy and decision ledger.

Also the data layer it is built from: replay logs, embedders and the embedding cache.
"""

from agent.clusters import ClusterMap
from agent.decision import Decision, FeedbackReceipt
from agent.embedder import Embedder, HashingEmbedder, MiniLMEmbedder
from agent.embedding_cache import CachedEmbedder
from agent.ledger import DecisionError, DecisionLedger, ExpiredDecisionError, UnknownDecisionError
from agent.logs import LogError, ReplayLog, from_long_frame, from_wide_frame, load_log
from agent.router import Router
from agent.warm_start import fit_pool

__all__ = [
    "CachedEmbedder",
    "ClusterMap",
    "Decision",
    "DecisionError",
    "DecisionLedger",
    "Embedder",
    "ExpiredDecisionError",
    "FeedbackReceipt",
    "HashingEmbedder",
    "LogError",
    "MiniLMEmbedder",
    "ReplayLog",
    "Router",
    "UnknownDecisionError",
    "fit_pool",
    "from_long_frame",
    "from_wide_frame",
    "load_log",
]
