"""Group commit in bot.store.database: batching, isolation of a failing write, shutdown."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.store.database import Database


def _table(connection: sqlite3.Connection) -> None:
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("CREATE TABLE IF NOT EXISTS item (n INTEGER PRIMARY KEY)")


def _insert(n: int) -> Callable[[sqlite3.Connection], int]:
    return lambda db: db.execute("INSERT INTO item (n) VALUES (?)", (n,)).rowcount


def _count(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT count(*) FROM item").fetchone()[0])


async def test_writes_queued_together_share_a_commit_and_are_all_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "db"
    async with Database.open(path, _table) as db:
        results = await asyncio.gather(*(db.write(_insert(n)) for n in range(500)))
        assert results == [1] * 500
        assert 1 <= db.commits < 50  # 500 writes, a handful of transactions
        assert _count(path) == 500  # visible to another connection: committed, not just queued


async def test_a_failing_write_is_undone_alone(tmp_path: Path) -> None:
    path = tmp_path / "db"
    async with Database.open(path, _table) as db:
        await db.write(_insert(7))

        def insert_then_fail(connection: sqlite3.Connection) -> None:
            connection.execute("INSERT INTO item (n) VALUES (100)")
            connection.execute("INSERT INTO item (n) VALUES (7)")  # duplicate key

        results = await asyncio.gather(
            db.write(_insert(1)), db.write(insert_then_fail), db.write(_insert(2)), return_exceptions=True
        )
        assert results[0] == 1
        assert isinstance(results[1], sqlite3.IntegrityError)
        assert results[2] == 1
        with sqlite3.connect(path) as other:
            assert sorted(r[0] for r in other.execute("SELECT n FROM item")) == [1, 2, 7]  # 100 was undone


async def test_closing_waits_for_queued_writes(tmp_path: Path) -> None:
    path = tmp_path / "db"
    async with Database.open(path, _table) as db:
        tasks = [asyncio.create_task(db.write(_insert(n))) for n in range(20)]
        await asyncio.sleep(0)  # queued, not yet committed
    assert _count(path) == 20
    assert all(t.done() and t.result() == 1 for t in tasks)


async def test_a_cancelled_caller_does_not_stop_the_others(tmp_path: Path) -> None:
    path = tmp_path / "db"
    async with Database.open(path, _table) as db:
        first = asyncio.create_task(db.write(_insert(1)))
        second = asyncio.create_task(db.write(_insert(2)))
        await asyncio.sleep(0)
        first.cancel()
        assert await second == 1
        with pytest.raises(asyncio.CancelledError):
            await first
    with sqlite3.connect(path) as other:  # the cancelled write may or may not have reached the disk; the other did
        assert 2 in {r[0] for r in other.execute("SELECT n FROM item")}
