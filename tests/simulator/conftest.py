"""Small, fast fixtures: a generated log embedded with the hashing embedder."""

from __future__ import annotations

import numpy as np
import pytest

from agent.embedder import HashingEmbedder
from agent.logs import ReplayLog
from agent.synthetic_log import generate_log


@pytest.fixture(scope="session")
def small_log() -> ReplayLog:
    return generate_log(n_prompts=800, n_models=6, seed=3)


@pytest.fixture(scope="session")
def small_embeddings(small_log: ReplayLog) -> np.ndarray:
    return HashingEmbedder(dim=128).encode(small_log.prompts)
