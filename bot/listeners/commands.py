"""``/connect-gmail``: acknowledge at once, then authorize and answer privately."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slack_bolt.context.ack.async_ack import AsyncAck

from bot import blocks
from bot.payloads import who_and_where

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

    from bot.app import Deps

COMMAND = "/connect-gmail"


def register(app: AsyncApp, deps: Deps) -> None:
    @app.command(COMMAND)
    async def connect_gmail(ack: AsyncAck, command: dict[str, Any]) -> None:
        text = str(command.get("text") or "").strip()
        if text:
            # Nothing but the bare command is supported yet: say so, never echo the text back.
            await ack(**blocks.usage().as_payload())
            return
        await ack()
        user, reply = who_and_where(command, deps.clock())
        if user is not None:
            await deps.delivery.labels_or_prompt(user, reply)
