"""Who a Slack user is at Arcade in development mode: their Slack profile email (``users.info``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import IdentityUnavailable
from bot.models import SlackUser
from bot.slack.errors import slack_error

log = logging.getLogger(__name__)

EMAIL_CACHE_SECONDS = 900.0


class SlackEmails:
    """The Slack profile email, read with ``users.info`` and cached for a while."""

    def __init__(
        self, client: AsyncWebClient, *, ttl: float = EMAIL_CACHE_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._client = client
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[SlackUser, tuple[str, float]] = {}

    async def __call__(self, user: SlackUser, /) -> str:
        now = self._clock()
        cached = self._cache.get(user)
        if cached is not None and cached[1] > now:
            return cached[0]
        try:
            response = await self._client.users_info(user=user.user_id, team_id=user.team_id)
        except SlackApiError as exc:
            error = slack_error(exc)
            log.warning("identity.users_info_failed user=%s error=%s", user.arcade_id, error)
            if error == "missing_scope":
                raise IdentityUnavailable(
                    "users.info needs users:read and users:read.email",
                    user_message=(
                        "This bot runs in Arcade's development mode, which needs your Slack email, but it may not "
                        "read emails. Please tell whoever runs it to add the users:read.email scope."
                    ),
                ) from None
            raise IdentityUnavailable(f"users.info answered {error}") from None
        profile = (response.get("user") or {}).get("profile") or {}
        email = profile.get("email")
        if not isinstance(email, str) or "@" not in email:
            log.warning("identity.no_email user=%s", user.arcade_id)
            raise IdentityUnavailable("no email in the Slack profile")
        email = email.strip()
        self._cache = {u: v for u, v in self._cache.items() if v[1] > now}
        self._cache[user] = (email, now + self._ttl)
        return email
