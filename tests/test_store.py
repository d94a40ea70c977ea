from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import stat
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from bot.models import PendingFlow, SlackUser
from bot.store import MIGRATIONS, Store
from bot.store.schema import postgres_statements, sqlite_statements
from tests.databases import fresh_postgres_database, postgres_server

ALICE = SlackUser("T0000000001", "U0000000001")
BOB = SlackUser("T0000000001", "U0000000002")

OWNER, FOREVER = "replica-1", 1e12  # a lease that outlives the test


def flow(user: SlackUser, auth_id: str = "ac_1", reply: str = "{}") -> PendingFlow:
    return PendingFlow(user, auth_id, f"https://auth.example/{auth_id}", reply, 100.0, 700.0)


async def test_file_is_private_wal_and_versioned(tmp_path: Path) -> None:
    path = tmp_path / "data" / "bot.db"
    async with Store.open(path):
        pass
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


async def test_pending_flows_survive_reopening(database_url: str) -> None:
    async with Store.open(database_url) as store:
        await store.put_pending(flow(ALICE), owner=OWNER, lease_seconds=FOREVER)
        await store.put_pending(flow(BOB, "ac_2"), owner=OWNER, lease_seconds=FOREVER)
        await store.update_reply(ALICE, '{"channel_id":"C1"}')
    async with Store.open(database_url) as store:
        pending = await store.all_pending()
        assert [p.user for p in pending] == [ALICE, BOB]
        alice = await store.get_pending(ALICE)
        assert alice is not None
        assert alice.reply == '{"channel_id":"C1"}'
        assert alice.deadline == 700.0


async def test_one_pending_flow_per_user(database_url: str) -> None:
    async with Store.open(database_url) as store:
        await store.put_pending(flow(ALICE, "ac_1"), owner=OWNER, lease_seconds=FOREVER)
        await store.put_pending(flow(ALICE, "ac_2"), owner=OWNER, lease_seconds=FOREVER)
        assert [p.auth_id for p in await store.all_pending()] == ["ac_2"]


async def test_finish_moves_a_flow_to_the_outbox_once(database_url: str) -> None:
    async with Store.open(database_url, clock=lambda: 500.0) as store:
        await store.put_pending(flow(ALICE, reply="where"), owner=OWNER, lease_seconds=FOREVER)
        assert (
            await store.finish(ALICE, "ac_other", "completed", owner=OWNER, lease_seconds=FOREVER) is None
        )  # not the pending flow
        item = await store.finish(ALICE, "ac_1", "completed", owner=OWNER, lease_seconds=FOREVER)
        assert item is not None
        assert (item.user, item.kind, item.reply, item.created_at) == (ALICE, "completed", "where", 500.0)
        assert (
            await store.finish(ALICE, "ac_1", "completed", owner=OWNER, lease_seconds=FOREVER) is None
        )  # a second waiter gets nothing
        assert await store.get_pending(ALICE) is None
        assert item.attempts == 0  # its holder has not sent it yet...
        # ...but the row counts the send it starts next: whoever takes it over after a crash checks first.
        assert [(i.id, i.attempts) for i in await store.unsent()] == [(item.id, 1)]
        await store.mark_attempt(item.id)
        assert [i.attempts for i in await store.unsent()] == [2]
        assert await store.mark_sent(item) is False  # and Alice never opened the App Home
        assert await store.unsent() == []
        assert [e.event for e in await store.recent_audit(ALICE)] == ["delivery_sent", "completed"]
        await store.home_opened(ALICE)
        assert await store.mark_sent(item) is True


async def test_events_are_remembered_for_an_hour(database_url: str) -> None:
    now = [1000.0]
    async with Store.open(database_url, clock=lambda: now[0]) as store:
        assert await store.first_sighting("Ev1")
        assert not await store.first_sighting("Ev1")
        now[0] += 3601
        assert await store.first_sighting("Ev1")


