"""A simulated live run for the monitoring tests: prompts from the service's own synthetic log
go through ``POST /route``; users answer with ``POST /feedback`` from the log's known outcomes,
so every number a report estimates has an exact counterpart here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agent.logs import ReplayLog
from agent.synthetic_log import generate_log
from simulator.sequential import Trace

THUMBS = (0.8, 0.3)  # P(up | correct), P(up | wrong): the policies' default thumbs model


@dataclass
class LiveRun:
    log: ReplayLog
    models: list[str]
    rows: list[int] = field(default_factory=list)  # log row of each request
    chosen: list[int] = field(default_factory=list)  # log index of each chosen model
    clusters: list[int] = field(default_factory=list)
    costs: list[float] = field(default_factory=list)  # router price of the chosen model
    feedback: dict[str, int] = field(default_factory=dict)
    with_feedback: int = 0

    def trace(self, lam: float, c_max: float) -> Trace:
        """The run as a simulator trace, with every model's counterfactual outcome."""
        rows = np.array(self.rows)
        return Trace(
            policy="service",
            seed=0,
            lam=lam,
            chosen=np.array(self.chosen),
            outcomes=self.log.correct[rows].astype(np.float64),
            costs=self.log.cost[rows].astype(np.float64),
            clusters=np.array(self.clusters),
            lams=np.full(rows.size, lam),
            models=list(self.log.models),
            c_max=c_max,
            feedback=self.with_feedback,
        )


def service_log(settings: Any) -> ReplayLog:
    """The synthetic log the service builds its pool from (feedback.bootstrap.default_log)."""
    return generate_log(n_prompts=settings.synthetic_prompts, seed=settings.seed)


def live_run(
    client: Any, log: ReplayLog, *, steps: int, seed: int = 0, rate: float = 0.7
) -> LiveRun:
    """Route ``steps`` prompts drawn from ``log`` and give feedback on a ``rate`` share: mostly
    labels, some graded scores and some noisy thumbs."""
    rng = np.random.default_rng(seed)
    costs = {m["name"]: m["cost"] for m in client.get("/models").json()}
    run = LiveRun(log, list(log.models))
    index = {m: j for j, m in enumerate(log.models)}
    for row in rng.integers(log.n_prompts, size=steps).tolist():
        r = client.post("/route", json={"prompt": log.prompts[row]})
        assert r.status_code == 200, r.text
        d = r.json()
        j = index[d["model"]]
        run.rows.append(row)
        run.chosen.append(j)
        run.clusters.append(int(np.argmax(d["weights"])))
        run.costs.append(costs[d["model"]])
        if rng.random() >= rate:
            continue
        correct = float(log.correct[row, j])
        u = rng.random()
        body: dict[str, Any] = {"decision_id": d["decision_id"], "token": d["token"]}
        if u < 0.6:
            body["label"] = int(rng.random() < correct)
        elif u < 0.8:
            body["score"] = correct
        else:
            p_up = THUMBS[0] * correct + THUMBS[1] * (1 - correct)
            body["thumbs"] = "up" if rng.random() < p_up else "down"
        kind = next(k for k in ("label", "score", "thumbs") if k in body)
        f = client.post("/feedback", json=body)
        assert f.status_code == 201, f.text
        run.feedback[kind] = run.feedback.get(kind, 0) + 1
        run.with_feedback += 1
    return run
