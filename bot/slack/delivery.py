"""What the user is told, and where: the Slack face of authorization flows, labels and accounts.

Listeners call the request methods (``labels_or_prompt``, ``status``, ``disconnect``, …). Flows
that end come back through ``finished`` with their outbox item already durable: the prompt is
replaced in place (idempotent, best effort) and the answer goes to the user's DM, stamped with
the outbox id so that a retry after a crash can see whether Slack already has it. The item is
marked sent only after Slack accepted it. An answer Slack refused is let go until a backoff has
passed, and then taken up again by whichever replica claims it first (``bot.authflow``'s leases).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable

from slack_sdk.errors import SlackApiError

from bot.authflow import Prompt
from bot.errors import BotError
from bot.mailbox import Labels, Mailbox
from bot.models import Authorized, Message, OutboxItem, PendingFlow, SlackUser
from bot.retry import backoff_delay
from bot.slack import home, messages
from bot.slack.errors import slack_error
from bot.slack.reply import Reply
from bot.slack.sender import Messenger
from bot.store import Store

log = logging.getLogger(__name__)

RETRY_BASE = 5.0  # an owed answer Slack refused is tried again after ~5 s, 10 s, 20 s … ≤ 10 min
RETRY_CAP = 600.0


class Delivery:
    def __init__(
        self,
        mailbox: Mailbox,
        messenger: Messenger,
        store: Store,
        *,
        timeout_seconds: int,
        link: Callable[[PendingFlow], str] | None = None,
    ) -> None:
        self._mailbox = mailbox
        # What the Authorize button opens: Arcade's URL, or (custom verifier) the bot's own start link.
        self._link = link or _arcade_url
        self._messenger = messenger
        self._store = store
        self._timeout = timeout_seconds
        # One refresh at a time per user, so a view computed earlier is never published after a newer one.
        self._home_turns: dict[SlackUser, asyncio.Lock] = {}

    async def labels_or_prompt(self, user: SlackUser, reply: Reply, *, replace: bool = False) -> None:
        """Answer a request for labels: the labels now, or the link to authorize first.

        ``replace``: show the answer in place of the message whose button was clicked.
        """
        await self._store.audit(user, "requested")
        result = await self._mailbox.labels(user, reply.dumps())
        message = self._message(result)
        if not (replace and await self._messenger.replace(reply, message)):
            route = await self._messenger.send(user, reply, message)
            log.info("delivery.%s user=%s route=%s", _what(result), user.arcade_id, route)
        if isinstance(result, Labels):
            await self._store.audit(user, "labels_sent")
        await self.refresh_home(user)

    async def link_opened(self, user: SlackUser, reply: Reply) -> None:
        """The user clicked the Authorize button: the prompt says we are waiting for them."""
        flow = await self._store.get_pending(user)
        if flow is not None:
            await self._messenger.replace(reply, messages.prompt(self._link(flow), int(flow.deadline), waiting=True))

    async def status(self, user: SlackUser, reply: Reply) -> None:
        state = await self._mailbox.state(user)
        await self._messenger.send(
            user, reply, home.status_message(state.email, state.scopes, state.since, state.pending_until)
        )

    async def disconnect(self, user: SlackUser, reply: Reply) -> None:
        removed = await self._mailbox.disconnect(user)
        message = home.disconnected(removed)
        if not await self._messenger.replace(reply, message):
            await self._messenger.send(user, reply, message)
        await self.refresh_home(user)

    async def keep(self, user: SlackUser, reply: Reply) -> None:
        """The user cancelled a disconnect: the question becomes a short confirmation."""
        await self._messenger.replace(reply, home.kept())

    async def problem(self, user: SlackUser, reply: Reply, text: str) -> None:
        await self._messenger.send(user, reply, messages.problem(text))

    async def home_opened(self, user: SlackUser) -> None:
        await self._store.home_opened(user)
        await self._publish_home(user)

    async def refresh_home(self, user: SlackUser) -> None:
        """Publish the user's App Home again, if they ever opened it (on any replica)."""
        try:
            opened = await self._store.opened_home(user)
        except BotError as exc:
            log.warning("home.refresh_failed user=%s error=%s", user.arcade_id, exc)
            return
        if opened:
            await self._refresh_opened_home(user)

    async def _refresh_opened_home(self, user: SlackUser) -> None:
        try:
            await self._publish_home(user)
        except (BotError, SlackApiError) as exc:  # the Home tab is a view, never worth failing an answer
            log.warning("home.refresh_failed user=%s error=%s", user.arcade_id, exc)

    async def finished(self, item: OutboxItem, authorized: Authorized | None) -> None:
        """Tell the user how their flow ended; mark the outbox item sent once Slack accepted it."""
        reply = Reply.loads(item.reply)
        try:
            message, prompt = await self._outcome(item, reply, authorized)
            if message is not None:
                # The DM and the prompt's new face go out together: the labels wait for no one.
                await asyncio.gather(
                    self._send_owed(item, message), *([self._messenger.replace(reply, prompt)] if prompt else [])
                )
        except SlackApiError as exc:
            # Slack refused every route: the item stays unsent and is tried again later (and at
            # the next start-up if this process ends first).
            delay = backoff_delay(item.attempts, base=RETRY_BASE, cap=RETRY_CAP)
            log.error(
                "delivery.unsent id=%d user=%s error=%s retry_in=%.0fs",
                item.id,
                item.user.arcade_id,
                slack_error(exc),
                delay,
            )
            await self._store.leases.postpone(item.id, delay)
            return
        home = await self._store.mark_sent(item)
        log.info("delivery.sent id=%d user=%s kind=%s", item.id, item.user.arcade_id, item.kind)
        if home:
            await self._refresh_opened_home(item.user)

    async def _send_owed(self, item: OutboxItem, message: Message) -> None:
        if item.attempts:  # taken up again: count this send too (a fresh item's row already counts it)
            await self._store.mark_attempt(item.id)
        await self._messenger.direct(item.user, message, key=item.id, check=item.attempts > 0)

    async def _outcome(
        self, item: OutboxItem, reply: Reply, authorized: Authorized | None
    ) -> tuple[Message | None, Message | None]:
        """What must go to the user's DM, if anything, and what the prompt should now say."""
        if item.kind == "completed":
            try:
                result = await self._mailbox.labels(item.user, item.reply, authorized)
            except BotError as exc:
                log.warning("delivery.problem id=%d user=%s error=%s", item.id, item.user.arcade_id, exc)
                return messages.problem(exc.user_message), None
            connected = messages.connected(result.email, labels_in_dm=True) if isinstance(result, Labels) else None
            return self._message(result), connected
        outcome = messages.failed() if item.kind == "failed" else messages.expired(math.ceil(self._timeout / 60))
        return (None if await self._messenger.replace(reply, outcome) else outcome), None

    async def _publish_home(self, user: SlackUser) -> None:
        async with self._home_turns.setdefault(user, asyncio.Lock()):
            state = await self._mailbox.state(user)
            view = home.home_view(
                state.email, state.scopes, state.since, state.last_used, state.pending_until, state.history
            )
            await self._messenger.publish_home(user, view)

    def _message(self, result: Labels | Prompt) -> Message:
        if isinstance(result, Prompt):
            return messages.prompt(self._link(result.flow), int(result.flow.deadline), again=result.again)
        return messages.labels(result.labels, email=result.email)


def _arcade_url(flow: PendingFlow) -> str:
    return flow.url


def _what(result: Labels | Prompt) -> str:
    return "prompt" if isinstance(result, Prompt) else "labels"
