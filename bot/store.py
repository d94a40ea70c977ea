"""The only module with SQL. SQLite through aiosqlite, in WAL mode, schema versioned.

Tables:

* ``pending``: one row per user with an authorization in progress (the waiter's durable state).
* ``outbox``: what must still be told to a user once a flow ended. A flow's row leaves
  ``pending`` and its outbox row appears in one transaction, so a crash can neither lose the
  answer nor produce it twice from the flow side; start-up finishes what was left unsent.
* ``seen_events``: Slack event ids already handled, so Slack's retries are not answered twice.
* ``audit``: per-user authorization events (requested, prompted, completed, failed, expired,
  disconnected, delivery_sent) with times, kept for a configurable number of days.

No token is ever written here: the outbox records *that* labels are owed, not the labels.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiosqlite

from bot.models import SlackUser

MIGRATIONS: tuple[str, ...] = (
    # version 1
    """
    CREATE TABLE pending (
        team_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        auth_id TEXT NOT NULL,
        url TEXT NOT NULL,
        reply TEXT NOT NULL,
        created_at REAL NOT NULL,
        deadline REAL NOT NULL,
        PRIMARY KEY (team_id, user_id)
    );
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        team_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        reply TEXT NOT NULL,
        created_at REAL NOT NULL,
        sent_at REAL
    );
    CREATE INDEX outbox_unsent ON outbox (id) WHERE sent_at IS NULL;
    CREATE TABLE seen_events (
        event_id TEXT PRIMARY KEY,
        seen_at REAL NOT NULL
    );
    """,
    # version 2: delivery attempts (for de-duplication after a crash) and the audit trail
    """
    ALTER TABLE outbox ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        team_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        event TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '',
        at REAL NOT NULL
    );
    CREATE INDEX audit_user ON audit (team_id, user_id, at);
    """,
)
EVENT_MEMORY_SECONDS = 3600.0  # Slack retries an event for minutes, not hours


@dataclass(frozen=True, slots=True)
class PendingFlow:
    user: SlackUser
    auth_id: str
    url: str
    reply: str  # opaque to the store: the Slack layer's note of where to answer
    created_at: float
    deadline: float


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    user: SlackUser
    kind: str
    reply: str
    created_at: float
    attempts: int = 0  # > 0: an earlier send may have reached Slack before a crash


@dataclass(frozen=True, slots=True)
class AuditEvent:
    event: str
    detail: str
    at: float


class Store:
    def __init__(self, db: aiosqlite.Connection, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock
        # One connection in autocommit mode: a statement issued while another coroutine holds a
        # transaction open would silently join (and maybe roll back with) it. Every write takes
        # this lock, so transactions never interleave.
        self._writing = asyncio.Lock()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[None]:
        async with self._writing:
            await self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                await self._db.execute("ROLLBACK")
                raise
            await self._db.execute("COMMIT")

    async def _write(self, sql: str, params: tuple[object, ...]) -> int:
        """One write statement; returns the number of rows it changed."""
        async with self._writing:
            cursor = await self._db.execute(sql, params)
            return cursor.rowcount

    @classmethod
    @asynccontextmanager
    async def open(cls, path: Path, clock: Callable[[], float] = time.time) -> AsyncIterator[Store]:
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
            # Owner-only from the first byte: the file holds who is connecting and where to answer.
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
            os.chmod(path, 0o600)
        async with aiosqlite.connect(path, isolation_level=None) as db:
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA synchronous=NORMAL")
            await db.execute("PRAGMA busy_timeout=5000")
            await _migrate(db)
            yield cls(db, clock)

    async def get_pending(self, user: SlackUser) -> PendingFlow | None:
        async with self._db.execute(
            "SELECT team_id, user_id, auth_id, url, reply, created_at, deadline FROM pending"
            " WHERE team_id = ? AND user_id = ?",
            (user.team_id, user.user_id),
        ) as cursor:
            row = await cursor.fetchone()
        return _pending(row) if row else None

    async def all_pending(self) -> list[PendingFlow]:
        async with self._db.execute(
            "SELECT team_id, user_id, auth_id, url, reply, created_at, deadline FROM pending ORDER BY created_at"
        ) as cursor:
            return [_pending(row) for row in await cursor.fetchall()]

    async def put_pending(self, flow: PendingFlow) -> None:
        """Record (or replace) the user's pending flow."""
        await self._write(
            "INSERT OR REPLACE INTO pending (team_id, user_id, auth_id, url, reply, created_at, deadline)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                flow.user.team_id,
                flow.user.user_id,
                flow.auth_id,
                flow.url,
                flow.reply,
                flow.created_at,
                flow.deadline,
            ),
        )

    async def update_reply(self, user: SlackUser, reply: str) -> None:
        await self._write(
            "UPDATE pending SET reply = ? WHERE team_id = ? AND user_id = ?",
            (reply, user.team_id, user.user_id),
        )

    async def finish(self, user: SlackUser, auth_id: str, kind: str) -> OutboxItem | None:
        """End the pending flow ``auth_id`` and owe the user a ``kind`` message, atomically.

        Returns None when that flow is no longer pending (another waiter or a newer flow won).
        """
        now = self._clock()
        async with self._transaction():
            async with self._db.execute(
                "DELETE FROM pending WHERE team_id = ? AND user_id = ? AND auth_id = ? RETURNING reply",
                (user.team_id, user.user_id, auth_id),
            ) as cursor:
                row = await cursor.fetchone()
            if row is None:
                return None  # nothing changed: committing the empty transaction is harmless
            reply = str(row[0])
            async with self._db.execute(
                "INSERT INTO outbox (team_id, user_id, kind, reply, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
                (user.team_id, user.user_id, kind, reply, now),
            ) as cursor:
                inserted = await cursor.fetchone()
            await self._insert_audit(user, kind, "", now)
        assert inserted is not None  # noqa: S101 - RETURNING on a successful INSERT always yields a row
        return OutboxItem(int(inserted[0]), user, kind, reply, now)

    async def unsent(self) -> list[OutboxItem]:
        async with self._db.execute(
            "SELECT id, team_id, user_id, kind, reply, created_at, attempts FROM outbox"
            " WHERE sent_at IS NULL ORDER BY id"
        ) as cursor:
            rows = await cursor.fetchall()
        return [OutboxItem(int(r[0]), SlackUser(r[1], r[2]), r[3], r[4], float(r[5]), int(r[6])) for r in rows]

    async def mark_attempt(self, item_id: int) -> None:
        """Record that a send of this item is about to start (before the request leaves)."""
        await self._write("UPDATE outbox SET attempts = attempts + 1 WHERE id = ?", (item_id,))

    async def mark_sent(self, item: OutboxItem) -> None:
        now = self._clock()
        async with self._transaction():
            await self._db.execute("UPDATE outbox SET sent_at = ? WHERE id = ?", (now, item.id))
            await self._insert_audit(item.user, "delivery_sent", item.kind, now)

    async def audit(self, user: SlackUser, event: str, detail: str = "") -> None:
        """Append to the user's audit trail. Never pass tokens or message contents here."""
        async with self._writing:
            await self._insert_audit(user, event, detail, self._clock())

    async def recent_audit(self, user: SlackUser, limit: int = 5) -> list[AuditEvent]:
        async with self._db.execute(
            "SELECT event, detail, at FROM audit WHERE team_id = ? AND user_id = ? ORDER BY at DESC, id DESC LIMIT ?",
            (user.team_id, user.user_id, limit),
        ) as cursor:
            return [AuditEvent(str(r[0]), str(r[1]), float(r[2])) for r in await cursor.fetchall()]

    async def last_audit(self, user: SlackUser, events: tuple[str, ...]) -> AuditEvent | None:
        marks = ",".join("?" * len(events))
        async with self._db.execute(
            f"SELECT event, detail, at FROM audit WHERE team_id = ? AND user_id = ? AND event IN ({marks})"  # noqa: S608 - only placeholders are interpolated
            " ORDER BY at DESC, id DESC LIMIT 1",
            (user.team_id, user.user_id, *events),
        ) as cursor:
            row = await cursor.fetchone()
        return AuditEvent(str(row[0]), str(row[1]), float(row[2])) if row else None

    async def prune_audit(self, keep_days: int) -> int:
        return await self._write("DELETE FROM audit WHERE at < ?", (self._clock() - keep_days * 86_400,))

    async def _insert_audit(self, user: SlackUser, event: str, detail: str, at: float) -> None:
        """Callers hold ``_writing`` (directly or through ``_transaction``)."""
        await self._db.execute(
            "INSERT INTO audit (team_id, user_id, event, detail, at) VALUES (?, ?, ?, ?, ?)",
            (user.team_id, user.user_id, event, detail, at),
        )

    async def first_sighting(self, event_id: str) -> bool:
        """True the first time an event id is seen; False for Slack's retries of it."""
        now = self._clock()
        await self._write("DELETE FROM seen_events WHERE seen_at < ?", (now - EVENT_MEMORY_SECONDS,))
        inserted = await self._write(
            "INSERT OR IGNORE INTO seen_events (event_id, seen_at) VALUES (?, ?)", (event_id, now)
        )
        return inserted == 1


async def _migrate(db: aiosqlite.Connection) -> None:
    async with db.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    version = int(row[0]) if row else 0
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        await db.executescript(f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")


def _pending(row: aiosqlite.Row | tuple[object, ...]) -> PendingFlow:
    team_id, user_id, auth_id, url, reply, created_at, deadline = tuple(row)
    return PendingFlow(
        user=SlackUser(str(team_id), str(user_id)),
        auth_id=str(auth_id),
        url=str(url),
        reply=str(reply),
        created_at=float(created_at),
        deadline=float(deadline),
    )
