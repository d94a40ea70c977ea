"""Buttons. Every click is acknowledged first, including the Authorize link button: Slack opens
its URL itself but still sends ``block_actions``, which must be acknowledged.

Each provider has its own four action ids (``messages.action``), so a click says whose button it
was. Buttons act for the user who clicked, never for the author of the message holding them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from slack_bolt.context.ack.async_ack import AsyncAck

from bot.models import SlackUser
from bot.slack.messages import CANCEL, DISCONNECT, OPEN, START, action
from bot.slack.payloads import who_and_where
from bot.slack.reply import Reply

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

    from bot.providers import AnyProvider
    from bot.slack.deps import Deps

Handle = Callable[[SlackUser, Reply], Awaitable[None]]


def register(app: AsyncApp, deps: Deps) -> None:
    def listener(handle: Handle) -> Callable[..., Awaitable[None]]:
        async def on_click(ack: AsyncAck, body: dict[str, Any]) -> None:
            await ack()
            user, reply = who_and_where(body, deps.clock())  # the clicker, not the message's author
            if user is not None:
                deps.after_ack.run(body, lambda: handle(user, reply))

        return on_click

    for provider in deps.providers:
        for verb, handle in _handlers(deps, provider).items():
            app.action(action(provider.name, verb))(listener(handle))


def _handlers(deps: Deps, provider: AnyProvider) -> dict[str, Handle]:
    delivery = deps.delivery

    async def opened(user: SlackUser, reply: Reply) -> None:  # the prompt then says we are waiting
        await delivery.link_opened(user, provider, reply)

    async def start(user: SlackUser, reply: Reply) -> None:  # new link / try again / connect
        await delivery.answer(user, provider, reply, replace=True)

    async def disconnect(user: SlackUser, reply: Reply) -> None:
        await delivery.disconnect(user, provider, reply)

    async def keep(user: SlackUser, reply: Reply) -> None:
        await delivery.keep(user, provider, reply)

    return {OPEN: opened, START: start, DISCONNECT: disconnect, CANCEL: keep}
