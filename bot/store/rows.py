"""Rows of ``pending`` and ``outbox`` as our types, and their column lists (both engines)."""

from __future__ import annotations

from typing import cast

from bot.models import OutboxItem, Outcome, PendingFlow, SlackUser
from bot.store.engine import Row

PENDING_COLUMNS = "team_id, user_id, auth_id, url, reply, created_at, deadline, provider"
OUTBOX_COLUMNS = "id, team_id, user_id, kind, reply, created_at, attempts, provider"


def outbox(row: Row) -> OutboxItem:
    item_id, team_id, user_id, kind, reply, created_at, attempts, provider = row
    return OutboxItem(
        int(item_id),
        SlackUser(str(team_id), str(user_id)),
        cast(Outcome, kind),
        str(reply),
        float(created_at),
        int(attempts),
        str(provider),
    )


def pending(row: Row) -> PendingFlow:
    team_id, user_id, auth_id, url, reply, created_at, deadline, provider = row
    return PendingFlow(
        user=SlackUser(str(team_id), str(user_id)),
        auth_id=str(auth_id),
        url=str(url),
        reply=str(reply),
        created_at=float(created_at),
        deadline=float(deadline),
        provider=str(provider),
    )
