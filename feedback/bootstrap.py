"""Start-up: the embedder, the token secret, and the pool (built once, then read from the DB)."""

from __future__ import annotations

import base64
import json
import logging
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from agent.clusters import ClusterMap, LevelMap
from agent.embedder import Embedder
from agent.embedding_cache import CachedEmbedder
from agent.encoders import make_encoder
from agent.level_maps import default_levels, load_level_map
from agent.logs import ReplayLog, load_log
from agent.shift import ShiftMeter
from agent.synthetic_log import generate_log
from agent.warm_start import fit_pool
from feedback import crud
from feedback.models import Meta
from feedback.settings import Settings
from policies import OnlineUniRoute, make_policy

logger = logging.getLogger(__name__)

CLUSTER_MAP = "cluster_map"
BLEND = "blend"
SHIFT = "shift_reference"
LEVEL_MAPS = "level_maps"
SECRET = "token_secret"
M = TypeVar("M")


def make_embedder(settings: Settings) -> Embedder:
    """The encoder named by the ``embedder`` setting (:data:`agent.encoders.ENCODERS`),
    optionally behind an on-disk cache.

    >>> make_embedder(Settings(embedder="hashing-64")).id
    'hashing-64-s0'
    """
    inner = make_encoder(settings.embedder, threads=settings.embed_threads or None)
    return CachedEmbedder(inner, settings.embedding_cache) if settings.embedding_cache else inner


def token_secret(*, session: Session, settings: Settings) -> bytes:
    """The configured secret, else one generated once and shared by all replicas via the DB."""
    if settings.secret:
        return settings.secret.encode()
    return crud.meta_if_absent(session=session, key=SECRET, value=secrets.token_hex(32)).encode()


def default_log(settings: Settings) -> ReplayLog:
    if settings.from_log:
        return load_log(settings.from_log)
    return generate_log(n_prompts=settings.synthetic_prompts, seed=settings.seed)


def ensure_pool(*, session: Session, settings: Settings, embedder: Embedder) -> None:
    """Build the pool from the log once (the first replica to commit wins): the cluster map,
    the profiles and, for ``default``, the maps of its extra partitions (the levels), the warm
    start's stacking weights and the shift meter's reference (:class:`agent.shift.ShiftMeter`),
    so every replica reads the same."""
    if crud.get_meta(session=session, key=CLUSTER_MAP) is not None:
        return
    log = default_log(settings)
    logger.info("building the pool from %s (%d prompts)", log.name, log.n_prompts)
    online = isinstance(make_policy(settings.policy), OnlineUniRoute)
    pool = fit_pool(
        log,
        embedder=embedder,
        k=settings.k,
        seed=settings.seed,
        soft=settings.soft,
        levels=default_levels(log) if online else (),
    )
    try:
        with session.no_autoflush:
            session.add(
                Meta(key=CLUSTER_MAP, value=dump_cluster_map(pool.cluster_map, embedder.id))
            )
            if pool.level_maps:
                maps = [dump_cluster_map(m, embedder.id) for m in pool.level_maps]
                session.add(Meta(key=LEVEL_MAPS, value=json.dumps(maps)))
            if online:
                session.add(Meta(key=BLEND, value=json.dumps(list(pool.blend))))
                session.add(Meta(key=SHIFT, value=json.dumps(pool.shift.to_state())))
            for profile in pool.profiles:
                crud.save_model(session=session, profile=profile, now=0.0)
        session.commit()
    except IntegrityError:
        session.rollback()
        logger.info("another replica built the pool first; using theirs")


def dump_cluster_map(cmap: LevelMap, embedder_id: str) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cmap.npz"
        cmap.save(path)
        blob = base64.b64encode(path.read_bytes()).decode()
    return json.dumps({"embedder": embedder_id, "npz": blob})


def load_cluster_map(*, session: Session, embedder: Embedder) -> ClusterMap:
    raw = crud.get_meta(session=session, key=CLUSTER_MAP)
    if raw is None:
        raise RuntimeError("the database holds no cluster map; call ensure_pool first")
    return _parse_cluster_map(raw, embedder)


def load_level_maps(*, session: Session, embedder: Embedder) -> tuple[LevelMap, ...]:
    """The shared maps of the resolution levels; none for a pool built without them (or
    before levels existed: its profiles have none either, so it learns on its clusters)."""
    raw = crud.get_meta(session=session, key=LEVEL_MAPS)
    return tuple(_parse_map(m, embedder, load_level_map) for m in json.loads(raw)) if raw else ()


def load_blend(*, session: Session) -> tuple[float, ...] | None:
    """The warm start's stacking weights the pool was built with (None: equal weights, for a
    pool built without them)."""
    raw = crud.get_meta(session=session, key=BLEND)
    return tuple(float(w) for w in json.loads(raw)) if raw else None


def load_shift(*, session: Session) -> ShiftMeter | None:
    """The shift meter as the pool was built: its reference, nothing seen yet (None for a
    pool built without one: the policy then sees no shift)."""
    raw = crud.get_meta(session=session, key=SHIFT)
    return ShiftMeter.from_state(json.loads(raw)) if raw else None


def _parse_cluster_map(raw: str, embedder: Embedder) -> ClusterMap:
    return _parse_map(raw, embedder, ClusterMap.load)


def _parse_map(raw: str, embedder: Embedder, load: Callable[[Path], M]) -> M:
    """A map written by :func:`dump_cluster_map`, read by ``load``."""
    data = json.loads(raw)
    if data["embedder"] != embedder.id:
        raise ValueError(
            f"the database's pool was built with embedder {data['embedder']!r}, but this "
            f"service uses {embedder.id!r}; set ROUTING_AGENT_EMBEDDER or use another database"
        )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cmap.npz"
        path.write_bytes(base64.b64decode(data["npz"]))
        return load(path)


def prepare_database(settings: Settings) -> None:
    """The once-per-database work: the tables, the token secret, the encoder's local build and
    the pool (clusters and profiles). ``serve --workers N`` does it before forking, so each
    worker only loads what is stored and answers its health check in seconds."""
    from feedback.db import create_tables, make_engine

    engine = make_engine(settings)
    try:
        create_tables(engine, settings)
        embedder = make_embedder(settings)
        with Session(engine) as session:
            token_secret(session=session, settings=settings)
            ensure_pool(session=session, settings=settings, embedder=embedder)
    finally:
        engine.dispose()
