"""What the user is told, and where: the Slack face of authorization flows, providers' answers and accounts.

Listeners call the request methods (``answer``, ``status``, ``disconnect``, …), each for a provider. Flows
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
from bot.mailbox import Answer, Mailbox
from bot.models import Authorized, Message, OutboxItem, PendingFlow, SlackUser
from bot.providers import AnyProvider
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

    async def answer(self, user: SlackUser, provider: AnyProvider, reply: Reply, *, replace: bool = False) -> None:
        """Answer a request: the provider's first action now, or the link to authorize first.

        ``replace``: show the answer in place of the message whose button was clicked.
        """
        await self._store.audit(user, "requested", provider=provider.name)
        result = await self._mailbox.act(user, provider, reply.dumps())
        message = self._message(provider, result)
        if not (replace and await self._messenger.replace(reply, message)):
            route = await self._messenger.send(user, reply, message)
            log.info("delivery.%s user=%s provider=%s route=%s", _what(result), user.arcade_id, provider.name, route)
        if isinstance(result, Answer):
            await self._store.audit(user, "labels_sent", provider=provider.name)
        await self.refresh_home(user)

    async def link_opened(self, user: SlackUser, provider: AnyProvider, reply: Reply) -> None:
        """The user clicked the Authorize button: the prompt says we are waiting for them."""
        flow = await self._store.get_pending(user, provider.name)
        if flow is not None:
            waiting = messages.prompt(provider, self._link(flow), int(flow.deadline), waiting=True)
            await self._messenger.replace(reply, waiting)

    async def status(self, user: SlackUser, reply: Reply, provider: AnyProvider | None = None) -> None:
        """One provider's connection, or (``None``) every one's."""
        states = (
            [(provider, await self._mailbox.state(user, provider))] if provider else await self._mailbox.states(user)
        )
        await self._messenger.send(user, reply, home.status_message(states))

    async def disconnect(self, user: SlackUser, provider: AnyProvider, reply: Reply) -> None:
        done = await self._mailbox.disconnect(user, provider)
        message = home.disconnected(provider, done.removed, done.also)
        if not await self._messenger.replace(reply, message):
            await self._messenger.send(user, reply, message)
        await self.refresh_home(user)

    async def keep(self, user: SlackUser, provider: AnyProvider, reply: Reply) -> None:
        """The user cancelled a disconnect: the question becomes a short confirmation."""
        await self._messenger.replace(reply, home.kept(provider))

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
        provider = self._mailbox.providers.get(item.provider)
        try:
            if provider is None:  # a provider this bot no longer serves: nothing left to say
                log.warning("delivery.unknown_provider id=%d provider=%s", item.id, item.provider)
                message, prompt = None, None
            else:
                message, prompt = await self._outcome(provider, item, reply, authorized)
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
        self, provider: AnyProvider, item: OutboxItem, reply: Reply, authorized: Authorized | None
    ) -> tuple[Message | None, Message | None]:
        """What must go to the user's DM, if anything, and what the prompt should now say."""
        if item.kind == "completed":
            try:
                result = await self._mailbox.act(item.user, provider, item.reply, authorized)
            except BotError as exc:
                log.warning("delivery.problem id=%d user=%s error=%s", item.id, item.user.arcade_id, exc)
                return messages.problem(exc.user_message), None
            connected = (
                messages.connected(provider, result.account, answer_in_dm=True) if isinstance(result, Answer) else None
            )
            return self._message(provider, result), connected
        minutes = math.ceil(self._timeout / 60)
        outcome = messages.failed(provider) if item.kind == "failed" else messages.expired(provider, minutes)
        return (None if await self._messenger.replace(reply, outcome) else outcome), None

    async def _publish_home(self, user: SlackUser) -> None:
        async with self._home_turns.setdefault(user, asyncio.Lock()):
            providers = self._mailbox.providers
            rows = [(p, state, providers.sharing(p)) for p, state in await self._mailbox.states(user)]
            view = home.home_view(rows, await self._store.recent_audit(user, 5))
            await self._messenger.publish_home(user, view)

    def _message(self, provider: AnyProvider, result: Answer | Prompt) -> Message:
        if isinstance(result, Prompt):
            return messages.prompt(provider, self._link(result.flow), int(result.flow.deadline), again=result.again)
        return provider.show(result.result)


def _arcade_url(flow: PendingFlow) -> str:
    return flow.url


def _what(result: Answer | Prompt) -> str:
    return "prompt" if isinstance(result, Prompt) else "answer"
