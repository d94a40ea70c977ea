"""Socket Mode that gives up on a refused app token instead of retrying it for ever.

slack_sdk's Socket Mode client asks ``apps.connections.open`` for a new URL on every (re)connect
and, when Slack refuses the token, logs a traceback and tries again every 10 s without end. The
web client handed to it here notes a refusal for bad credentials, so the entry point can report
``SLACK_APP_TOKEN`` once and stop.
"""

from __future__ import annotations

import asyncio
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.checks import SLACK_AUTH_ERRORS


class SocketWebClient(AsyncWebClient):
    """The web client of the Socket Mode connection; ``refused`` is set when Slack refuses the app token."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.refused = asyncio.Event()
        self.refusal = ""

    async def apps_connections_open(self, *, app_token: str, **kwargs: Any) -> AsyncSlackResponse:
        try:
            return await super().apps_connections_open(app_token=app_token, **kwargs)
        except SlackApiError as exc:
            error = str(exc.response.get("error", ""))
            if error in SLACK_AUTH_ERRORS:  # no retry fixes these: the token is wrong, revoked or of the wrong kind
                self.refusal = error
                self.refused.set()
            raise
