"""The store under concurrency, contention and a lost PostgreSQL connection (WAL, 0600 and
user_version: tests/test_store.py)."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
import threading
import time
from pathlib import Path

import pytest

from bot.models import PendingFlow, SlackUser
from bot.store import Store
from tests.databases import fresh_postgres_database, pg_ctl

pytestmark = pytest.mark.serial  # restarts the shared PostgreSQL server: scripts/test runs it alone

USERS = [SlackUser("T0000000001", f"U0CONC{n:05d}") for n in range(50)]

OWNER, FOREVER = "replica-1", 1e12  # a lease that outlives the test


def _flow(user: SlackUser) -> PendingFlow:
    return PendingFlow(user, f"ac_{user.user_id}", f"https://auth.example/{user.user_id}", "{}", 100.0, 700.0)


async def test_flows_finishing_at_the_same_moment_all_reach_the_outbox(database_url: str) -> None:
    """Many waiters finish at once after a restart: every one reaches the outbox, on either engine."""
    async with Store.open(database_url) as store:
        for user in USERS:
            await store.put_pending(_flow(user), owner=OWNER, lease_seconds=FOREVER)
        results = await asyncio.gather(
            *(store.finish(u, f"ac_{u.user_id}", "completed", owner=OWNER, lease_seconds=FOREVER) for u in USERS),
            return_exceptions=True,
        )
        failures = [r for r in results if isinstance(r, BaseException)]
        assert failures == [], f"{len(failures)} of {len(USERS)} finish() calls failed, first: {failures[0]!r}"
        assert all(r is not None for r in results)
        assert await store.all_pending() == []
        assert sorted(i.user.user_id for i in await store.unsent()) == sorted(u.user_id for u in USERS)


async def test_a_write_waits_for_another_writer_instead_of_failing(tmp_path: Path) -> None:
    """busy_timeout: a second process holding the write lock for a moment is waited out."""
    path = tmp_path / "bot.db"
    async with Store.open(path) as store:
        locked = threading.Event()

        def hold_write_lock() -> None:
            other = sqlite3.connect(path, isolation_level=None)
            other.execute("BEGIN IMMEDIATE")
            locked.set()
            time.sleep(0.5)
            other.execute("COMMIT")
            other.close()

        holder = threading.Thread(target=hold_write_lock)
        holder.start()
        await asyncio.to_thread(locked.wait)
        await store.put_pending(
            _flow(USERS[0]), owner=OWNER, lease_seconds=FOREVER
        )  # raises "database is locked" without a busy timeout
        await asyncio.to_thread(holder.join)
        assert [f.user for f in await store.all_pending()] == [USERS[0]]


async def test_database_and_wal_files_are_owner_only_even_with_a_lax_umask(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    path.touch(mode=0o666)
    path.chmod(0o666)  # an existing file someone made world-readable
    async with Store.open(path) as store:
        await store.put_pending(_flow(USERS[0]), owner=OWNER, lease_seconds=FOREVER)
        files = [p for p in (path, tmp_path / "bot.db-wal", tmp_path / "bot.db-shm") if p.exists()]
        assert len(files) == 3  # WAL mode, while open
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in files}
    assert set(modes.values()) == {0o600}, modes


async def test_a_postgres_restart_is_survived_by_reconnecting() -> None:
    """The server goes away while the store is open: calls made meanwhile wait and reconnect."""
    async with fresh_postgres_database() as database_url, Store.open(database_url) as store:
        await store.put_pending(_flow(USERS[0]), owner=OWNER, lease_seconds=FOREVER)
        await asyncio.to_thread(pg_ctl, "-m", "fast", "stop")
        try:
            assert not await store.ping()  # down: said, not raised
            later = asyncio.create_task(store.put_pending(_flow(USERS[1]), owner=OWNER, lease_seconds=FOREVER))
            await asyncio.sleep(1.0)  # the write is retrying with backoff, not failed
            assert not later.done()
        finally:
            await asyncio.to_thread(pg_ctl, "start")
        await later
        assert await store.ping()
        assert [f.user for f in await store.all_pending()] == USERS[:2]
        assert (
            await store.finish(USERS[0], f"ac_{USERS[0].user_id}", "completed", owner=OWNER, lease_seconds=FOREVER)
            is not None
        )
