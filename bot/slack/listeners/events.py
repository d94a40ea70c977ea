"""Events: ``labels`` in a DM, ``@bot labels`` in a channel, and the App Home tab being opened.

Every event is acknowledged (Bolt does it when the listener returns, which is at once: the
work goes to ``deps.after_ack``). Anything that is not
a request for labels, anything from a bot (including this one) and Slack's retries of events
already handled are ignored without a reply.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from bot.slack.payloads import who_and_where

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

    from bot.slack.deps import Deps

# Whole message, optionally after a mention: "labels", "@bot labels", "Labels?"
LABELS_REQUEST = re.compile(r"^\s*(?:<@[A-Z0-9]+(?:\|[^>]*)?>[\s:,]*)?labels?\s*[.!?]*\s*$", re.IGNORECASE)


def register(app: AsyncApp, deps: Deps) -> None:
    def answer(body: dict[str, Any], event: dict[str, Any]) -> None:
        if event.get("bot_id") or event.get("subtype") or not LABELS_REQUEST.match(str(event.get("text") or "")):
            return
        user, reply = who_and_where(body, deps.clock())
        if user is None:
            return
        event_id = body.get("event_id")

        async def work() -> None:
            if isinstance(event_id, str) and not await deps.store.first_sighting(event_id):
                return  # Slack's retry of an event already answered
            await deps.delivery.labels_or_prompt(user, reply)

        deps.after_ack.run(body, work)

    @app.event("app_mention")
    async def on_mention(body: dict[str, Any], event: dict[str, Any]) -> None:
        answer(body, event)

    @app.event("message")  # message.im in manifest.yml
    async def on_message(body: dict[str, Any], event: dict[str, Any]) -> None:
        # Mentions in channels arrive as app_mention; only direct messages are read here.
        if event.get("channel_type") == "im":
            answer(body, event)

    @app.event("app_home_opened")
    async def on_home_opened(body: dict[str, Any], event: dict[str, Any]) -> None:
        user, _ = who_and_where(body, deps.clock())
        if user is not None and event.get("tab", "home") == "home":
            deps.after_ack.run(body, lambda: deps.delivery.home_opened(user))
