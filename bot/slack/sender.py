"""The only module that sends to Slack (slack_sdk's Web API and response_url clients).

Private delivery has three routes, tried in this order:

1. the command's or click's ``response_url`` (ephemeral; Slack allows 5 uses in 30 minutes);
2. ``chat.postEphemeral`` in the channel it came from (fails in DMs and where the bot is absent);
3. a DM: ``chat.postMessage`` with the user's id as the channel (Slack posts it in the app's DM
   with them), or ``conversations.open`` first where that is refused or the DM's id is needed.

Each route that fails falls through to the next, so an answer survives an expired
``response_url``, a channel the bot is not in, and Slack's rate limits (slack_sdk's retry
handlers sleep out ``Retry-After`` first). Nothing is ever posted publicly.

Answers owed by the outbox go to the DM, stamped with their outbox id in message metadata: after
a crash the DM's history tells whether Slack already accepted one, which no other route can.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urljoin, urlsplit

from aiohttp import ClientSession
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.models import Message, SlackUser
from bot.slack.errors import slack_error
from bot.slack.installs import WorkspaceClient
from bot.slack.post import JSON, SlackPost
from bot.slack.reply import Reply
from bot.slack.retries import retry_handlers

log = logging.getLogger(__name__)

DELIVERY_EVENT = "gmail_connect_delivery"  # message metadata type that marks outbox deliveries
RESPONSE_URL_LIFETIME = 29 * 60
SLACK_HOOK_HOSTS = frozenset({"hooks.slack.com", "hooks.slack-gov.com"})  # where Slack's response_urls point
# A user's DM channel id, which never changes, is remembered for this many users (the oldest
# forgotten first), so that conversations.open (Tier 3, 50+ a minute) is seldom needed.
DM_MEMORY = 10_000
# Errors after which the next route may still reach the user.
_FALL_THROUGH = {
    "channel_not_found",
    "not_in_channel",
    "user_not_in_channel",
    "is_archived",
    "restricted_action",
    "ratelimited",
    "ekm_access_denied",
}


class Messenger:
    """``chat.postMessage`` to a DM and ``response_url`` POSTs go through ``bot.slack.post`` (lean,
    with the same retry handlers); the other calls through slack_sdk's client."""

    def __init__(self, client: AsyncWebClient, session: ClientSession, clock: Callable[[], float] = time.time):
        self._client = client
        self._post = SlackPost(session, retry_handlers())
        self._post_message = urljoin(client.base_url, "chat.postMessage")  # as slack_sdk joins them
        self._clock = clock
        self._dms: dict[SlackUser, str] = {}  # user -> DM channel id, oldest first

    async def send(self, user: SlackUser, reply: Reply, message: Message) -> str:
        """Deliver ``message`` to ``user`` privately; returns the route that worked.

        Raises ``SlackApiError`` only if every route failed.
        """
        if await self._via_response_url(reply, message.as_payload()):
            return "response_url"
        channel = reply.channel_id
        if channel and not channel.startswith("D"):
            try:
                await self._client.chat_postEphemeral(
                    channel=channel, user=user.user_id, team_id=user.team_id, **message.as_payload()
                )
                return "ephemeral"
            except SlackApiError as exc:
                if slack_error(exc) not in _FALL_THROUGH:
                    raise
                log.info("slack.fallback route=ephemeral error=%s user=%s", slack_error(exc), user.user_id)
        await self.direct(user, message)
        return "dm"

    async def direct(self, user: SlackUser, message: Message, *, key: int | None = None, check: bool = False) -> None:
        """Post ``message`` in the user's DM with the bot.

        ``key`` is stamped into the message's metadata; with ``check`` the DM's recent history is
        searched for it first, so a send that reached Slack before a crash is not repeated.
        """
        dm = self._dms.get(user)
        if key is not None and check:
            dm = await self._dm(user)
            if await self._already_posted(user, dm, key):
                log.info("slack.deduplicated key=%d user=%s", key, user.user_id)
                return
        extra: dict[str, Any] = {}
        if key is not None:
            extra["metadata"] = {"event_type": DELIVERY_EVENT, "event_payload": {"outbox_id": key}}

        token = await self._token(user.team_id)

        def post(channel: str) -> Awaitable[dict[str, Any]]:
            return self._post.web_api(
                self._post_message,
                token,
                {
                    "channel": channel,
                    "team_id": user.team_id,
                    "unfurl_links": False,
                    "unfurl_media": False,
                    **message.as_payload(),
                    **extra,
                },
            )

        try:
            # A user id as the channel posts into the app's DM with that user, sparing a
            # conversations.open (Tier 3) for users the bot has not written to before.
            posted = await post(dm or user.user_id)
        except SlackApiError as exc:
            if slack_error(exc) != "channel_not_found":
                raise
            # A remembered DM Slack no longer knows, or a user id Slack would not take as a
            # channel: ask for the DM once more.
            self._dms.pop(user, None)
            await post(await self._dm(user))
        else:
            if dm is None and isinstance(posted.get("channel"), str):
                self._remember(user, posted["channel"])

    async def _token(self, team_id: str) -> str:
        """The bot token to post with: the one workspace's, or with SLACK_INSTALL=on that team's own
        (``WorkspaceGone`` if the app left it), as ``WorkspaceClient`` picks for slack_sdk calls."""
        if isinstance(self._client, WorkspaceClient) and self._client.token is None:
            return await self._client.workspaces.bot_token(team_id)
        return self._client.token or ""

    async def _dm(self, user: SlackUser) -> str:
        dm = self._dms.get(user)
        if dm is None:
            opened = await self._client.conversations_open(users=user.user_id, team_id=user.team_id)
            dm = str(opened["channel"]["id"])
            self._remember(user, dm)
        return dm

    def _remember(self, user: SlackUser, dm: str) -> None:
        self._dms[user] = dm
        if len(self._dms) > DM_MEMORY:
            del self._dms[next(iter(self._dms))]

    async def publish_home(self, user: SlackUser, view: dict[str, Any]) -> None:
        await self._client.views_publish(user_id=user.user_id, view=view, team_id=user.team_id)

    async def _already_posted(self, user: SlackUser, dm: str, key: int) -> bool:
        history = await self._client.conversations_history(
            channel=dm, limit=20, include_all_metadata=True, team_id=user.team_id
        )
        for item in history.get("messages") or []:
            metadata = item.get("metadata") or {}
            if (
                metadata.get("event_type") == DELIVERY_EVENT
                and (metadata.get("event_payload") or {}).get("outbox_id") == key
            ):
                return True
        return False

    async def replace(self, reply: Reply, message: Message) -> bool:
        """Replace the message that ``reply.response_url`` answered (e.g. the prompt). Best effort."""
        return await self._via_response_url(reply, {**message.as_payload(), "replace_original": True})

    async def _via_response_url(self, reply: Reply, payload: dict[str, Any]) -> bool:
        if not reply.response_url or self._clock() - reply.issued_at > RESPONSE_URL_LIFETIME:
            return False
        if not self._slack_hook(reply.response_url):
            # A payload could name any URL: the bot posts only to Slack's own hooks.
            log.warning(
                "slack.refused route=response_url reason=not_slack host=%s", urlsplit(reply.response_url).hostname
            )
            return False
        try:
            posted = await self._post.post(
                reply.response_url, {"response_type": "ephemeral", **payload}, {"Content-Type": JSON}
            )
        except Exception as exc:  # noqa: BLE001 - any transport failure means: use the next route
            log.info("slack.fallback route=response_url error=%s", type(exc).__name__)
            return False
        if posted.status != 200 or (isinstance(posted.body, dict) and posted.body.get("ok") is False):
            # a 200 whose JSON body says "ok": false was not delivered (Slack's plain "ok" was)
            log.info("slack.fallback route=response_url status=%s", posted.status)
            return False
        return True

    def _slack_hook(self, url: str) -> bool:
        """Slack's hooks hosts over https, or the configured Web API's own origin (the tests' fake)."""
        parts, api = urlsplit(url), urlsplit(self._client.base_url)
        if parts.scheme == "https" and parts.hostname in SLACK_HOOK_HOSTS and parts.port in (None, 443):
            return True
        return (parts.scheme, parts.netloc) == (api.scheme, api.netloc)
