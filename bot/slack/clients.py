"""The Web API client for this deployment: the one workspace's token (``SLACK_BOT_TOKEN``), or,
with ``SLACK_INSTALL=on``, each installed workspace's own (and what Bolt needs for the install flow)."""

from __future__ import annotations

import aiohttp
from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.slack.install import InstallMode, oauth_flow
from bot.slack.installs import AppClient, WorkspaceAuthorize, WorkspaceClient, Workspaces
from bot.slack.retries import retry_handlers
from bot.store import Store


def slack_client(
    settings: Settings, store: Store, session: aiohttp.ClientSession
) -> tuple[AsyncWebClient, InstallMode | None]:
    """The client every part of the bot sends with, and the install flow's parts when it is on."""
    url = settings.slack_api_url
    if not settings.slack_install:
        token = settings.slack_bot_token
        return AsyncWebClient(token=token, base_url=url, session=session, retry_handlers=retry_handlers()), None
    client_id, client_secret = settings.slack_client_id or "", settings.slack_client_secret or ""
    installs = store.installs(client_id)
    # oauth.v2.access goes with the app's own credentials, no bot token
    plain = AppClient(base_url=url, session=session, retry_handlers=retry_handlers())
    workspaces = Workspaces(installs, AsyncTokenRotator(client_id=client_id, client_secret=client_secret, client=plain))
    mode = InstallMode(oauth_flow(settings, installs, plain), WorkspaceAuthorize(workspaces), installs)
    return WorkspaceClient(workspaces, base_url=url, session=session, retry_handlers=retry_handlers()), mode
