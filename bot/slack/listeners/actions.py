"""Buttons. Every click is acknowledged first, including the Authorize link button: Slack opens
its URL itself but still sends ``block_actions``, which must be acknowledged.

Buttons act for the user who clicked, never for the author of the message holding them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from slack_bolt.context.ack.async_ack import AsyncAck

from bot.models import SlackUser
from bot.slack.messages import CANCEL_ACTION, DISCONNECT_ACTION, OPEN_AUTH_ACTION, START_ACTION
from bot.slack.payloads import who_and_where
from bot.slack.reply import Reply

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

    from bot.slack.deps import Deps


def register(app: AsyncApp, deps: Deps) -> None:
    delivery = deps.delivery
    handlers: dict[str, Callable[[SlackUser, Reply], Awaitable[None]]] = {
        OPEN_AUTH_ACTION: delivery.link_opened,  # the prompt then says we are waiting for them
        START_ACTION: partial(delivery.labels_or_prompt, replace=True),  # new link / try again / connect
        DISCONNECT_ACTION: delivery.disconnect,
        CANCEL_ACTION: delivery.keep,
    }

    def listener(handle: Callable[[SlackUser, Reply], Awaitable[None]]) -> Callable[..., Awaitable[None]]:
        async def on_click(ack: AsyncAck, body: dict[str, Any]) -> None:
            await ack()
            user, reply = who_and_where(body, deps.clock())  # the clicker, not the message's author
            if user is not None:
                deps.after_ack.run(body, lambda: handle(user, reply))

        return on_click

    for action_id, handle in handlers.items():
        app.action(action_id)(listener(handle))