async def test_a_newer_schema_step_is_applied_to_an_old_file(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 0")
    async with Store.open(path) as store:
        await store.put_pending(flow(ALICE), owner=OWNER, lease_seconds=FOREVER)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)


async def test_audit_trail_is_per_user_newest_first_and_pruned(database_url: str) -> None:
    now = [1_765_000_000.0]  # today's epoch seconds: a single-precision column would round them
    async with Store.open(database_url, clock=lambda: now[0]) as store:
        await store.audit(ALICE, "prompted")
        now[0] += 60
        await store.audit(ALICE, "completed")
        await store.audit(BOB, "expired")
        now[0] += 60
        await store.audit(ALICE, "labels_sent")
        assert [e.event for e in await store.recent_audit(ALICE)] == ["labels_sent", "completed", "prompted"]
        assert [e.event for e in await store.recent_audit(BOB)] == ["expired"]
        assert [e.event for e in await store.recent_audit(ALICE, limit=1)] == ["labels_sent"]
        last = await store.last_audit(ALICE, ("completed", "failed"))
        assert last is not None
        assert (last.event, last.at) == ("completed", 1_765_000_060.0)
        assert await store.last_audit(BOB, ("completed",)) is None

        now[0] += 2 * 86_400
        await store.audit(BOB, "requested")
        assert await store.prune_audit(keep_days=1) == 4
        assert await store.recent_audit(ALICE) == []
        assert [e.event for e in await store.recent_audit(BOB)] == ["requested"]


async def test_a_token_is_spent_once_and_forgotten_after_it_expires(database_url: str) -> None:
    now = [1000.0]
    async with Store.open(database_url, clock=lambda: now[0]) as store:
        assert await store.spend_token("jti-1", expires_at=1600.0)
        assert not await store.spend_token("jti-1", expires_at=1600.0)
        assert await store.spend_token("jti-2", expires_at=1100.0)
    async with Store.open(database_url, clock=lambda: now[0]) as store:  # a restart remembers
        assert not await store.spend_token("jti-1", expires_at=1600.0)
        now[0] = 1200.0  # jti-2 expired: its row is swept, so the table stays bounded
        assert await store.spend_token("jti-3", expires_at=1800.0)
        assert await store.spend_token("jti-2", expires_at=1800.0)


async def test_two_processes_on_one_database_share_events_and_spent_tokens(database_url: str) -> None:
    """What must hold across replicas is in the database, not in one process's memory."""
    async with Store.open(database_url) as first, Store.open(database_url) as second:
        assert await first.first_sighting("Ev1")
        assert not await second.first_sighting("Ev1")  # Slack's retry reached the other process
        assert await second.spend_token("jti-1", expires_at=time.time() + 600)
        assert not await first.spend_token("jti-1", expires_at=time.time() + 600)  # a replay, elsewhere
        await first.put_pending(flow(ALICE), owner=OWNER, lease_seconds=FOREVER)
        assert await second.finish(ALICE, "ac_1", "completed", owner=OWNER, lease_seconds=FOREVER) is not None
        assert (
            await first.finish(ALICE, "ac_1", "completed", owner=OWNER, lease_seconds=FOREVER) is None
        )  # exactly one answer owed


async def test_stores_opened_together_migrate_once(database_url: str) -> None:
    """Several processes starting at the same moment on a new database: one applies each step."""
    async with contextlib.AsyncExitStack() as stack:
        stores = await asyncio.gather(*(stack.enter_async_context(Store.open(database_url)) for _ in range(4)))
        await stores[0].put_pending(flow(ALICE), owner=OWNER, lease_seconds=FOREVER)
        assert [p.user for p in await stores[3].all_pending()] == [ALICE]


