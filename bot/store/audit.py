"""The per-user audit trail, and who opened the bot's App Home (tables ``audit``, ``home_viewers``)."""

from __future__ import annotations

from typing import cast

from bot.models import AuditEvent, AuditName, SlackUser
from bot.store.access import Access
from bot.store.engine import Row, Tx


class AuditTrail(Access):
    async def home_opened(self, user: SlackUser) -> None:
        """The user opened the bot's App Home: from now on any replica refreshes it for them."""
        now = self._clock()
        await self._write(
            lambda tx: tx.execute(
                "INSERT INTO home_viewers (team_id, user_id, opened_at) VALUES (?, ?, ?)"
                " ON CONFLICT (team_id, user_id) DO UPDATE SET opened_at = excluded.opened_at",
                user.team_id,
                user.user_id,
                now,
            )
        )

    async def opened_home(self, user: SlackUser) -> bool:
        async def query(tx: Tx) -> bool:
            return bool(await home_rows(tx, user))

        return await self._read(query)

    async def audit(self, user: SlackUser, event: AuditName, detail: str = "", *, provider: str = "gmail") -> None:
        """Append to the user's audit trail. Never pass tokens or message contents here."""
        now = self._clock()
        await self._write(lambda tx: insert_audit(tx, user, event, detail, now, provider))

    async def recent_audit(self, user: SlackUser, limit: int = 5) -> list[AuditEvent]:
        async def query(tx: Tx) -> list[AuditEvent]:
            rows = await tx.fetch(
                "SELECT event, detail, at, provider FROM audit WHERE team_id = ? AND user_id = ?"
                " ORDER BY at DESC, id DESC LIMIT ?",
                user.team_id,
                user.user_id,
                limit,
            )
            return [audit_event(r) for r in rows]

        return await self._read(query)

    async def last_audit(
        self, user: SlackUser, events: tuple[AuditName, ...], *, provider: str = "gmail"
    ) -> AuditEvent | None:
        marks = ",".join("?" * len(events))

        async def query(tx: Tx) -> AuditEvent | None:
            rows = await tx.fetch(
                f"SELECT event, detail, at, provider FROM audit WHERE team_id = ? AND user_id = ? AND provider = ?"  # noqa: S608 - only placeholders are interpolated
                f" AND event IN ({marks}) ORDER BY at DESC, id DESC LIMIT 1",
                user.team_id,
                user.user_id,
                provider,
                *events,
            )
            return audit_event(rows[0]) if rows else None

        return await self._read(query)

    async def prune_audit(self, keep_days: int) -> int:
        cutoff = self._clock() - keep_days * 86_400
        return await self._write(lambda tx: tx.execute("DELETE FROM audit WHERE at < ?", cutoff))


async def insert_audit(
    tx: Tx, user: SlackUser, event: AuditName, detail: str, at: float, provider: str = "gmail"
) -> None:
    await tx.execute(
        "INSERT INTO audit (team_id, user_id, event, detail, at, provider) VALUES (?, ?, ?, ?, ?, ?)",
        user.team_id,
        user.user_id,
        event,
        detail,
        at,
        provider,
    )


async def home_rows(tx: Tx, user: SlackUser) -> list[Row]:
    return await tx.fetch("SELECT 1 FROM home_viewers WHERE team_id = ? AND user_id = ?", user.team_id, user.user_id)


def audit_event(row: Row) -> AuditEvent:
    return AuditEvent(cast(AuditName, row[0]), str(row[1]), float(row[2]), str(row[3]))
