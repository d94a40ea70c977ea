"""Interactivity. The Authorize button is a link button: Slack opens the URL itself but still
sends ``block_actions``, which must be acknowledged or the user sees an error."""

from __future__ import annotations

from typing import TYPE_CHECKING

from slack_bolt.context.ack.async_ack import AsyncAck

from bot.blocks import OPEN_AUTH_ACTION

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

    from bot.app import Deps


def register(app: AsyncApp, deps: Deps) -> None:
    @app.action(OPEN_AUTH_ACTION)
    async def open_auth_link(ack: AsyncAck) -> None:
        await ack()
