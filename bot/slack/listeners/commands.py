"""``/connect [provider]``, ``/connect status [provider]``, ``/connect disconnect <provider>``,
``/connect help``, and ``/connect-gmail [help|status|disconnect]`` as it always was: acknowledge at
once, then act and answer privately. Command text is never echoed back: it could hold mentions or
markup."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slack_bolt.context.ack.async_ack import AsyncAck

from bot.slack import home, messages
from bot.slack.payloads import who_and_where

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

    from bot.providers import AnyProvider
    from bot.slack.deps import Deps

COMMAND = "/connect-gmail"
CONNECT = "/connect"
VERBS = ("help", "status", "disconnect")


def register(app: AsyncApp, deps: Deps) -> None:
    providers = deps.providers

    async def act(ack: AsyncAck, command: dict[str, Any], verb: str | None, provider: AnyProvider | None) -> None:
        """Acknowledge, then show the status (of one provider or all) or run ``provider``'s first action."""
        await ack()
        user, reply = who_and_where(command, deps.clock())
        if user is None:
            return
        if verb == "status":
            deps.after_ack.run(command, lambda: deps.delivery.status(user, reply, provider))
        elif provider is not None:
            deps.after_ack.run(command, lambda: deps.delivery.answer(user, provider, reply))

    gmail = providers.get("gmail")
    if gmail is not None:

        @app.command(COMMAND)
        async def connect_gmail(ack: AsyncAck, command: dict[str, Any]) -> None:
            word = str(command.get("text") or "").strip().lower()
            if word == "help":
                await ack(**home.help_message().as_payload())
            elif word == "disconnect":
                await ack(**home.confirm_disconnect(gmail, providers.sharing(gmail)).as_payload())
            elif word not in ("", "status"):
                await ack(**messages.usage().as_payload())
            else:
                await act(ack, command, word or None, gmail)

    @app.command(CONNECT)
    async def connect(ack: AsyncAck, command: dict[str, Any]) -> None:
        words = str(command.get("text") or "").strip().lower().split()
        verbs = [w for w in words if w in VERBS]
        names = [w for w in words if w not in VERBS]
        provider = providers.get(names[0]) if len(names) == 1 else None
        verb = verbs[0] if len(verbs) == 1 else None
        if len(verbs) > 1 or len(names) > 1 or (names and provider is None):
            await ack(**messages.usage_all(providers).as_payload())
        elif verb == "help":
            await ack(**home.help_all(list(providers)).as_payload())
        elif verb == "disconnect":
            if provider is None:
                await ack(**messages.usage_all(providers).as_payload())
            else:
                await ack(**home.confirm_disconnect(provider, providers.sharing(provider)).as_payload())
        elif verb is None and provider is None:
            await ack(**messages.choose(providers).as_payload())
        else:
            await act(ack, command, verb, provider)
