"""Buttons. Every click is acknowledged first, including the Authorize link button: Slack opens
its URL itself but still sends ``block_actions``, which must be acknowledged.

Buttons act for the user who clicked, never for the author of the message holding them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slack_bolt.context.ack.async_ack import AsyncAck

from bot import home
from bot.blocks import CANCEL_ACTION, DISCONNECT_ACTION, OPEN_AUTH_ACTION, START_ACTION
from bot.payloads import who_and_where

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

    from bot.app import Deps

ACTIONS = (OPEN_AUTH_ACTION, START_ACTION, DISCONNECT_ACTION, CANCEL_ACTION)


def register(app: AsyncApp, deps: Deps) -> None:
    @app.action(OPEN_AUTH_ACTION)
    async def open_auth_link(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        user, reply = who_and_where(body, deps.clock())
        if user is not None:
            await deps.delivery.link_opened(user, reply)

    @app.action(START_ACTION)
    async def start_again(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        user, reply = who_and_where(body, deps.clock())
        if user is not None:
            await deps.delivery.labels_or_prompt(user, reply, replace=True)

    @app.action(DISCONNECT_ACTION)
    async def disconnect(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        user, reply = who_and_where(body, deps.clock())
        if user is not None:
            await deps.delivery.disconnect(user, reply)

    @app.action(CANCEL_ACTION)
    async def cancel(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        user, reply = who_and_where(body, deps.clock())
        if user is not None:
            await deps.messenger.replace(reply, home.kept())