async def test_timestamps_keep_their_fraction(database_url: str) -> None:
    async with Store.open(database_url, clock=lambda: 1_765_000_000.123456) as store:
        await store.put_pending(
            PendingFlow(ALICE, "ac_1", "https://a.example/1", "{}", 1_765_000_000.25, 1_765_000_600.5),
            owner=OWNER,
            lease_seconds=FOREVER,
        )
        pending = await store.get_pending(ALICE)
        assert pending is not None
        assert (pending.created_at, pending.deadline) == (1_765_000_000.25, 1_765_000_600.5)
        item = await store.finish(ALICE, "ac_1", "completed", owner=OWNER, lease_seconds=FOREVER)
        assert item is not None
        assert [i.created_at for i in await store.unsent()] == [1_765_000_000.123456]


async def test_a_postgres_database_is_versioned_like_a_sqlite_file() -> None:
    async with fresh_postgres_database() as url:
        async with Store.open(url):
            pass
        async with Store.open(url) as store:  # a second start applies nothing
            await store.put_pending(flow(ALICE), owner=OWNER, lease_seconds=FOREVER)
        connection = await asyncpg.connect(url)
        try:
            assert await connection.fetchval("SELECT version FROM schema_version") == len(MIGRATIONS)
            assert await connection.fetchval("SELECT count(*) FROM schema_version") == 1
        finally:
            await connection.close()


