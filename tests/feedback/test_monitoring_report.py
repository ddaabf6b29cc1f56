"""The monitoring report on a simulated live run, checked against the simulator's exact numbers.

One service (file SQLite, hashing embedder, plain Thompson sampling) serves 800 prompts from
its own synthetic log; feedback comes from the log's known outcomes. Traffic, feedback mix and
cost are then exact, and the estimates (regret, off-policy values) must be close to the truth
computed from every model's counterfactual outcome. The offline CLI must agree with the service.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from feedback.app import create_app
from feedback.report_cli import main as report_main
from tests.feedback.monitoring_live import live_run, service_log

STEPS = 800


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, h: Any) -> dict[str, Any]:
    db = tmp_path_factory.mktemp("monitoring") / "ra.db"
    settings = h.base_settings(
        database_url=f"sqlite:///{db}", synthetic_prompts=400, k=6, policy="thompson"
    )
    log = service_log(settings)
    app = create_app(settings)
    with TestClient(app) as c:
        run = live_run(c, log, steps=STEPS, seed=0)
        report = c.get("/report").json()
        page = c.get("/report.html")
        metrics = c.get("/metrics")
        router = app.state.service.router
        policy = router.policy
        # Exact cluster-level truth: each (cluster, model) cell's mean utility over the log.
        weights = router.cluster_map.weights(router.embedder.encode(log.prompts))
        clusters = weights.argmax(axis=1)
        index = [log.models.index(m) for m in policy.models]
        correct, cost = log.correct[:, index], log.cost[:, index]
        alpha, beta, alpha0, beta0 = policy.cluster_betas()
        k = alpha.shape[0]
        u = correct - (policy.lam / policy.cost_scale) * cost
        cell_u = np.vstack([u[clusters == c].mean(axis=0) for c in range(k)])
        prior = alpha0 / (alpha0 + beta0)
        static = np.argmax(prior - (policy.lam / policy.cost_scale) * policy.costs, axis=1)
        accuracy = {m["name"]: m["accuracy"] for m in c.get("/models").json()}
        posterior = (alpha, beta)
    return {
        "url": settings.database_url,
        "settings": {"policy": "thompson", "embedder": "hashing-64", "k": 6},
        "run": run,
        "report": report,
        "page": page,
        "metrics": metrics,
        "names": policy.models,
        "index": index,
        "cell_u": cell_u,
        "static": static,
        "accuracy": accuracy,
        "posterior": posterior,
    }


def _chosen(live: dict[str, Any]) -> np.ndarray:
    """Each step's chosen model as a pool index."""
    pos = {j: i for i, j in enumerate(live["index"])}
    return np.array([pos[j] for j in live["run"].chosen])


def test_traffic_share_and_counts_are_exact(live: dict[str, Any]) -> None:
    run, traffic = live["run"], live["report"]["traffic"]
    counts = Counter(run.models[j] for j in run.chosen)
    assert traffic["counts"] == dict(counts) and traffic["total"] == STEPS
    for model, n in counts.items():
        assert traffic["share"][model] == pytest.approx(n / STEPS, abs=1e-12)
    assert live["report"]["decisions"]["monitored"] == STEPS


def test_feedback_mix_and_rate_are_exact(live: dict[str, Any]) -> None:
    run, fb = live["run"], live["report"]["feedback"]
    assert {k: v["count"] for k, v in fb["by_kind"].items()} == run.feedback
    assert fb["rate"] == pytest.approx(run.with_feedback / STEPS)


def test_cost_spent_is_exact_and_savings_consistent(live: dict[str, Any]) -> None:
    run, sav = live["run"], live["report"]["savings"]
    assert sav["cost_spent"] == pytest.approx(sum(run.costs), rel=1e-9)
    assert sav["saved"] == pytest.approx(sav["cost_reference"] - sav["cost_spent"])
    given = sav["accuracy_given_up"]["model"]
    assert given["low"] <= given["value"] <= given["high"]


def test_estimated_regret_is_close_to_the_true_regret(live: dict[str, Any]) -> None:
    cell_u, k, a = live["cell_u"], np.array(live["run"].clusters), _chosen(live)
    truth = float((cell_u.max(axis=1)[k] - cell_u[k, a]).sum())
    today, at = live["report"]["regret"]["today"], live["report"]["regret"]["at_decision"]
    assert abs(today["total"] - truth) / STEPS < 0.01, (today, truth)
    assert today["low"] <= truth <= today["high"]
    assert at["n"] == STEPS and abs(at["total"] - truth) / STEPS < 0.02, (at, truth)
    curve = live["report"]["regret"]["curve"]
    assert curve["t"][-1] == STEPS and curve["today"][-1] == pytest.approx(today["total"])


