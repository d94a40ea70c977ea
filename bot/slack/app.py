"""Builds the Bolt ``AsyncApp``: explicit settings, listeners, one global error handler."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.error import BoltUnhandledRequestError
from slack_bolt.response import BoltResponse

from bot.errors import BotError
from bot.slack import listeners
from bot.slack.delivery import Delivery
from bot.slack.deps import Deps
from bot.slack.install import InstallMode, register_uninstall
from bot.slack.payloads import who_and_where

log = logging.getLogger(__name__)

# Bolt reads these from os.environ on its own. With SLACK_CLIENT_ID and SLACK_CLIENT_SECRET set it
# switches on its OAuth install flow and ignores the bot token, so they are hidden while it is
# built; everything Bolt needs is passed explicitly.
_BOLT_ENV = (
    "SLACK_CLIENT_ID",
    "SLACK_CLIENT_SECRET",
    "SLACK_SCOPES",
    "SLACK_REDIRECT_URI",
    "SLACK_INSTALLATION_STORE",
    "SLACK_VERIFICATION_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_BOT_TOKEN",
)


def build_app(deps: Deps, *, signing_secret: str | None, install: InstallMode | None = None) -> AsyncApp:
    """An app for Socket Mode (``signing_secret=None``) or HTTP mode (requests are verified); with
    ``install`` (``SLACK_INSTALL=on``) for every workspace that installed it, each with its own token."""
    workspaces: dict[str, Any] = {} if install is None else {"oauth_flow": install.flow, "authorize": install.authorize}
    with _hidden_env(_BOLT_ENV):
        app = AsyncApp(
            client=deps.client,
            signing_secret=signing_secret or "",
            request_verification_enabled=signing_secret is not None,
            raise_error_for_unhandled_request=True,
            # Slack is answered as soon as a listener returns; listeners ack and hand the work to
            # deps.after_ack, so no ack waits for Bolt's 10-ms ack polling (bot/work.py).
            process_before_response=True,
            logger=logging.getLogger("slack_bolt"),
            **workspaces,
        )
    listeners.register(app, deps)
    if install is not None:
        register_uninstall(app, install.installs)

    @app.error
    async def on_error(error: Exception, body: dict[str, Any]) -> BoltResponse | None:
        if isinstance(error, BoltUnhandledRequestError):
            # Events, clicks and commands we do not handle are acknowledged and ignored, so
            # Slack neither retries them nor shows the user an error.
            return BoltResponse(status=200, body="")
        await report_failure(deps.delivery, deps.clock, error, body)
        return None

    return app


async def report_failure(
    delivery: Delivery, clock: Callable[[], float], error: Exception, body: dict[str, Any]
) -> None:
    """Log a failed request and tell its user privately, in words, never with a stack trace."""
    user, reply = who_and_where(body, clock())
    if isinstance(error, BotError):
        log.warning("request.failed error=%s detail=%s", type(error).__name__, error)
        text = error.user_message
    else:
        log.error("request.crashed", exc_info=error)
        text = "Sorry, something went wrong on my side. Please try again in a minute."
    if user is not None:
        try:
            await delivery.problem(user, reply, text)
        except Exception:
            log.exception("request.error_reply_failed")


@contextmanager
def _hidden_env(names: tuple[str, ...]) -> Iterator[None]:
    saved = {name: os.environ.pop(name) for name in names if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)
