"""The report from a database alone, with no service running.

The router is rebuilt exactly as a starting replica rebuilds it (:meth:`RoutingService.start`:
profiles plus committed feedback, from the latest snapshot when there is one). Reports never
embed a prompt, so the embedder is a stand-in carrying the id the pool was built with.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sqlmodel import Session

from agent.report_kit import atomic_write, sanitise
from feedback import crud
from feedback.bootstrap import CLUSTER_MAP
from feedback.db import make_engine
from feedback.monitoring import tables  # noqa: F401  (registers the monitoring table)
from feedback.monitoring.page import render_page
from feedback.monitoring.report import build_report
from feedback.service import RoutingService
from feedback.settings import Settings


class StoredEmbedder:
    """Stands in for the embedder a database's pool was built with; cannot embed."""

    def __init__(self, id: str, dim: int = 0) -> None:
        self._id = id
        self._dim = dim

    @property
    def id(self) -> str:
        return self._id

    @property
    def dim(self) -> int:
        return self._dim

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        raise RuntimeError("an offline report cannot embed prompts")


def offline_settings(*, db: str | None, config: str | None) -> Settings:
    """The settings of a command working on a database with no service running: the service's
    (``config`` file, then the variables), on ``db`` if given, with no polls and no snapshots."""
    settings = Settings.from_env(os.environ, config=config)
    if db:
        settings = settings.with_values({"database_url": db})
    return settings.with_values({"poll_interval": 0.0, "snapshot_interval": 0.0})


def rebuild_service(settings: Settings) -> RoutingService:
    """A started :class:`RoutingService` on ``settings.database_url`` (which must hold a pool)."""
    engine = make_engine(settings)
    with Session(engine) as s:
        raw = crud.get_meta(session=s, key=CLUSTER_MAP) if _has_meta(engine) else None
    if raw is None:
        engine.dispose()
        raise ValueError(f"{settings.database_url}: no routing-agent pool in this database")
    service = RoutingService(settings, engine, embedder=StoredEmbedder(json.loads(raw)["embedder"]))
    try:
        service.start()
    except RuntimeError as exc:  # the settings ask for state the database does not hold
        engine.dispose()
        raise ValueError(
            f"{settings.database_url}: cannot rebuild the router with these settings ({exc}); "
            "pass the service's settings with --config or ROUTING_AGENT_* variables"
        ) from exc
    return service


def _has_meta(engine: Any) -> bool:
    from sqlalchemy import inspect

    return bool(inspect(engine).has_table("ra_meta"))


def report_from_db(settings: Settings, **kwargs: Any) -> dict[str, Any]:
    """The JSON-ready report of the database ``settings.database_url`` names."""
    service = rebuild_service(settings)
    try:
        with service.session() as s:
            return dict(sanitise(build_report(s, service.router, **kwargs)))
    finally:
        service.engine.dispose()


def write_report(out_dir: str | Path, report: dict[str, Any]) -> tuple[Path, Path]:
    """Write ``report.json`` and ``report.html`` atomically; return both paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    js, page = out / "report.json", out / "report.html"
    atomic_write(js, json.dumps(report, indent=2, allow_nan=False, ensure_ascii=False) + "\n")
    atomic_write(page, render_page(report))
    return js, page