def test_off_policy_values_land_near_the_truth(live: dict[str, Any]) -> None:
    run, names = live["run"], live["names"]
    rows, k = np.array(run.rows), np.array(run.clusters)
    outcomes = run.log.correct[rows][:, live["index"]]
    best = names.index(max(live["accuracy"], key=live["accuracy"].get))
    truths = {
        "always_best": float(outcomes[:, best].mean()),
        "static_uniroute": float(outcomes[np.arange(rows.size), live["static"][k]].mean()),
    }
    pols = live["report"]["off_policy"]["policies"]
    for name, truth in truths.items():
        for method in ("snips", "dr"):
            est = pols[name][method]
            half = (est["high"] - est["low"]) / 2
            assert abs(est["value"] - truth) <= 1.5 * half, (name, method, est, truth)
    observed = pols["logged"]["observed"]
    true_acc = float(outcomes[np.arange(rows.size), _chosen(live)].mean())
    assert observed["low"] <= true_acc <= observed["high"]


def test_posterior_table_is_the_routers(live: dict[str, Any]) -> None:
    alpha, beta = live["posterior"]
    post = live["report"]["posterior"]
    assert np.allclose(post["mean"], alpha / (alpha + beta))
    assert np.all(np.array(post["low"]) <= np.array(post["mean"]))
    assert np.all(np.array(post["mean"]) <= np.array(post["high"]))
    assert sum(post["decisions"]) == STEPS


def test_metrics_parse_with_the_prometheus_parser(live: dict[str, Any]) -> None:
    resp = live["metrics"]
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(resp.text)}
    samples = {
        name: [s for s in fam.samples if s.name.endswith("_total") or fam.type == "gauge"]
        for name, fam in families.items()
    }
    assert sum(s.value for s in samples["routing_decisions"]) == STEPS
    by_kind: Counter[str] = Counter()
    for s in samples["routing_feedback"]:
        by_kind[s.labels["kind"]] += int(s.value)
    assert dict(by_kind) == live["run"].feedback
    assert sum(s.value for s in samples["routing_traffic_share"]) == pytest.approx(1.0)
    assert sum(s.value for s in samples["routing_cost_usd"]) == pytest.approx(
        sum(live["run"].costs)
    )
    report = {s.labels["figure"]: s.value for s in samples["routing_report"]}
    assert report["decisions"] == STEPS
    assert "routing_estimated_regret_rate" in families
    assert "routing_report_policy_value" in families


def test_report_html_carries_the_key_figures(live: dict[str, Any]) -> None:
    page = live["page"]
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    text = page.text
    assert f"{STEPS:,}" in text and 'id="kf-regret-today"' in text
    verdict = live["report"]["verdict"]
    assert text.split("<body>\n", 1)[1].startswith('<p class="verdict" id="verdict">Over ')
    assert verdict["requests"] == STEPS and verdict["accuracy_cost"]["estimator"] == "dr"
    assert text.count('<img src="data:image/png;base64,') >= 4
    assert "http://" not in text and "https://" not in text  # self-contained


def test_cli_writes_the_same_report_offline(live: dict[str, Any], tmp_path: Path) -> None:
    config = tmp_path / "service.json"
    config.write_text(json.dumps(live["settings"]))
    args = ["--db", live["url"], "--out", str(tmp_path), "--config", str(config)]
    assert report_main(args) == 0
    offline = json.loads((tmp_path / "report.json").read_text())
    online = live["report"]
    assert offline["traffic"] == online["traffic"]
    assert offline["feedback"] == online["feedback"]
    assert offline["verdict"]["sentence"] == online["verdict"]["sentence"]
    assert offline["tags"] == online["tags"]
    assert np.allclose(offline["posterior"]["mean"], online["posterior"]["mean"])
    assert offline["regret"]["today"]["total"] == pytest.approx(online["regret"]["today"]["total"])
    html = (tmp_path / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and 'id="kf-decisions"' in html


def test_cli_refuses_a_database_without_a_pool(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    assert report_main(["--db", url, "--out", str(tmp_path / "out")]) == 2


@pytest.mark.parametrize("policy", ["bandit", "river-egreedy"])
def test_the_report_serves_a_river_baseline(policy: str, h: Any, tmp_path: Path) -> None:
    """A service run on one of river's baselines reports too: its choice probabilities (the
    propensities monitoring recomputes per cluster) come from its bandits' own state."""
    settings = h.base_settings(database_url=f"sqlite:///{tmp_path / 'ra.db'}", policy=policy)
    with TestClient(create_app(settings)) as c:
        for i in range(30):
            d = h.route(c, f"what is {i} + {i}?")
            body = {
                "decision_id": d["decision_id"],
                "token": d["token"],
                "thumbs": "up" if i % 3 else "down",
            }
            assert c.post("/feedback", json=body).status_code == 201
        report = c.get("/report")
        assert report.status_code == 200, report.text
        assert report.json()["decisions"]["total"] == 30
        assert c.get("/report.html").status_code == 200
