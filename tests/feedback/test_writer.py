"""Group commit: concurrent jobs share statements, answers follow the commit, and one bad job
fails only its own request (after a failed batch the others are retried one by one)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Connection, Engine, Integer, MetaData, Table, create_engine, select
from sqlalchemy.pool import StaticPool

from feedback.writer import GroupCommitter, Job

META = MetaData()
ITEMS = Table("wt_item", META, Column("id", Integer, primary_key=True), Column("v", Integer))


class ItemJob(Job):
    """Insert one value; ``v=None`` breaks the statement (NOT NULL), taking the batch down."""

    statements = 0

    def __init__(self, v: int | None) -> None:
        super().__init__()
        self.v = v

    @classmethod
    def run_batch(cls, conn: Connection, jobs: Sequence[ItemJob]) -> None:
        cls.statements += 1
        if any(j.v is None for j in jobs):
            raise ValueError("v must not be None")
        conn.execute(ITEMS.insert(), [{"v": j.v} for j in jobs])
        for j in jobs:
            j.written = True

    @classmethod
    def finish_batch(cls, engine: Engine, jobs: Sequence[ItemJob]) -> None:
        with engine.connect() as conn:
            stored = set(conn.execute(select(ITEMS.c.v)).scalars())
        for j in jobs:
            j.result = j.v in stored  # answered only once the row is visible


@pytest.fixture(params=["sqlite-file", "sqlite-memory"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "sqlite-file":
        eng = create_engine(f"sqlite:///{tmp_path / 'w.db'}")
    else:
        eng = create_engine(
            "sqlite://", connect_args={"check_same_thread": False}, poolclass=StaticPool
        )
    META.create_all(eng)
    yield eng
    eng.dispose()


def test_concurrent_jobs_share_batches_and_see_their_commit(engine: Engine) -> None:
    writer = GroupCommitter(engine)

    async def main() -> list[Any]:
        return list(await asyncio.gather(*(writer.submit(ItemJob(i)) for i in range(50))))

    assert asyncio.run(main()) == [True] * 50
    assert writer.jobs == 50 and writer.batches < 50
    writer.close()
    with engine.connect() as conn:
        assert sorted(conn.execute(select(ITEMS.c.v)).scalars()) == list(range(50))


def test_one_bad_job_fails_alone(engine: Engine) -> None:
    writer = GroupCommitter(engine)

    async def main() -> list[Any]:
        jobs = [ItemJob(None if i == 3 else i) for i in range(8)]
        return list(await asyncio.gather(*(writer.submit(j) for j in jobs), return_exceptions=True))

    results = asyncio.run(main())
    assert isinstance(results[3], ValueError)
    assert [r for i, r in enumerate(results) if i != 3] == [True] * 7
    assert writer.submit_blocking(ItemJob(100)) is True
    with pytest.raises(ValueError):
        writer.submit_blocking(ItemJob(None))
    writer.close()
    with engine.connect() as conn:
        assert sorted(conn.execute(select(ITEMS.c.v)).scalars()) == [*range(3), *range(4, 8), 100]
