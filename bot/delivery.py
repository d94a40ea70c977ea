"""What the user is told, and where: the Slack face of authorization flows and labels.

Listeners call ``labels_or_prompt``; flows that end come back through ``finished`` (the outbox
item is already durable), which replaces the prompt in place and sends the labels privately.
An outbox item is marked sent only after Slack accepted the message; ``flush`` finishes the
unsent ones at start-up.
"""

from __future__ import annotations

import logging
import math

from slack_sdk.errors import SlackApiError

from bot import blocks
from bot.authflow import Prompt
from bot.errors import BotError
from bot.mailbox import Labels, Mailbox
from bot.models import Authorized, Message, SlackUser
from bot.slack import Messenger, Reply, slack_error
from bot.store import OutboxItem, Store

log = logging.getLogger(__name__)


class Delivery:
    def __init__(self, mailbox: Mailbox, messenger: Messenger, store: Store, *, timeout_seconds: int) -> None:
        self._mailbox = mailbox
        self._messenger = messenger
        self._store = store
        self._timeout = timeout_seconds

    async def labels_or_prompt(self, user: SlackUser, reply: Reply) -> None:
        """Answer a request for labels: the labels now, or the link to authorize first."""
        result = await self._mailbox.labels(user, reply.dumps())
        await self._present(user, reply, result)

    async def problem(self, user: SlackUser, reply: Reply, text: str) -> None:
        await self._messenger.send(user, reply, blocks.problem(text))

    async def finished(self, item: OutboxItem, authorized: Authorized | None) -> None:
        """Tell the user how their flow ended; mark the outbox item sent once Slack accepted it."""
        reply = Reply.loads(item.reply)
        try:
            if item.kind == "completed":
                result = await self._mailbox.labels(item.user, item.reply, authorized)
                if isinstance(result, Labels):
                    await self._messenger.replace(reply, blocks.connected(result.email))
                await self._present(item.user, reply, result)
            elif item.kind == "failed":
                await self._replace_or_send(item.user, reply, blocks.failed())
            else:
                await self._replace_or_send(item.user, reply, blocks.expired(math.ceil(self._timeout / 60)))
        except BotError as exc:
            log.warning("delivery.problem user=%s kind=%s error=%s", item.user.arcade_id, item.kind, exc)
            try:
                await self._messenger.send(item.user, reply, blocks.problem(exc.user_message))
            except SlackApiError as slack_exc:
                log.error("delivery.unsent id=%d error=%s", item.id, slack_error(slack_exc))
                return
        except SlackApiError as exc:
            # Every route failed: keep the item unsent; the next start-up tries again.
            log.error("delivery.unsent id=%d error=%s", item.id, slack_error(exc))
            return
        await self._store.mark_sent(item.id)
        log.info("delivery.sent id=%d user=%s kind=%s", item.id, item.user.arcade_id, item.kind)

    async def flush(self) -> int:
        """Deliver what a previous run owed but had not sent (called once at start-up)."""
        items = await self._store.unsent()
        for item in items:
            await self.finished(item, None)
        return len(items)

    async def _present(self, user: SlackUser, reply: Reply, result: Labels | Prompt) -> None:
        if isinstance(result, Prompt):
            message = blocks.prompt(result.flow.url, int(result.flow.deadline), again=result.again)
        else:
            message = blocks.labels(result.labels, email=result.email)
        route = await self._messenger.send(user, reply, message)
        log.info(
            "delivery.%s user=%s route=%s",
            "prompt" if isinstance(result, Prompt) else "labels",
            user.arcade_id,
            route,
        )

    async def _replace_or_send(self, user: SlackUser, reply: Reply, message: Message) -> None:
        if not await self._messenger.replace(reply, message):
            await self._messenger.send(user, reply, message)
