"""Events: a provider's request word in a DM (``labels``, ``events``, ``prs``), or after a mention in
a channel (``@bot labels``), and the App Home tab being opened.

Every event is acknowledged (Bolt does it when the listener returns, which is at once: the
work goes to ``deps.after_ack``). Anything that is not
a request, anything from a bot (including this one) and Slack's retries of events
already handled are ignored without a reply.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from bot.slack.payloads import who_and_where

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

    from bot.slack.deps import Deps


def request_pattern(words: Iterable[str]) -> re.Pattern[str]:
    """The whole message is one of ``words`` (its final s optional), optionally after a mention:
    "labels", "@bot labels", "Labels?", "pr"."""
    stems = "|".join(re.escape(word.removesuffix("s")) + "s?" for word in words)
    return re.compile(rf"^\s*(?:<@[A-Z0-9]+(?:\|[^>]*)?>[\s:,]*)?(?P<word>{stems})\s*[.!?]*\s*$", re.IGNORECASE)


def register(app: AsyncApp, deps: Deps) -> None:
    requests = request_pattern(p.request for p in deps.providers)
    by_stem = {p.request.removesuffix("s"): p for p in deps.providers}

    def answer(body: dict[str, Any], event: dict[str, Any]) -> None:
        found = requests.match(str(event.get("text") or ""))
        if event.get("bot_id") or event.get("subtype") or found is None:
            return
        provider = by_stem[found["word"].lower().removesuffix("s")]
        user, reply = who_and_where(body, deps.clock())
        if user is None:
            return
        event_id = body.get("event_id")

        async def work() -> None:
            if isinstance(event_id, str) and not await deps.store.first_sighting(event_id):
                return  # Slack's retry of an event already answered
            await deps.delivery.answer(user, provider, reply)

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
