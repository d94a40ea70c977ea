"""Ids that count once: Slack's event ids (its retries are not answered twice) and single-use
tokens (the verifier's signed states), in tables ``seen_events`` and ``used_tokens``."""

from __future__ import annotations

from bot.store.access import Access
from bot.store.engine import Tx

EVENT_MEMORY_SECONDS = 3600.0  # Slack retries an event for minutes, not hours


class Once(Access):
    async def first_sighting(self, event_id: str) -> bool:
        """True the first time an event id is seen; False for Slack's retries of it."""
        now = self._clock()

        async def statement(tx: Tx) -> bool:
            await tx.execute("DELETE FROM seen_events WHERE seen_at < ?", now - EVENT_MEMORY_SECONDS)
            inserted = await tx.execute(
                "INSERT INTO seen_events (event_id, seen_at) VALUES (?, ?) ON CONFLICT DO NOTHING", event_id, now
            )
            return inserted == 1

        return await self._write(statement)

    async def spend_token(self, token_id: str, expires_at: float) -> bool:
        """True the first time a single-use token id is spent; False if it was spent before."""
        now = self._clock()

        async def statement(tx: Tx) -> bool:
            await tx.execute("DELETE FROM used_tokens WHERE expires_at < ?", now)
            inserted = await tx.execute(
                "INSERT INTO used_tokens (token_id, expires_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
                token_id,
                expires_at,
            )
            return inserted == 1

        return await self._write(statement)
