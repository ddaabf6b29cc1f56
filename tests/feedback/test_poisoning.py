"""The poisoning attacks of issue 23, against the real app (in-memory SQLite, the 8-model
synthetic pool): decisions minted with ``allowed`` narrowed to one model, and a label on each,
with no client key and no source. A restricted decision teaches only as much as its propensity
says (:mod:`agent.propensity`), and one client is one identity whose weight on a (cluster,
model), and on the corrections every model shares, is capped (:mod:`agent.source_cap`): neither
attack moves what the router thinks of the probe prompts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from agent.synthetic_log import generate_log

LOG = generate_log(300, seed=0)  # the pool's own synthetic log (300 prompts, seed 0)
PROBES = LOG.prompts[:20]
ATTACK = LOG.prompts[20:]


@pytest.fixture
def app(h: Any, clock: Any) -> Iterator[Any]:
    app, engine = h.memory_app(h.base_settings(), clock)
    with TestClient(app) as c:
        app.state.client = c
        yield app
    engine.dispose()


def _scores(app: Any) -> tuple[list[str], np.ndarray]:
    """The pool, and each probe's score of each model by posterior mean utility."""
    router = app.state.service.router
    scores = np.array([router.policy.mean_scores(router.context_for(p)) for p in PROBES])
    return router.models, scores


def _view(app: Any) -> tuple[list[str], dict[str, float]]:
    """Each probe's choice, and each model's mean score on the probes."""
    names, scores = _scores(app)
    means = dict(zip(names, scores.mean(axis=0), strict=True))
    return [names[i] for i in scores.argmax(axis=1)], means


def _attack(app: Any, model: str, label: int) -> float:
    """400 decisions restricted to ``model``, each labelled; the weight the labels got."""
    c = app.state.client
    weight = 0.0
    for i in range(400):
        d = c.post("/route", json={"prompt": ATTACK[i % len(ATTACK)], "allowed": [model]}).json()
        r = c.post(
            "/feedback", json={"decision_id": d["decision_id"], "token": d["token"], "label": label}
        )
        assert r.status_code == 201, r.text
        weight += r.json()["weight"]
    return weight


def test_labels_on_decisions_restricted_to_a_weak_model_do_not_move_the_probes(app: Any) -> None:
    before, scores = _view(app)
    assert "tiny-1b" not in before
    weight = _attack(app, "tiny-1b", 1)
    after, moved = _view(app)
    assert after == before
    assert weight < 5  # 400 labels taught less than 5 labels' worth
    # the 0.3 labels' worth they taught moves the probes' mean score less than 0.02
    assert moved["tiny-1b"] - scores["tiny-1b"] < 0.02


def _strong_attack(app: Any) -> dict[str, Any]:
    """400 wrong labels on decisions restricted to the strongest model; the probes' scores
    and choices before and after."""
    strongest = max(LOG.models, key=lambda m: LOG.correct[:, LOG.models.index(m)].mean())
    assert strongest == "frontier-xl"
    names, scores = _scores(app)
    before, means = _view(app)
    _attack(app, strongest, 0)
    after, moved = _view(app)
    return {
        "model": strongest,
        "j": names.index(strongest),
        "scores": (scores, _scores(app)[1]),
        "choices": (before, after),
        "means": (means, moved),
    }


def test_wrong_labels_on_decisions_restricted_to_the_strongest_model_move_no_other_choice(
    app: Any,
) -> None:
    """Where the router would choose it anyway, a restricted decision is as good as its own
    and teaches (up to the identity's budget): the probes it was chosen for may see it
    demoted, no other probe's choice moves."""
    run = _strong_attack(app)
    before, after = run["choices"]
    kept = [(a, b) for a, b in zip(after, before, strict=True) if b != run["model"]]
    assert kept and all(a == b for a, b in kept)


def test_wrong_labels_on_decisions_restricted_to_the_strongest_model_do_not_collapse_it(
    app: Any,
) -> None:
    """Unprotected (before the identity caps), its mean score on the probes fell from 0.75
    to -0.04; with the per-(cluster, model) caps alone, by 0.45 through the corrections every
    model shares. The shared budget leaves about 0.03."""
    run = _strong_attack(app)
    model, j = run["model"], run["j"]
    (means, moved), (scores, now) = run["means"], run["scores"]
    assert means[model] - moved[model] < 0.05
    assert np.max(scores[:, j] - now[:, j]) < 0.15  # on any one probe
