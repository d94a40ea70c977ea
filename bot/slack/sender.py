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

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import ClientSession
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler, HttpRequest, HttpResponse, RetryState
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.interval_calculator import RetryIntervalCalculator
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.models import Message, SlackUser
from bot.retry import backoff_delay, jitter
from bot.slack.errors import slack_error
from bot.slack.reply import Reply

log = logging.getLogger(__name__)

DELIVERY_EVENT = "gmail_connect_delivery"  # message metadata type that marks outbox deliveries
RESPONSE_URL_LIFETIME = 29 * 60
SLACK_HOOK_HOSTS = frozenset({"hooks.slack.com", "hooks.slack-gov.com"})  # where Slack's response_urls point
# A user's DM channel id, which never changes, is remembered for this many users (the oldest
# forgotten first), so that conversations.open (Tier 3, 50+ a minute) is seldom needed.
DM_MEMORY = 10_000
# Refusals that say "not now" rather than "never": the same call is tried again after a pause.
# (HTTP 429s never get here: the retry handlers have already waited them out.)
# Slack also says them inside an HTTP 200 (``ok: false``), which slack_sdk's stock handlers do not read.
_TRY_AGAIN = {"ratelimited", "rate_limited", "service_unavailable", "internal_error", "fatal_error", "request_timeout"}
TRY_AGAIN_RETRIES = 3  # ~1 s, 2 s, 4 s
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


class Backoff(RetryIntervalCalculator):
    """The bot's own backoff (``bot.retry``): ~1 s, 2 s, 4 s, jittered from the bot's own generator
    (slack_sdk's default jitter draws from the module-level ``random``)."""

    def calculate_sleep_duration(self, current_attempt: int) -> float:
        return backoff_delay(current_attempt)


class RateLimitedRetryHandler(AsyncRateLimitErrorRetryHandler):
    """HTTP 429: sleeps out ``Retry-After`` (1 s if absent) plus up to a second of jitter, like
    slack_sdk's own handler, but with the jitter from the bot's own generator."""

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        state.next_attempt_requested = True
        values = next((v for k, v in (response.headers if response else {}).items() if k.lower() == "retry-after"), [])
        seconds = int(values[0]) if values and values[0].isdigit() else 1
        await asyncio.sleep(seconds + jitter.random())
        state.increment_current_attempt()


class NotNowRetryHandler(AsyncRetryHandler):
    """Retries a Web API call that Slack answered ``ok: false`` with a "not now" error in an HTTP 200."""

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        body = response.body if response is not None and response.status_code == 200 else None
        if isinstance(body, dict) and body.get("ok") is False and body.get("error") in _TRY_AGAIN:
            log.info("slack.try_again error=%s attempt=%d", body.get("error"), state.current_attempt + 1)
            return True
        return False


def retry_handlers() -> list[AsyncRetryHandler]:
    """Retries for every Slack call: connection errors, 429 (honouring Retry-After), 500/503, and
    ``ok: false`` answers that mean "not now"."""
    return [
        AsyncConnectionErrorRetryHandler(max_retry_count=2, interval_calculator=Backoff()),
        RateLimitedRetryHandler(max_retry_count=3),
        AsyncServerErrorRetryHandler(max_retry_count=2, interval_calculator=Backoff()),
        NotNowRetryHandler(max_retry_count=TRY_AGAIN_RETRIES, interval_calculator=Backoff()),
    ]


class Messenger:
    def __init__(self, client: AsyncWebClient, session: ClientSession, clock: Callable[[], float] = time.time):
        self._client = client
        self._session = session
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

        def post(channel: str) -> Awaitable[AsyncSlackResponse]:
            return self._client.chat_postMessage(
                channel=channel,
                team_id=user.team_id,  # which workspace's token, with SLACK_INSTALL=on (bot.slack.installs)
                unfurl_links=False,
                unfurl_media=False,
                **message.as_payload(),
                **extra,
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
        webhook = AsyncWebhookClient(reply.response_url, session=self._session, retry_handlers=retry_handlers())
        try:
            response = await webhook.send_dict({"response_type": "ephemeral", **payload})
        except Exception as exc:  # noqa: BLE001 - any transport failure means: use the next route
            log.info("slack.fallback route=response_url error=%s", type(exc).__name__)
            return False
        if response.status_code != 200 or _says_not_ok(response.body):
            log.info("slack.fallback route=response_url status=%s", response.status_code)
            return False
        return True

    def _slack_hook(self, url: str) -> bool:
        """Slack's hooks hosts over https, or the configured Web API's own origin (the tests' fake)."""
        parts, api = urlsplit(url), urlsplit(self._client.base_url)
        if parts.scheme == "https" and parts.hostname in SLACK_HOOK_HOSTS and parts.port in (None, 443):
            return True
        return (parts.scheme, parts.netloc) == (api.scheme, api.netloc)


def _says_not_ok(body: str) -> bool:
    """A 200 whose JSON body says ``"ok": false`` was not delivered (Slack's plain ``ok`` was)."""
    try:
        answer = json.loads(body)
    except ValueError:
        return False
    return isinstance(answer, dict) and answer.get("ok") is False
