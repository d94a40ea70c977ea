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
from bot.models import Authorized, Label, SlackUser

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Labels:
    labels: list[Label]
    email: str | None


class Mailbox:
    def __init__(self, arcade: Arcade, gmail: Gmail, flows: AuthFlows) -> None:
        self._arcade = arcade
        self._gmail = gmail
        self._flows = flows

    async def labels(self, user: SlackUser, reply: str, authorized: Authorized | None = None) -> Labels | Prompt:
        """The user's labels, or the prompt they must follow first.

        ``authorized`` is a token Arcade just handed us (e.g. with a completed status); without
        one, Arcade is asked.
        """
        started = authorized or await self._flows.start(user, reply)
        if isinstance(started, Prompt):
            return started
        try:
            return Labels(await self._gmail.list_labels(started.token), started.email)
        except GmailAuthError:
            log.warning("gmail.token_refused user=%s: removing the grant and asking again", user.arcade_id)
        await self._arcade.disconnect(user)
        again = await self._flows.start(user, reply)
        if isinstance(again, Authorized):  # Arcade still hands out a refused grant
            raise GmailAuthError("Arcade answered completed right after the grant was removed")
        return again
