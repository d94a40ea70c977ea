"""What the bot keeps, as queries over ``Database`` (one thread, group commit).

Tables:

* ``pending``: one row per user with an authorization in progress (the waiter's durable state).
* ``outbox``: what must still be told to a user once a flow ended. A flow's row leaves
  ``pending`` and its outbox row appears in one transaction, so a crash can neither lose the
  answer nor produce it twice from the flow side; start-up finishes what was left unsent.
* ``seen_events``: Slack event ids already handled, so Slack's retries are not answered twice.
* ``used_tokens``: ids of single-use tokens already spent (the verifier's signed states), until
  they expire, so neither a restart nor a second process accepts a replay.
* ``audit``: per-user authorization events (requested, prompted, completed, failed, expired,
  disconnected, delivery_sent) with times, kept for a configurable number of days.

No token is ever written here: the outbox records *that* labels are owed, not the labels.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import cast

from bot.models import AuditEvent, AuditName, Held, OutboxItem, Outcome, PendingFlow, SlackUser
from bot.store.database import Database
from bot.store.schema import prepare

EVENT_MEMORY_SECONDS = 3600.0  # Slack retries an event for minutes, not hours
_PENDING_COLUMNS = "team_id, user_id, auth_id, url, reply, created_at, deadline"
_OUTBOX_COLUMNS = "id, team_id, user_id, kind, reply, created_at, attempts"


class Store:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock

    @classmethod
    @asynccontextmanager
    async def open(cls, path: Path, clock: Callable[[], float] = time.time) -> AsyncIterator[Store]:
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
            # Owner-only from the first byte: the file holds who is connecting and where to answer.
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
            os.chmod(path, 0o600)
        async with Database.open(path, prepare) as db:
            yield cls(db, clock)

    async def ping(self) -> bool:
        """True when the database answers a query."""
        try:
            return await self._db.read(lambda db: db.execute("SELECT 1").fetchone() == (1,))
        except sqlite3.Error:
            return False

    async def get_pending(self, user: SlackUser) -> PendingFlow | None:
        def query(db: sqlite3.Connection) -> PendingFlow | None:
            row = db.execute(
                f"SELECT {_PENDING_COLUMNS} FROM pending WHERE team_id = ? AND user_id = ?",  # noqa: S608 - a constant
                (user.team_id, user.user_id),
            ).fetchone()
            return _pending(row) if row else None

        return await self._db.read(query)

    async def all_pending(self) -> list[PendingFlow]:
        def query(db: sqlite3.Connection) -> list[PendingFlow]:
            rows = db.execute(f"SELECT {_PENDING_COLUMNS} FROM pending ORDER BY created_at").fetchall()  # noqa: S608
            return [_pending(row) for row in rows]

        return await self._db.read(query)

    async def put_pending(self, flow: PendingFlow, *, owner: str, lease_until: float) -> bool:
        """Record the user's pending flow, held by ``owner``; True if this call wrote it.

        False when the same authorization is pending already (another request, on this replica or
        another, got there first): its waiter stays where it is. A different authorization replaces
        the user's old one, whose waiter then finds it gone.
        """
        values = (flow.user.team_id, flow.user.user_id, flow.auth_id, flow.url, flow.reply, flow.created_at)

        def statement(db: sqlite3.Connection) -> bool:
            written = db.execute(
                f"INSERT INTO pending ({_PENDING_COLUMNS}, owner, lease_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"  # noqa: S608 - a constant
                " ON CONFLICT (team_id, user_id) DO UPDATE SET auth_id = excluded.auth_id, url = excluded.url,"
                " reply = excluded.reply, created_at = excluded.created_at, deadline = excluded.deadline,"
                " owner = excluded.owner, lease_until = excluded.lease_until"
                " WHERE pending.auth_id <> excluded.auth_id RETURNING 1",
                (*values, flow.deadline, owner, lease_until),
            ).fetchall()
            return bool(written)

        return await self._db.write(statement)

    async def update_reply(self, user: SlackUser, reply: str) -> None:
        await self._db.write(
            lambda db: db.execute(
                "UPDATE pending SET reply = ? WHERE team_id = ? AND user_id = ?", (reply, user.team_id, user.user_id)
            )
        )

    async def finish(
        self, user: SlackUser, auth_id: str, kind: Outcome, *, owner: str, lease_until: float
    ) -> OutboxItem | None:
        """End the pending flow ``auth_id`` and owe the user a ``kind`` message, atomically; the
        answer is held by ``owner``, who delivers it.

        Returns None when that flow is no longer pending (another waiter or a newer flow won).
        """
        now = self._clock()

        def statement(db: sqlite3.Connection) -> OutboxItem | None:
            row = db.execute(
                "DELETE FROM pending WHERE team_id = ? AND user_id = ? AND auth_id = ? RETURNING reply",
                (user.team_id, user.user_id, auth_id),
            ).fetchall()
            if not row:
                return None
            reply = str(row[0][0])
            inserted = db.execute(
                "INSERT INTO outbox (team_id, user_id, kind, reply, created_at, owner, lease_until)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (user.team_id, user.user_id, kind, reply, now, owner, lease_until),
            ).fetchall()
            _insert_audit(db, user, kind, "", now)
            return OutboxItem(int(inserted[0][0]), user, kind, reply, now)

        return await self._db.write(statement)

    async def unsent(self) -> list[OutboxItem]:
        def query(db: sqlite3.Connection) -> list[OutboxItem]:
            rows = db.execute(
                "SELECT id, team_id, user_id, kind, reply, created_at, attempts FROM outbox"
                " WHERE sent_at IS NULL ORDER BY id"
            ).fetchall()
            return [
                OutboxItem(int(r[0]), SlackUser(r[1], r[2]), cast(Outcome, r[3]), r[4], float(r[5]), int(r[6]))
                for r in rows
            ]

        return await self._db.read(query)

    async def mark_attempt(self, item_id: int) -> None:
        """Record that a send of this item is about to start (before the request leaves)."""
        await self._db.write(
            lambda db: db.execute("UPDATE outbox SET attempts = attempts + 1 WHERE id = ?", (item_id,))
        )

    async def mark_sent(self, item: OutboxItem) -> None:
        now = self._clock()

        def statement(db: sqlite3.Connection) -> None:
            db.execute("UPDATE outbox SET sent_at = ?, owner = NULL WHERE id = ?", (now, item.id))
            _insert_audit(db, item.user, "delivery_sent", item.kind, now)

        await self._db.write(statement)

    async def postpone(self, item_id: int, until: float) -> None:
        """Let go of an owed answer that could not be sent; any replica may try it again after ``until``."""
        await self._db.write(
            lambda db: db.execute("UPDATE outbox SET owner = NULL, lease_until = ? WHERE id = ?", (until, item_id))
        )

    # -- leases: which replica waits on which flow and delivers which answer ----------------------

    async def renew(self, owner: str, lease_until: float) -> Held:
        """Extend every lease ``owner`` holds; what it still holds (a row another took is not among them)."""

        def statement(db: sqlite3.Connection) -> Held:
            flows = db.execute(
                "UPDATE pending SET lease_until = ? WHERE owner = ? RETURNING auth_id", (lease_until, owner)
            ).fetchall()
            owed = db.execute(
                "UPDATE outbox SET lease_until = ? WHERE owner = ? AND sent_at IS NULL RETURNING id",
                (lease_until, owner),
            ).fetchall()
            return Held(frozenset(str(r[0]) for r in flows), frozenset(int(r[0]) for r in owed))

        return await self._db.write(statement)

    async def claim(self, owner: str, lease_until: float, *, limit: int) -> tuple[list[PendingFlow], list[OutboxItem]]:
        """Take up to ``limit`` flows and owed answers whose leases ran out (a replica died, let go,
        or an answer's retry time came)."""
        now = self._clock()

        def statement(db: sqlite3.Connection) -> tuple[list[PendingFlow], list[OutboxItem]]:
            flows = db.execute(
                f"UPDATE pending SET owner = ?, lease_until = ? WHERE rowid IN"  # noqa: S608 - constants only
                f" (SELECT rowid FROM pending WHERE lease_until < ? ORDER BY lease_until LIMIT ?)"
                f" RETURNING {_PENDING_COLUMNS}",
                (owner, lease_until, now, limit),
            ).fetchall()
            owed = db.execute(
                f"UPDATE outbox SET owner = ?, lease_until = ? WHERE id IN"  # noqa: S608 - constants only
                f" (SELECT id FROM outbox WHERE sent_at IS NULL AND lease_until < ? ORDER BY id LIMIT ?)"
                f" RETURNING {_OUTBOX_COLUMNS}",
                (owner, lease_until, now, limit),
            ).fetchall()
            return [_pending(row) for row in flows], [_outbox(row) for row in owed]

        return await self._db.write(statement)

    async def held(
        self, owner: str, auth_ids: set[str], outbox_ids: set[int]
    ) -> tuple[list[PendingFlow], list[OutboxItem]]:
        """The rows behind leases ``owner`` holds but has nothing running for (a waiter that crashed)."""

        def query(db: sqlite3.Connection) -> tuple[list[PendingFlow], list[OutboxItem]]:
            flows = [
                _pending(row)
                for auth_id in auth_ids
                for row in db.execute(
                    f"SELECT {_PENDING_COLUMNS} FROM pending WHERE auth_id = ? AND owner = ?",  # noqa: S608
                    (auth_id, owner),
                )
            ]
            owed = [
                _outbox(row)
                for item_id in outbox_ids
                for row in db.execute(
                    f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE id = ? AND owner = ? AND sent_at IS NULL",  # noqa: S608
                    (item_id, owner),
                )
            ]
            return flows, owed

        return await self._db.read(query)

    async def release(self, owner: str) -> int:
        """Hand back every lease ``owner`` holds, so other replicas take them at once (a clean stop)."""

        def statement(db: sqlite3.Connection) -> int:
            flows = db.execute("UPDATE pending SET owner = NULL, lease_until = 0 WHERE owner = ?", (owner,)).rowcount
            owed = db.execute(
                "UPDATE outbox SET owner = NULL, lease_until = 0 WHERE owner = ? AND sent_at IS NULL", (owner,)
            ).rowcount
            return int(flows + owed)

        return await self._db.write(statement)

    async def audit(self, user: SlackUser, event: AuditName, detail: str = "") -> None:
        """Append to the user's audit trail. Never pass tokens or message contents here."""
        now = self._clock()
        await self._db.write(lambda db: _insert_audit(db, user, event, detail, now))

    async def recent_audit(self, user: SlackUser, limit: int = 5) -> list[AuditEvent]:
        def query(db: sqlite3.Connection) -> list[AuditEvent]:
            rows = db.execute(
                "SELECT event, detail, at FROM audit WHERE team_id = ? AND user_id = ?"
                " ORDER BY at DESC, id DESC LIMIT ?",
                (user.team_id, user.user_id, limit),
            ).fetchall()
            return [AuditEvent(cast(AuditName, r[0]), str(r[1]), float(r[2])) for r in rows]

        return await self._db.read(query)

    async def last_audit(self, user: SlackUser, events: tuple[AuditName, ...]) -> AuditEvent | None:
        marks = ",".join("?" * len(events))

        def query(db: sqlite3.Connection) -> AuditEvent | None:
            row = db.execute(
                f"SELECT event, detail, at FROM audit WHERE team_id = ? AND user_id = ? AND event IN ({marks})"  # noqa: S608 - only placeholders are interpolated
                " ORDER BY at DESC, id DESC LIMIT 1",
                (user.team_id, user.user_id, *events),
            ).fetchone()
            return AuditEvent(cast(AuditName, row[0]), str(row[1]), float(row[2])) if row else None

        return await self._db.read(query)

    async def prune_audit(self, keep_days: int) -> int:
        cutoff = self._clock() - keep_days * 86_400
        return await self._db.write(lambda db: db.execute("DELETE FROM audit WHERE at < ?", (cutoff,)).rowcount)

    async def first_sighting(self, event_id: str) -> bool:
        """True the first time an event id is seen; False for Slack's retries of it."""
        now = self._clock()

        def statement(db: sqlite3.Connection) -> bool:
            db.execute("DELETE FROM seen_events WHERE seen_at < ?", (now - EVENT_MEMORY_SECONDS,))
            inserted = db.execute(
                "INSERT OR IGNORE INTO seen_events (event_id, seen_at) VALUES (?, ?)", (event_id, now)
            )
            return inserted.rowcount == 1

        return await self._db.write(statement)

    async def spend_token(self, token_id: str, expires_at: float) -> bool:
        """True the first time a single-use token id is spent; False if it was spent before."""
        now = self._clock()

        def statement(db: sqlite3.Connection) -> bool:
            db.execute("DELETE FROM used_tokens WHERE expires_at < ?", (now,))
            inserted = db.execute(
                "INSERT OR IGNORE INTO used_tokens (token_id, expires_at) VALUES (?, ?)", (token_id, expires_at)
            )
            return inserted.rowcount == 1

        return await self._db.write(statement)


def _insert_audit(db: sqlite3.Connection, user: SlackUser, event: AuditName, detail: str, at: float) -> None:
    db.execute(
        "INSERT INTO audit (team_id, user_id, event, detail, at) VALUES (?, ?, ?, ?, ?)",
        (user.team_id, user.user_id, event, detail, at),
    )


def _outbox(row: tuple[object, ...]) -> OutboxItem:
    item_id, team_id, user_id, kind, reply, created_at, attempts = row
    return OutboxItem(
        id=int(item_id),  # type: ignore[call-overload]  # INTEGER columns
        user=SlackUser(str(team_id), str(user_id)),
        kind=cast(Outcome, kind),
        reply=str(reply),
        created_at=float(created_at),  # type: ignore[arg-type]  # REAL columns
        attempts=int(attempts),  # type: ignore[call-overload]
    )


def _pending(row: tuple[object, ...]) -> PendingFlow:
    team_id, user_id, auth_id, url, reply, created_at, deadline = row
    return PendingFlow(
        user=SlackUser(str(team_id), str(user_id)),
        auth_id=str(auth_id),
        url=str(url),
        reply=str(reply),
        created_at=float(created_at),  # type: ignore[arg-type]  # REAL columns
        deadline=float(deadline),  # type: ignore[arg-type]
    )
