"""Resolution levels through the service: the shared pool keeps their maps (the task level,
for a log that names tasks), decisions keep each prompt's cells, feedback learns into them and
a replica replays it into the same cells."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from fastapi.testclient import TestClient
from sqlmodel import Session, delete, select

from agent.synthetic_log import TOPICS
from agent.task_map import TaskMap
from feedback.app import create_app
from feedback.models import DecisionRow, ModelRow, PolicySnapshot
from feedback.settings import Settings


def _levels(client: TestClient) -> list[np.ndarray]:
    """Both learners' shared and per-model corrections of the level cells: the partitions
    after all prompts and the clusters (read from the policy's saved state)."""
    router = client.app.state.service.router  # type: ignore[attr-defined]
    sizes = router.policy.blend.sizes
    rows = slice(sizes[0] + sizes[1], sum(sizes))
    learners = router.state(with_store=False)["policy"]["extra"]["learners"]
    return [np.asarray(lr[k])[rows] for lr in learners for k in ("shared_mu", "model_mu")]


def test_levels_are_learned_and_survive_a_rebuild(shared_settings: Settings, h: Any) -> None:
    with TestClient(create_app(shared_settings)) as c:
        service = c.app.state.service  # type: ignore[attr-defined]
        # The default log names its topics, so the pool learns on the task level.
        (task_map,) = service.router.level_maps
        assert isinstance(task_map, TaskMap) and task_map.names_ == tuple(sorted(TOPICS))
        sizes = (task_map.k_,)
        assert service.router.policy.blend.sizes[2:] == sizes
        before = [x.copy() for x in _levels(c)]
        assert not any(x.any() for x in before)
        for i in range(6):
            d = h.route(c, prompt=f"How do I sort a list in Python, case {i}?")
            r = c.post("/feedback", json={"decision_id": d["decision_id"], "token": d["token"],
                                          "label": i % 2})  # fmt: skip
            assert r.status_code == 201, r.text
        after = _levels(c)
        assert all(x.any() for x in after)  # the task cell's corrections moved
        with Session(service.engine) as s:
            cells = [json.loads(row.context)["cells"] for row in s.exec(select(DecisionRow))]
        assert cells and all(len(x) == len(sizes) and x[0] >= 0 for x in cells)
    with Session(service.engine) as s:  # no snapshot: the feedback rows and their cells alone
        s.execute(delete(PolicySnapshot))
        s.commit()
    # A replica that starts from the database replays the feedback into the same cells.
    with TestClient(create_app(shared_settings)) as again:
        for x, y in zip(after, _levels(again), strict=True):
            np.testing.assert_array_equal(x, y)


def test_an_onboarded_model_is_profiled_at_every_level(client: TestClient, h: Any) -> None:
    rows = [{"prompt": f"question {i} about sorting", "correct": float(i % 2)} for i in range(8)]
    r = client.post("/models", json={"name": "newbie", "cost": 0.001, "rows": rows},
                    headers=h.admin())  # fmt: skip
    assert r.status_code in (200, 201), r.text
    service = client.app.state.service  # type: ignore[attr-defined]
    with Session(service.engine) as s:
        row = s.exec(select(ModelRow).where(ModelRow.name == "newbie")).one()
    levels = json.loads(row.levels)
    assert [len(succ) for succ, _ in levels] == [m.k_ for m in service.router.level_maps]
    assert all(sum(trials) == 8 for _, trials in levels)
