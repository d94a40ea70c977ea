"""Leases: which replica waits on which pending flow and delivers which owed answer (both engines).

A row of ``pending`` or ``outbox`` is held by ``owner`` until ``lease_until``; a row whose lease ran
out (0: let go) is anyone's. The holder renews its leases; a clean stop releases them; an answer
Slack refused is let go with ``lease_until`` set to when it may be tried again.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.models import Held, OutboxItem, PendingFlow
from bot.store.engine import Row, Tx
from bot.store.installs import Runner
from bot.store.rows import OUTBOX_COLUMNS, PENDING_COLUMNS, outbox, pending


class Leases:
    def __init__(self, read: Runner, write: Runner, clock: Callable[[], float]) -> None:
        self._read = read
        self._write = write
        self._clock = clock

    async def postpone(self, item_id: int, seconds: float) -> None:
        """Let go of an owed answer that could not be sent; any replica may try it again ``seconds``
        after the write runs (the store's clock, like every lease)."""
        await self._write(
            lambda tx: tx.execute(
                "UPDATE outbox SET owner = NULL, lease_until = ? WHERE id = ?", self._clock() + seconds, item_id
            )
        )

    async def renew(self, owner: str, lease_seconds: float) -> Held:
        """Extend every lease ``owner`` holds to ``lease_seconds`` from when the write runs; what it
        still holds (a row another took is not among them)."""

        async def statement(tx: Tx) -> Held:
            lease_until = self._clock() + lease_seconds
            flows = await tx.fetch(
                "UPDATE pending SET lease_until = ? WHERE owner = ? RETURNING auth_id", lease_until, owner
            )
            owed = await tx.fetch(
                "UPDATE outbox SET lease_until = ? WHERE owner = ? AND sent_at IS NULL RETURNING id", lease_until, owner
            )
            return Held(frozenset(str(r[0]) for r in flows), frozenset(int(r[0]) for r in owed))

        return await self._write(statement)

    async def claim(
        self, owner: str, lease_seconds: float, *, limit: int
    ) -> tuple[list[PendingFlow], list[OutboxItem]]:
        """Take up to ``limit`` flows and owed answers whose leases ran out (a replica died, let go,
        or an answer's retry time came). The outer ``lease_until < ?`` is checked again on a row
        another replica claimed meanwhile (PostgreSQL), so a row is never claimed twice."""

        async def statement(tx: Tx) -> tuple[list[PendingFlow], list[OutboxItem]]:
            now = self._clock()
            lease_until = now + lease_seconds
            flows = await tx.fetch(
                "UPDATE pending SET owner = ?, lease_until = ? WHERE lease_until < ?"  # noqa: S608 - constants only
                " AND (team_id, user_id, provider) IN (SELECT team_id, user_id, provider FROM pending"
                " WHERE lease_until < ? ORDER BY lease_until LIMIT ?)"
                f" RETURNING {PENDING_COLUMNS}",
                *(owner, lease_until, now, now, limit),
            )
            owed = await tx.fetch(
                "UPDATE outbox SET owner = ?, lease_until = ? WHERE lease_until < ? AND sent_at IS NULL AND id IN"  # noqa: S608 - constants only
                " (SELECT id FROM outbox WHERE sent_at IS NULL AND lease_until < ? ORDER BY id LIMIT ?)"
                f" RETURNING {OUTBOX_COLUMNS}",
                *(owner, lease_until, now, now, limit),
            )
            return [pending(row) for row in flows], [outbox(row) for row in owed]

        return await self._write(statement)

    async def held(
        self, owner: str, auth_ids: set[str], outbox_ids: set[int]
    ) -> tuple[list[PendingFlow], list[OutboxItem]]:
        """The rows behind leases ``owner`` holds but runs nothing for (a waiter that crashed)."""

        async def query(tx: Tx) -> tuple[list[PendingFlow], list[OutboxItem]]:
            flows = await _owned(tx, f"SELECT {PENDING_COLUMNS} FROM pending WHERE", "auth_id", owner, auth_ids)  # noqa: S608
            unsent = f"SELECT {OUTBOX_COLUMNS} FROM outbox WHERE sent_at IS NULL AND"  # noqa: S608 - a constant
            owed = await _owned(tx, unsent, "id", owner, outbox_ids)
            return [pending(row) for row in flows], [outbox(row) for row in owed]

        return await self._read(query)

    async def release(self, owner: str) -> int:
        """Hand back every lease ``owner`` holds, so other replicas take them at once (a clean stop)."""

        async def statement(tx: Tx) -> int:
            flows = await tx.execute("UPDATE pending SET owner = NULL, lease_until = 0 WHERE owner = ?", owner)
            owed = await tx.execute(
                "UPDATE outbox SET owner = NULL, lease_until = 0 WHERE owner = ? AND sent_at IS NULL", owner
            )
            return flows + owed

        return await self._write(statement)


async def _owned(tx: Tx, select: str, key: str, owner: str, keys: set[str] | set[int]) -> list[Row]:
    """``select`` (ending in ``WHERE`` or ``AND``) restricted to ``owner``'s rows whose ``key`` is among ``keys``."""
    if not keys:
        return []
    marks = ",".join("?" * len(keys))
    return await tx.fetch(f"{select} owner = ? AND {key} IN ({marks})", owner, *keys)
