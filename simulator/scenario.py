"""Scenario events that change the world mid-replay: model arrival, drift, price change."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class ScenarioError(ValueError):
    """A scenario event that cannot apply to this log (unknown model, bad step)."""


@dataclass(frozen=True)
class Arrival:
    """``model`` is held out of the pool until ``step``, then onboarded from its profile."""

    model: str
    step: int


@dataclass(frozen=True)
class Drift:
    """From ``step``, ``model`` answers as ``like`` does (default: the least accurate model), in
    ``clusters`` only (default: everywhere)."""

    model: str
    step: int
    like: str | None = None
    clusters: tuple[int, ...] | None = None


@dataclass(frozen=True)
class PriceChange:
    """From ``step``, ``model`` costs ``cost`` USD per answer, and the router is told so."""

    model: str
    step: int
    cost: float


Event = Arrival | Drift | PriceChange


def parse_at(text: str, flag: str) -> tuple[str, int, str | None]:
    """Parse ``MODEL@STEP`` or ``MODEL@STEP=VALUE`` as given on the command line.

    >>> parse_at("gpt-4@5000", "--drift")
    ('gpt-4', 5000, None)
    >>> parse_at("gpt-4@100=0.01", "--price")
    ('gpt-4', 100, '0.01')
    """
    head, _, value = text.partition("=")
    model, sep, step = head.rpartition("@")
    if not sep or not model or not step.isdigit():
        raise ScenarioError(f"{flag} expects MODEL@STEP, got {text!r}")
    return model, int(step), value or None


def load_scenario(path: str | Path) -> list[Event]:
    """Read a scenario file: a JSON list of {"event": "arrival"|"drift"|"price", ...} objects."""
    p = Path(path)
    try:
        items = json.loads(p.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ScenarioError(f"{p}: cannot read scenario file: {exc}") from None
    if not isinstance(items, list):
        raise ScenarioError(f"{p}: a scenario file holds a JSON list of events")
    events: list[Event] = []
    for i, item in enumerate(items):
        try:
            kind = item.pop("event")
            if kind == "arrival":
                events.append(Arrival(str(item["model"]), int(item["step"])))
            elif kind == "drift":
                clusters = item.get("clusters")
                events.append(
                    Drift(
                        str(item["model"]),
                        int(item["step"]),
                        item.get("like"),
                        tuple(int(c) for c in clusters) if clusters is not None else None,
                    )
                )
            elif kind == "price":
                events.append(
                    PriceChange(str(item["model"]), int(item["step"]), float(item["cost"]))
                )
            else:
                raise ScenarioError(f"{p}: event {i}: unknown event {kind!r}")
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            if isinstance(exc, ScenarioError):
                raise
            raise ScenarioError(f"{p}: event {i}: malformed ({exc!r})") from None
    return events


def apply_events(
    events: list[Event],
    models: list[str],
    outcomes: np.ndarray,
    costs: np.ndarray,
    clusters: np.ndarray,
    accuracy: np.ndarray,
) -> None:
    """Rewrite the per-step ``outcomes`` and ``costs`` (T × M, in place) for drift and prices."""
    steps = outcomes.shape[0]
    for ev in events:
        if ev.model not in models:
            raise ScenarioError(f"scenario names unknown model {ev.model!r}")
        if not 0 <= ev.step < steps:
            raise ScenarioError(f"{ev.model}@{ev.step}: step is outside 0..{steps - 1}")
        j = models.index(ev.model)
        if isinstance(ev, Drift):
            like = ev.like or models[int(np.argmin(accuracy))]
            if like not in models:
                raise ScenarioError(f"drift names unknown model {like!r}")
            rows = np.arange(ev.step, steps)
            if ev.clusters is not None:
                rows = rows[np.isin(clusters[ev.step :], ev.clusters)]
            outcomes[rows, j] = outcomes[rows, models.index(like)]
        elif isinstance(ev, PriceChange):
            if not (np.isfinite(ev.cost) and ev.cost >= 0):
                raise ScenarioError(f"price of {ev.model} must be >= 0, got {ev.cost}")
            costs[ev.step :, j] = ev.cost
