"""The engines under the queries: SQLite's group commit (batching, a failing write undone alone),
and, for both engines, shutdown waiting for writes and cancelled callers not stopping others."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest

from bot.store.connect import open_engine
from bot.store.engine import Engine, Tx
from bot.store.sqlite import SqliteDatabase


def _insert(n: int) -> Callable[[Tx], Awaitable[int]]:
    return lambda tx: tx.execute("INSERT INTO seen_events (event_id, seen_at) VALUES (?, ?)", f"Ev{n}", float(n))


async def _ids(engine: Engine) -> list[str]:
    rows = await engine.read(lambda tx: tx.fetch("SELECT event_id FROM seen_events ORDER BY seen_at"))
    return [str(row[0]) for row in rows]


def _count(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT count(*) FROM seen_events").fetchone()[0])


async def test_sqlite_writes_queued_together_share_a_commit_and_are_all_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "db"
    async with SqliteDatabase.open(path) as db:
        results = await asyncio.gather(*(db.write(_insert(n)) for n in range(500)))
        assert results == [1] * 500
        assert 1 <= db.commits < 50  # 500 writes, a handful of transactions
        assert _count(path) == 500  # visible to another connection: committed, not just queued


async def test_sqlite_reads_never_see_a_batch_before_it_commits(tmp_path: Path) -> None:
    async with SqliteDatabase.open(tmp_path / "db") as db:
        seen_inside: list[list[str]] = []

        async def insert_then_look(tx: Tx) -> None:
            await tx.execute("INSERT INTO seen_events (event_id, seen_at) VALUES ('EvX', 1.0)")
            seen_inside.append(await _ids(db))  # the reader connection, mid-transaction

        await db.write(insert_then_look)
        assert seen_inside == [[]]
        assert await _ids(db) == ["EvX"]


async def test_a_failing_write_is_undone_alone(database_url: str) -> None:
    async with open_engine(database_url) as db:
        await db.write(_insert(7))

        async def insert_then_fail(tx: Tx) -> None:
            await tx.execute("INSERT INTO seen_events (event_id, seen_at) VALUES ('Ev100', 100.0)")
            await tx.execute("INSERT INTO seen_events (event_id, seen_at) VALUES ('Ev7', 7.0)")  # duplicate key

        results = await asyncio.gather(
            db.write(_insert(1)),
            db.write(insert_then_fail),
            db.write(_insert(2)),
            return_exceptions=True,
        )
        assert results[0] == 1
        assert isinstance(results[1], sqlite3.IntegrityError | asyncpg.UniqueViolationError)
        assert results[2] == 1
        assert await _ids(db) == ["Ev1", "Ev2", "Ev7"]  # Ev100 was undone


async def test_closing_waits_for_queued_writes(database_url: str) -> None:
    async with open_engine(database_url) as db:
        tasks = [asyncio.create_task(db.write(_insert(n))) for n in range(20)]
        await asyncio.sleep(0)  # queued, not yet committed
    assert all(t.done() and t.result() == 1 for t in tasks)
    async with open_engine(database_url) as db:
        assert len(await _ids(db)) == 20


async def test_a_cancelled_caller_does_not_stop_the_others(database_url: str) -> None:
    async with open_engine(database_url) as db:
        first = asyncio.create_task(db.write(_insert(1)))
        second = asyncio.create_task(db.write(_insert(2)))
        await asyncio.sleep(0)
        first.cancel()
        assert await second == 1
        with pytest.raises(asyncio.CancelledError):
            await first
        assert "Ev2" in await _ids(db)  # the cancelled write may or may not have committed; the other did


async def test_sqlite_a_batch_run_again_without_a_failing_write_commits_the_others_once(tmp_path: Path) -> None:
    async with SqliteDatabase.open(tmp_path / "db") as db:
        await db.write(_insert(7))

        async def next_id(tx: Tx) -> int:
            rows = await tx.fetch(
                "INSERT INTO outbox (team_id, user_id, kind, reply, created_at) VALUES ('T', 'U', 'completed', '', 1)"
                " RETURNING id"
            )
            return int(rows[0][0])

        async def broken(tx: Tx) -> None:
            await tx.execute("INSERT INTO seen_events (event_id, seen_at) VALUES ('Ev8', 8.0)")
            raise RuntimeError("a bug in one write")

        async def misspelt(tx: Tx) -> None:
            await tx.execute("INSERT INTO seen_events (event_id, seen_at) VALUES ('Ev9', 9.0)")
            await tx.execute("INSERT INTO seen_event (event_id, seen_at) VALUES ('Ev10', 10.0)")  # no such table

        results = await asyncio.gather(
            db.write(next_id),
            db.write(_insert(7)),  # a duplicate key
            db.write(broken),
            db.write(misspelt),
            db.write(next_id),
            return_exceptions=True,
        )
        assert results[0] == 1
        assert isinstance(results[1], sqlite3.IntegrityError)
        assert isinstance(results[2], RuntimeError)
        assert isinstance(results[3], sqlite3.OperationalError)
        assert results[4] == 2  # ids as if the failing writes had never been queued
        assert db.commits == 2  # the first write, then the batch of five: one commit
        rows = await db.read(lambda tx: tx.fetch("SELECT id FROM outbox ORDER BY id"))
        assert [r[0] for r in rows] == [1, 2]
        assert await _ids(db) == ["Ev7"]  # what the failing writes did before failing was undone
