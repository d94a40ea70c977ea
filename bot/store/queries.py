"""What the bot keeps, as queries written once for both engines (``sqlite``, ``postgres``).

Tables:

* ``pending``: one row per user and provider with an authorization in progress (the waiter's durable state),
  held by one replica (``owner``) until ``lease_until``; a row whose lease ran out is anyone's.
* ``outbox``: what must still be told to a user once a flow ended. A flow's row leaves
  ``pending`` and its outbox row appears in one transaction, so a crash can neither lose the
  answer nor produce it twice from the flow side. Its row is held like a pending one; an answer
  Slack refused is let go with ``lease_until`` set to when it may be tried again.
* ``seen_events``: Slack event ids already handled, so Slack's retries are not answered twice.
* ``used_tokens``: ids of single-use tokens already spent (the verifier's signed states), until
  they expire, so neither a restart nor a second process accepts a replay.
* ``installations`` and ``install_states``: see ``bot.store.installs``.
* ``home_viewers``: who opened the bot's App Home, whose Home every replica keeps fresh.
* ``audit``: per-user authorization events (requested, prompted, completed, failed, expired,
  disconnected, delivery_sent) with times, kept for a configurable number of days.

``Store`` holds the pending flows and the outbox itself; its other query groups are its base
classes: ``bot.store.audit`` (``audit``, ``home_viewers``) and ``bot.store.once`` (``seen_events``,
``used_tokens``).

No user's token (Google's, or a Slack user token) is ever written here: the outbox records *that*
labels are owed, not the labels. Bot tokens of installed workspaces are, in ``installations``: the
bot needs them to act at all.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

import asyncpg

from bot.errors import StoreUnavailable
from bot.models import OutboxItem, Outcome, PendingFlow, SlackUser
from bot.store.audit import AuditTrail, home_rows, insert_audit
from bot.store.connect import open_engine
from bot.store.engine import Engine, Tx
from bot.store.installs import Installs
from bot.store.leases import Leases
from bot.store.once import Once
from bot.store.postgres import LOST_CONNECTION
from bot.store.rows import OUTBOX_COLUMNS, PENDING_COLUMNS, outbox, pending

PING_SECONDS = 2.0  # /healthz answers "down" rather than wait out a reconnection
DATABASE_ERRORS = (sqlite3.Error, asyncpg.PostgresError, *LOST_CONNECTION)
# The database is down or busy (not a bug in a query): the caller is told StoreUnavailable.
UNREACHABLE = (sqlite3.OperationalError, *LOST_CONNECTION)
T = TypeVar("T")


class Store(AuditTrail, Once):
    def __init__(self, db: Engine, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    @classmethod
    @asynccontextmanager
    async def open(cls, url: str | Path, clock: Callable[[], float] = time.time) -> AsyncIterator[Store]:
        """Open ``DATABASE_URL`` (``sqlite:///path`` or ``postgresql://…``); a ``Path`` is a SQLite file."""
        async with open_engine(url) as engine:
            yield cls(engine, clock)

    async def _read(self, query: Callable[[Tx], Awaitable[T]]) -> T:
        try:
            return await self._db.read(query)
        except UNREACHABLE as exc:
            raise StoreUnavailable(f"database unreachable: {type(exc).__name__}") from exc

    async def _write(self, statement: Callable[[Tx], Awaitable[T]]) -> T:
        try:
            return await self._db.write(statement)
        except UNREACHABLE as exc:
            raise StoreUnavailable(f"database unreachable: {type(exc).__name__}") from exc

    @property
    def leases(self) -> Leases:
        """Which replica holds which pending flow and owed answer (``bot.store.leases``)."""
        return Leases(self._read, self._write, self._clock)

    def installs(self, client_id: str) -> Installs:
        """The app's installations in workspaces (``bot.store.installs``)."""
        return Installs(self._read, self._write, self._clock, client_id)

    async def ping(self) -> bool:
        """True when the database answers a query."""
        try:
            answer = await asyncio.wait_for(self._db.read(lambda tx: tx.fetch("SELECT 1")), PING_SECONDS)
            return answer == [(1,)]
        except DATABASE_ERRORS:
            return False

    async def get_pending(self, user: SlackUser, provider: str = "gmail") -> PendingFlow | None:
        async def query(tx: Tx) -> PendingFlow | None:
            rows = await tx.fetch(
                f"SELECT {PENDING_COLUMNS} FROM pending WHERE team_id = ? AND user_id = ? AND provider = ?",  # noqa: S608 - a constant
                user.team_id,
                user.user_id,
                provider,
            )
            return pending(rows[0]) if rows else None

        return await self._read(query)

    async def all_pending(self) -> list[PendingFlow]:
        async def query(tx: Tx) -> list[PendingFlow]:
            order = "created_at, team_id, user_id, provider"
            rows = await tx.fetch(f"SELECT {PENDING_COLUMNS} FROM pending ORDER BY {order}")  # noqa: S608
            return [pending(row) for row in rows]

        return await self._read(query)

    async def put_pending(self, flow: PendingFlow, *, owner: str, lease_seconds: float) -> bool:
        """Record the user's pending flow for its provider, held by ``owner`` for ``lease_seconds`` from when the write
        runs (a write may wait behind others); True if this call wrote it.

        False when the same authorization is pending already (another request, on this replica or
        another, got there first): its waiter stays where it is. A different authorization replaces
        the user's old one for that provider, whose waiter then finds it gone.
        """
        values = (flow.user.team_id, flow.user.user_id, flow.auth_id, flow.url, flow.reply, flow.created_at)

        async def statement(tx: Tx) -> bool:
            written = await tx.fetch(
                f"INSERT INTO pending ({PENDING_COLUMNS}, owner, lease_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"  # noqa: S608 - a constant
                " ON CONFLICT (team_id, user_id, provider) DO UPDATE SET auth_id = excluded.auth_id,"
                " url = excluded.url, reply = excluded.reply, created_at = excluded.created_at,"
                " deadline = excluded.deadline, owner = excluded.owner, lease_until = excluded.lease_until"
                " WHERE pending.auth_id <> excluded.auth_id RETURNING 1",
                *values,
                flow.deadline,
                flow.provider,
                owner,
                self._clock() + lease_seconds,
            )
            return bool(written)

        return await self._write(statement)

    async def update_reply(self, user: SlackUser, reply: str, provider: str = "gmail") -> None:
        await self._write(
            lambda tx: tx.execute(
                "UPDATE pending SET reply = ? WHERE team_id = ? AND user_id = ? AND provider = ?",
                reply,
                user.team_id,
                user.user_id,
                provider,
            )
        )

    async def finish(
        self, user: SlackUser, auth_id: str, kind: Outcome, *, owner: str, lease_seconds: float
    ) -> OutboxItem | None:
        """End the pending flow ``auth_id`` and owe the user a ``kind`` message, atomically; the
        answer is held by ``owner``, who delivers it.

        Returns None when that flow is no longer pending (another waiter or a newer flow won).
        The row counts the send its holder starts next (``attempts`` = 1), so that whoever takes it
        over after a crash checks Slack first; the item returned says no send has been made yet.
        """
        now = self._clock()

        async def statement(tx: Tx) -> OutboxItem | None:
            row = await tx.fetch(
                "DELETE FROM pending WHERE team_id = ? AND user_id = ? AND auth_id = ? RETURNING reply, provider",
                user.team_id,
                user.user_id,
                auth_id,
            )
            if not row:
                return None
            reply, provider = str(row[0][0]), str(row[0][1])
            inserted = await tx.fetch(
                "INSERT INTO outbox (team_id, user_id, kind, reply, created_at, owner, lease_until, provider, attempts)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1) RETURNING id",
                user.team_id,
                user.user_id,
                kind,
                reply,
                now,
                owner,
                self._clock() + lease_seconds,  # from when the write runs: never born expired behind a queue
                provider,
            )
            await insert_audit(tx, user, kind, "", now, provider)
            return OutboxItem(int(inserted[0][0]), user, kind, reply, now, provider=provider)

        return await self._write(statement)

    async def unsent(self) -> list[OutboxItem]:
        async def query(tx: Tx) -> list[OutboxItem]:
            rows = await tx.fetch(f"SELECT {OUTBOX_COLUMNS} FROM outbox WHERE sent_at IS NULL ORDER BY id")  # noqa: S608
            return [outbox(row) for row in rows]

        return await self._read(query)

    async def mark_attempt(self, item_id: int) -> None:
        """Record that a send of this item is about to start (before the request leaves)."""
        await self._write(lambda tx: tx.execute("UPDATE outbox SET attempts = attempts + 1 WHERE id = ?", item_id))

    async def mark_sent(self, item: OutboxItem) -> bool:
        """Slack accepted the answer. Returns whether the user ever opened the App Home (read in
        the same round trip, since a delivered answer changes what the Home shows)."""
        now = self._clock()

        async def statement(tx: Tx) -> bool:
            await tx.execute("UPDATE outbox SET sent_at = ?, owner = NULL WHERE id = ?", now, item.id)
            await insert_audit(tx, item.user, "delivery_sent", item.kind, now, item.provider)
            return bool(await home_rows(tx, item.user))

        return await self._write(statement)
