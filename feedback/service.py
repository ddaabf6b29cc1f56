"""The service's state: a Router whose posterior follows the database, and the request logic.

Feedback is folded into the in-memory posterior only after its row commits, and exactly once
per row id (:class:`~feedback.tracker.AppliedIds`), whether it arrived here or at another replica.
The database writer's thread only hands a committed row over (:meth:`RoutingService._committed`);
it is learnt off that thread, in id order, by the request that sent it (or, if that request is
gone, by the next :meth:`RoutingService.sync`).
Any pool change bumps a shared revision; a replica that sees a revision it did not make rebuilds
its posterior from the newest usable snapshot brought to today's pool (else the profiles),
plus the labels and committed feedback it does not hold, in id order (:mod:`feedback.replay`).

The request logic of ``POST /route`` and ``POST /feedback`` is :attr:`RoutingService.requests`
(:mod:`feedback.request_logic`).
"""

from __future__ import annotations

import heapq
import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from agent.batching import BatchingEmbedder
from agent.embedder import Embedder
from agent.embedding_cache import CachedEmbedder
from agent.router import Router
from feedback import crud, labels
from feedback.bootstrap import (
    ensure_pool,
    load_blend,
    load_cluster_map,
    load_level_maps,
    load_shift,
    make_embedder,
    token_secret,
)
from feedback.db import create_tables, is_postgres
from feedback.replay import basis, lesson, reconcile, snapshot_router_state, usable
from feedback.request_logic import RequestLogic
from feedback.settings import Settings
from feedback.sql_store import SqlDecisionStore
from feedback.tracker import AppliedIds
from feedback.writer import GroupCommitter
from policies import Policy

logger = logging.getLogger(__name__)

#: Most outcomes of learnt rows kept for requests that have not read theirs.
_OUTCOMES_KEPT = 10_000

LAM, BUDGET, RESET_FLOOR = "lam", "budget", "reset_floor"