def test_without_a_postgres_server_ci_fails_where_a_laptop_skips(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_DATABASE_URL", raising=False)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="no PostgreSQL server"):
        postgres_server()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        postgres_server()


async def test_leases_are_held_renewed_claimed_when_run_out_and_released(database_url: str) -> None:
    now = [1000.0]
    async with Store.open(database_url, clock=lambda: now[0]) as store:
        assert await store.put_pending(flow(ALICE, "ac_1"), owner="r1", lease_seconds=30)
        # The same authorization again (a second /connect-gmail, on any replica) is not written twice.
        assert not await store.put_pending(flow(ALICE, "ac_1"), owner="r2", lease_seconds=30)
        assert await store.leases.claim("r2", 30, limit=10) == ([], [])  # r1's lease (until 1030) still runs
        held = await store.leases.renew("r1", 60)  # until 1060
        assert held.flows == {"ac_1"}
        assert held.outbox == set()

        now[0] = 1061.0  # r1 stopped renewing: its lease ran out, r2 takes the flow over
        flows, owed = await store.leases.claim("r2", 30, limit=10)
        assert [f.auth_id for f in flows] == ["ac_1"]
        assert owed == []
        assert (await store.leases.renew("r1", 39)).flows == set()  # r1 no longer holds it
        assert (await store.leases.renew("r2", 39)).flows == {"ac_1"}

        item = await store.finish(ALICE, "ac_1", "completed", owner="r2", lease_seconds=39)
        assert item is not None
        assert (await store.leases.renew("r2", 39)).outbox == {item.id}
        assert await store.leases.release("r2") == 1  # a clean stop hands the answer back at once
        _, owed = await store.leases.claim("r3", 69, limit=10)
        assert [i.id for i in owed] == [item.id]

        await store.leases.postpone(item.id, seconds=139)  # Slack refused it (at 1061): nobody takes it before 1200
        assert await store.leases.claim("r1", 30, limit=10) == ([], [])
        now[0] = 1201.0
        _, owed = await store.leases.claim("r1", 30, limit=10)
        assert [i.id for i in owed] == [item.id]
        await store.mark_sent(owed[0])
        assert (await store.leases.renew("r1", 30)).outbox == set()


async def test_a_lease_counts_from_when_its_write_runs(database_url: str) -> None:
    """A write that waited behind others (a deep queue under a burst) still gets its whole lease:
    an answer owed is never born with its lease already run out, for another replica to take."""
    now = [1000.0]
    async with Store.open(database_url, clock=lambda: now[0]) as store:
        await store.put_pending(flow(ALICE, "ac_1"), owner="r1", lease_seconds=30)
        finishing = store.finish(ALICE, "ac_1", "completed", owner="r1", lease_seconds=30)
        now[0] = 1040.0  # the write runs 40 s after its caller asked (the clock is read when it runs)
        assert await finishing is not None
        assert await store.leases.claim("r2", 30, limit=10) == ([], [])  # r1's answer is still held


async def test_a_new_authorization_replaces_the_old_one_and_its_holder(database_url: str) -> None:
    async with Store.open(database_url, clock=lambda: 1000.0) as store:
        assert await store.put_pending(flow(ALICE, "ac_1"), owner="r1", lease_seconds=30)
        assert await store.put_pending(flow(ALICE, "ac_2"), owner="r2", lease_seconds=30)
        assert (await store.leases.renew("r1", 60)).flows == set()  # r1's waiter for ac_1 stops
        assert (await store.leases.renew("r2", 60)).flows == {"ac_2"}


async def test_who_opened_the_home_tab_is_known_to_every_replica(database_url: str) -> None:
    async with Store.open(database_url) as first, Store.open(database_url) as second:
        assert not await second.opened_home(ALICE)
        await first.home_opened(ALICE)
        await first.home_opened(ALICE)  # opened again: still one viewer
        assert await second.opened_home(ALICE)
        assert not await second.opened_home(BOB)


OLD_ROWS = (
    "INSERT INTO pending (team_id, user_id, auth_id, url, reply, created_at, deadline, owner, lease_until)"
    " VALUES ('T1', 'U1', 'ac_old', 'https://a.example/old', '{}', 1.0, 2.0, NULL, 0)",
    "INSERT INTO outbox (team_id, user_id, kind, reply, created_at) VALUES ('T1', 'U1', 'completed', '{}', 1.0)",
    "INSERT INTO audit (team_id, user_id, event, detail, at) VALUES ('T1', 'U1', 'completed', '', 1.0)",
)


async def _at_version_6(engine: str, tmp_path: Path) -> contextlib.AbstractAsyncContextManager[str]:
    """A database left by the version before providers (6), holding a pending flow, an owed answer
    and an audit line (all Gmail's then)."""

    @contextlib.asynccontextmanager
    async def made() -> AsyncIterator[str]:
        if engine == "sqlite":
            path = tmp_path / "old.db"
            with sqlite3.connect(path) as db:
                for step in MIGRATIONS[:6]:
                    for statement in sqlite_statements(step):
                        db.execute(statement)
                for statement in OLD_ROWS:
                    db.execute(statement)
                db.execute("PRAGMA user_version = 6")
            yield f"sqlite:///{path}"
            return
        async with fresh_postgres_database() as url:
            connection = await asyncpg.connect(url)
            try:
                await connection.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
                await connection.execute("INSERT INTO schema_version (version) VALUES (6)")
                for step in MIGRATIONS[:6]:
                    for statement in postgres_statements(step):
                        await connection.execute(statement)
                for statement in OLD_ROWS:
                    await connection.execute(statement)
            finally:
                await connection.close()
            yield url

    return made()


@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
async def test_rows_from_before_providers_become_gmails(engine: str, tmp_path: Path) -> None:
    user = SlackUser("T1", "U1")
    async with await _at_version_6(engine, tmp_path) as url, Store.open(url) as store:
        old = await store.get_pending(user, "gmail")
        assert old is not None
        assert (old.auth_id, old.provider) == ("ac_old", "gmail")
        [owed] = await store.unsent()
        assert owed.provider == "gmail"
        [line] = await store.recent_audit(user)
        assert (line.event, line.provider) == ("completed", "gmail")
        # One pending flow per user and provider: Calendar's sits beside Gmail's.
        calendar = PendingFlow(user, "ac_cal", "https://a.example/cal", "{}", 3.0, 4.0, "calendar")
        assert await store.put_pending(calendar, owner=OWNER, lease_seconds=FOREVER)
        assert (await store.get_pending(user, "gmail")) == old
        item = await store.finish(user, "ac_cal", "expired", owner=OWNER, lease_seconds=FOREVER)
        assert item is not None
        assert item.provider == "calendar"
        assert await store.get_pending(user, "gmail") == old
