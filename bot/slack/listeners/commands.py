"""``/connect-gmail [help|status|disconnect]``: acknowledge at once, then act and answer privately."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slack_bolt.context.ack.async_ack import AsyncAck

from bot.slack import home, messages
from bot.slack.payloads import who_and_where

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

    from bot.slack.deps import Deps

COMMAND = "/connect-gmail"


def register(app: AsyncApp, deps: Deps) -> None:
    @app.command(COMMAND)
    async def connect_gmail(ack: AsyncAck, command: dict[str, Any]) -> None:
        word = str(command.get("text") or "").strip().lower()
        if word == "help":
            await ack(**home.help_message().as_payload())
            return
        if word == "disconnect":
            await ack(**home.confirm_disconnect().as_payload())
            return
        if word not in ("", "status"):
            # Never echo the text back: it could hold mentions or markup.
            await ack(**messages.usage().as_payload())
            return
        await ack()
        user, reply = who_and_where(command, deps.clock())
        if user is None:
            return
        if word == "status":
            deps.after_ack.run(command, lambda: deps.delivery.status(user, reply))
        else:
            deps.after_ack.run(command, lambda: deps.delivery.labels_or_prompt(user, reply))
