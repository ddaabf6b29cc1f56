"""The real shared logs load with the shapes, drops and tasks DATA.md describes."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from agent.logs import load_log
from tests.shared_data import shared_log


def test_real_routerbench_subset(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="agent.logs"):
        log = load_log(shared_log("routerbench_subset"))
    # 104 NaN outcomes: 10 ARC prompts lack 10 models each, 4 more lack only gpt-3.5's.
    assert (log.n_models, log.n_prompts, log.dropped) == (11, 3164 - 14, 14)
    assert log.name == "routerbench_subset"
    assert set(log.tasks) == {"arc-challenge", "mbpp", "winogrande"}
    assert log.models[int(np.argmax(log.accuracy))] == "gpt-4-1106-preview"
    assert "dropped 14 of 3164" in caplog.text


def test_real_llmrouter_dcrouter() -> None:
    log = load_log(shared_log("llmrouter_dcrouter") / "long.parquet")
    assert (log.n_models, log.n_prompts, log.dropped) == (9, 5989, 0)
    graded = log.correct[(log.correct > 0) & (log.correct < 1)]
    assert graded.size > 0 and len(set(log.tasks)) == 14
