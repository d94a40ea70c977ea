"""Acting for a user: get a fresh token from Arcade, read Gmail with it. Knows nothing about Slack.

The token lives for one call. When Gmail refuses it (revoked, expired beyond refresh, scope
missing), Arcade may keep answering ``completed`` with the dead grant, so asking again would
loop forever: the grant is removed at Arcade first, and a new consent flow is started.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.arcade import Arcade
from bot.authflow import AuthFlows, Prompt
from bot.errors import GmailAuthError
from bot.gmail import Gmail
from bot.models import AccountState, Authorized, Label, SlackUser
from bot.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Labels:
    labels: list[Label]
    email: str | None


class Mailbox:
    def __init__(self, arcade: Arcade, gmail: Gmail, flows: AuthFlows, store: Store) -> None:
        self._arcade = arcade
        self._gmail = gmail
        self._flows = flows
        self._store = store

    async def state(self, user: SlackUser, *, history: int = 5) -> AccountState:
        connections = await self._arcade.connections(user)
        pending = await self._store.get_pending(user)
        since = await self._store.last_audit(user, ("completed",))
        used = await self._store.last_audit(user, ("delivery_sent", "labels_sent"))
        return AccountState(
            email=next((c.email for c in connections if c.email), None),
            scopes=tuple(sorted({s for c in connections for s in c.scopes})) if connections else None,
            since=since.at if since and connections else None,
            last_used=used.at if used else None,
            pending_until=pending.deadline if pending else None,
            history=await self._store.recent_audit(user, history),
        )

    async def disconnect(self, user: SlackUser) -> int:
        removed = await self._arcade.disconnect(user)
        await self._store.audit(user, "disconnected", str(removed))
        return removed

    async def labels(self, user: SlackUser, reply: str, authorized: Authorized | None = None) -> Labels | Prompt:
        """The user's labels, or the prompt they must follow first.

        ``authorized`` is a token Arcade just handed us (e.g. with a completed status); without
        one, Arcade is asked.
        """
        started = authorized or await self._flows.start(user, reply)
        if isinstance(started, Prompt):
            return started
        try:
            labels = await self._gmail.list_labels(started.token)
        except GmailAuthError:
            log.warning("gmail.token_refused user=%s: removing the grant and asking again", user.arcade_id)
        else:
            return Labels(labels, started.email)
        await self._arcade.disconnect(user)
        await self._store.audit(user, "disconnected", "gmail refused the token")
        again = await self._flows.start(user, reply)
        if isinstance(again, Authorized):  # Arcade still hands out a refused grant
            raise GmailAuthError("Arcade answered completed right after the grant was removed")
        return again