class RoutingService:
    """Owns the live :class:`Router`; call :meth:`start` once, then serve requests."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        *,
        embedder: Embedder | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.embedder = embedder
        self.clock = clock
        self._lock = threading.RLock()
        #: Rows of this replica committed and not yet learnt, by id; and what learning a row
        #: did, until the request that sent it reads it (:meth:`_learn_through`).
        self._backlog: list[tuple[int, Callable[[], bool]]] = []
        self._outcomes: dict[int, bool] = {}
        #: ``POST /route`` and ``POST /feedback`` (:mod:`feedback.request_logic`).
        self.requests = RequestLogic(self)

    # -- start-up and rebuilding ---------------------------------------------------------------
    def start(self) -> None:
        st = self.settings
        create_tables(self.engine, st)
        inner = self.embedder or make_embedder(st)
        with self.session() as s:
            self._secret = token_secret(session=s, settings=st)
            ensure_pool(session=s, settings=st, embedder=inner)
            self._cmap = load_cluster_map(session=s, embedder=inner)
            self._level_maps = load_level_maps(session=s, embedder=inner)
            self._blend = load_blend(session=s)
            self._shift = load_shift(session=s)
        # The on-disk cache (if any) serves the bulk encodes above; requests, mostly new
        # prompts, skip its per-call file access and use the in-memory LRU instead.
        self._embedder = BatchingEmbedder(
            inner.inner if isinstance(inner, CachedEmbedder) else inner,
            max_batch=st.embed_batch,
            max_wait=st.embed_wait_ms / 1000.0,
            cache_size=st.embed_cache_rows,
        )
        self._writer = GroupCommitter(self.engine, max_batch=st.commit_batch)
        self._store = SqlDecisionStore(
            self._writer,
            settings=lambda: self.settings,
            committed=self._committed,
            learn_through=self._learn_through,
            clock=self.clock,
        )
        self.rebuild()

    def warm_up(self) -> None:
        """Load the embedding model and start the writer now, not in the first request."""
        self._embedder.encode(["warm-up"])
        self._writer.start()

    def observe_encoder(self, observe: Callable[[int, float], None]) -> None:
        """Report each encoder call (batch size, seconds) to ``observe`` (the /metrics)."""
        self._embedder.observe = observe

    def close(self) -> None:
        """Finish queued writes and embeddings, then stop their threads."""
        self._writer.close()
        self._embedder.close()

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    @property
    def secret(self) -> bytes:
        """The key that signs decision tokens."""
        return self._secret

    @property
    def router(self) -> Router:
        return self._router

    @property
    def store(self) -> SqlDecisionStore:
        """The decision store every router of this service keeps its decisions in."""
        return self._store

    @property
    def revision(self) -> int:
        return self._revision

    @property
    def applied(self) -> AppliedIds:
        return self._applied

    def rebuild(self) -> None:
        """Rebuild the posterior from the newest usable snapshot (:mod:`feedback.replay`)
        brought to today's pool, else from the profiles; then the labels and the committed
        feedback it does not hold."""
        now = self.clock()
        with self.session() as s:
            revision = crud.get_revision(session=s)
            floor = int(crud.get_meta(session=s, key=RESET_FLOOR) or 0)
            label_floor = labels.label_floor(session=s)
            lam = crud.get_meta(session=s, key=LAM)
            budget = crud.get_meta(session=s, key=BUDGET)
            models = crud.active_models(session=s)
            profiles = [crud.to_profile(r) for r in models]
            digests = {r.name: crud.profile_digest(r) for r in models}
            # Budget pacers and conversations carry over: this process's, else the snapshot's.
            live = getattr(self, "_router", None)
            router, applied, learnt, saved = self._start(
                s,
                profiles,
                digests,
                revision=revision,
                floor=floor,
                label_floor=label_floor,
                now=now,
            )
            if not reconcile(router, profiles, digests, saved):
                logger.warning("the snapshot's pool cannot become today's; rebuilding afresh")
                router = self._new_router(profiles)
                applied, learnt = AppliedIds(hwm=floor), AppliedIds(hwm=label_floor)
            labels.replay(router, session=s, learnt=learnt)
            if live is not None:  # this process's memory is newer than any snapshot
                router.inherit(live)
            if lam is not None:
                router.lam = float(lam)
            rows = crud.feedback_after(session=s, hwm=applied.hwm, gaps=applied.gaps, floor=floor)
        for row in rows:
            if applied.claim(row[0], now=now):
                router.learn(lesson(row))
        with self._lock:
            self._router, self._applied, self._labels = router, applied, learnt
            self._revision, self._floor, self._label_floor = revision, floor, label_floor
            self._digests = digests
            self._budget = float(budget) if budget else None
        logger.info("rebuilt at revision %d from %d feedback rows", revision, len(rows))
        self.sync()

    def _start(
        self,
        s: Session,
        profiles: list[Any],
        digests: dict[str, str],
        *,
        revision: int,
        floor: int,
        label_floor: int,
        now: float,
    ) -> tuple[Router, AppliedIds, AppliedIds, dict[str, str]]:
        """The router to rebuild on: the newest usable snapshot's, else the profiles' (whose
        ``digests`` these are); with the feedback and labels it holds, and its pool's digests.

        A snapshot this version cannot restore (saved by an older one, whose policy state has
        another form) or of another policy than the settings name is passed over, with a
        warning: the router starts from the profiles, and the labels and the feedback rows
        after the reset floor are replayed (rows pruned since that snapshot are lost)."""
        fresh = self._new_router(profiles)
        afresh = fresh, AppliedIds(hwm=floor), AppliedIds(hwm=label_floor), digests
        kw = {"revision": revision, "floor": floor, "label_floor": label_floor}
        head = next((h for h in crud.snapshot_heads(session=s) if usable(h, **kw)), None)
        raw = crud.snapshot_state(session=s, snapshot_id=head[0]) if head is not None else None
        if head is None or raw is None:
            return afresh
        wanted = fresh.state(with_store=False)["policy"]["class"]
        try:
            state = json.loads(raw)
            held = snapshot_router_state(state)["policy"]["class"]
            if held == wanted:  # the snapshot's policy and memory, under today's settings
                router = Router.from_state(
                    snapshot_router_state(state), self._cmap, **self._router_kwargs()
                )
            else:  # which warning: a state of another version is one this cannot restore
                Policy.from_state(snapshot_router_state(state)["policy"])
            applied = AppliedIds.from_state(state["applied"], now=now)
        except (ValueError, KeyError, TypeError) as exc:
            logger.warning(
                "snapshot %d (revision %d) cannot be restored (%s: %s); rebuilding from the "
                "profiles, the labels and the stored feedback",
                head[0], head[1], type(exc).__name__, exc,
            )  # fmt: skip
            return afresh
        if held != wanted:
            logger.warning(
                "snapshot %d (revision %d) holds a %s policy, the settings name %r (a %s); "
                "rebuilding from the profiles, the labels and the stored feedback",
                head[0], head[1], held, self.settings.policy, wanted,
            )  # fmt: skip
            return afresh
        if not head[4]:  # a snapshot at this revision, from before snapshots kept their basis
            return router, applied, AppliedIds(hwm=labels.last_label(session=s)), digests
        learnt = AppliedIds.from_state(json.loads(head[4])["labels"], now=now)
        return router, applied, learnt, dict(state["pool"])

    def _new_router(self, profiles: list[Any]) -> Router:
        st = self.settings
        online = st.policy == "default"
        return Router.from_profiles(
            profiles,
            self._cmap,
            blend=self._blend if online else None,
            shift=self._shift if online else None,  # the router observes a copy
            policy=st.policy,
            policy_params=(
                {"propensity_samples": st.propensity_samples}
                if st.policy in ("default", "thompson")
                else None
            ),
            seed=st.seed,
            lam=st.lam,
            **self._router_kwargs(),
        )

    def _router_kwargs(self) -> dict[str, Any]:
        """The Router's constructor arguments the settings give (a snapshot's router is
        restored under them too)."""
        st = self.settings
        return {
            "embedder": self._embedder,
            "level_maps": self._level_maps if st.policy == "default" else (),
            "label_candidates": st.label_candidates,
            "soft": st.soft,
            "stickiness": st.stickiness,
            "ttl": st.decision_ttl,
            "source_limit": st.source_limit,
            "source_window": st.source_window,
            "secret": self._secret,
            "clock": self.clock,
            "store": self._store,
            "regenerate_window": st.regenerate_window if st.implicit_regenerate else None,
        }

    def sync(self) -> int:
        """Fold in feedback other replicas committed; rebuild if the pool changed. Returns the
        number of rows folded in."""
        self._learn_through(sys.maxsize)  # this replica's committed rows first, in id order
        with self.session() as s:
            revision = crud.get_revision(session=s)
            if revision != self._revision:
                stale = True
            else:
                stale = False
                with self._lock:
                    hwm, gaps, floor = self._applied.hwm, list(self._applied.gaps), self._floor
                rows = crud.feedback_after(session=s, hwm=hwm, gaps=gaps, floor=floor)
        if stale:
            self.rebuild()
            return 0
        now = self.clock()
        folded = sum(self._fold(row, now=now) for row in rows)
        with self._lock:
            self._applied.expire(before=now - self.settings.gap_timeout)
        return folded

    def _fold(self, row: crud.FeedbackItem, *, now: float) -> bool:
        """Learn a row another replica committed, unless it was learnt already."""
        with self._lock:
            if not self._applied.claim(row.id, now=now):
                return False
            self._router.learn(lesson(row))
            return True

    def _committed(self, fid: int, learn: Callable[[], bool]) -> None:
        """Row ``fid`` of this replica has committed; ``learn`` teaches it. The writer's
        thread calls this and goes on: the row is learnt by :meth:`_learn_through`."""
        with self._lock:
            heapq.heappush(self._backlog, (fid, learn))

    def _learn_through(self, fid: int) -> bool:
        """Learn this replica's committed rows up to ``fid``, in id order, each unless
        :meth:`sync` got there first; whether row ``fid`` is in the posterior (True if it
        was learnt before, here or by a sync)."""
        with self._lock:
            now = self.clock()
            while self._backlog and self._backlog[0][0] <= fid:
                row, learn = heapq.heappop(self._backlog)
                self._outcomes[row] = learn() if self._applied.claim(row, now=now) else True
            if len(self._outcomes) > _OUTCOMES_KEPT:  # rows whose requests went away
                for row in sorted(self._outcomes)[: len(self._outcomes) // 2]:
                    del self._outcomes[row]
            return self._outcomes.pop(fid, True)

    def pool_changed(
        self,
        revision: int,
        change: Callable[[Router], None] | None,
        *,
        label_id: int | None = None,
    ) -> None:
        """Apply a committed pool change locally: in place if ``revision`` directly follows
        ours, else (another replica changed the pool too) by a rebuild. ``label_id``: the
        change learns that label."""
        with self._lock:
            if change is not None and revision == self._revision + 1:
                change(self._router)
                self._revision = revision
                if label_id is not None:
                    self._labels.claim(label_id, now=self.clock())
                with self.session() as s:
                    self._digests = crud.profile_digests(session=s)
                return
        self.rebuild()

    @property
    def budget(self) -> float | None:
        return self._budget

    def snapshot(self) -> bool:
        """Store the policy state, the applied-id bookkeeping, the labels it holds and its
        pool's profile digests, for a faster restart (and a rebuild at a later revision to
        start from). A replica behind the database's revision stores nothing (False): it is
        about to rebuild."""
        with self._lock:
            state = {
                "router": self._router.state(with_store=False),
                "applied": self._applied.to_state(),
                "pool": dict(self._digests),
            }
            revision, hwm, gaps = self._revision, self._applied.hwm, sorted(self._applied.gaps)
            held = basis(self._floor, self._label_floor, self._labels)
        with self.session() as s:
            if crud.get_revision(session=s) != revision:
                return False
            crud.save_snapshot(
                session=s,
                revision=revision,
                hwm=hwm,
                gaps=gaps,
                state=json.dumps(state),
                basis=held,
                now=self.clock(),
            )
        return True

    def health(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "models": len(self._router.models),
            "revision": self._revision,
            "applied_feedback": self._applied.count,
            "database": "postgresql" if is_postgres(self.settings.database_url) else "sqlite",
        }
