"""Installations on the bot's store (``SLACK_INSTALL=on``): Bolt's installation and state store
interfaces, each workspace's bot token (refreshed once across replicas when tokens rotate), and a
Web API client that calls each workspace with its own token.

Bolt's install flow saves through ``StoreInstallations`` and spends states through
``StoreStates``; every request Bolt serves is authorized by ``WorkspaceAuthorize``, and everything
the bot sends outside a request (answers owed after a wait, the verifier's pages) goes through
``WorkspaceClient``. All three ask ``Workspaces`` for the token, which refreshes an expiring one
(Bolt's ``AsyncTokenRotator``, ``oauth.v2.access`` with the refresh token) under a lease in the
store, so two replicas noticing at the same moment refresh it once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.async_authorize import AsyncAuthorize
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.errors import SlackTokenRotationError
from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.errors import BotError
from bot.store.installs import InstallRow, Installs

log = logging.getLogger(__name__)

REFRESH_BEFORE_MINUTES = 120  # Bolt's default: refresh a bot token that expires within two hours
REFRESH_LEASE_SECONDS = 30.0  # how long one replica may take to refresh before another tries
STATE_SECONDS = 600  # an install link's state is good for ten minutes (Bolt's default)


class WorkspaceGone(BotError):
    """The app is not (or no longer) installed in the workspace a message is for."""

    def __init__(self, team_id: str) -> None:
        super().__init__(f"not installed in {team_id}", user_message="This app is not installed in your workspace.")
        self.team_id = team_id


def encode(installation: Installation) -> str:
    """An installation as JSON (its times as numbers), for the store's opaque ``data``."""
    values = installation.to_dict_for_copying()
    return json.dumps({k: v.timestamp() if isinstance(v, datetime) else v for k, v in values.items()})


def decode(data: str) -> Installation:
    values = json.loads(data)
    for expiry in ("bot_token_expires_at", "user_token_expires_at"):  # slack_sdk takes whole seconds there
        if values.get(expiry) is not None:
            values[expiry] = int(values[expiry])
    return Installation(**values)


class StoreInstallations(AsyncInstallationStore):
    """Bolt's installation store on the bot's store: one installation per workspace, bot only."""

    def __init__(self, installs: Installs) -> None:
        self._installs = installs

    async def async_save(self, installation: Installation) -> None:
        await self._installs.save(
            installation.enterprise_id or "",
            installation.team_id or "",
            installation.bot_token or "",
            encode(installation),
        )
        log.info("install.saved team=%s enterprise=%s", installation.team_id, installation.enterprise_id or "-")

    async def async_save_bot(self, bot: Bot) -> None:  # Bolt saves whole installations only
        raise NotImplementedError("installations are saved whole")

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        row = await self._installs.find(team_id) if team_id else None
        return decode(row.data) if row is not None else None

    async def async_find_bot(
        self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None = False
    ) -> Bot | None:
        found = await self.async_find_installation(enterprise_id=enterprise_id, team_id=team_id)
        return found.to_bot() if found is not None else None

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        if team_id:
            await self._installs.forget(team_id)

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self.async_delete_installation(enterprise_id=enterprise_id, team_id=team_id)


class StoreStates(AsyncOAuthStateStore):
    """Bolt's OAuth state store on the bot's store: random states, each spent once, by any replica."""

    def __init__(self, installs: Installs, clock: Callable[[], float] = time.time) -> None:
        self._installs = installs
        self._clock = clock

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        state = secrets.token_urlsafe(32)
        await self._installs.issue_state(state, self._clock() + STATE_SECONDS)
        return state

    async def async_consume(self, state: str) -> bool:
        return bool(state) and await self._installs.consume_state(state)


class Workspaces:
    """Each installed workspace's bot token, fresh."""

    def __init__(self, installs: Installs, rotator: AsyncTokenRotator, clock: Callable[[], float] = time.time) -> None:
        self._installs = installs
        self._rotator = rotator
        self._clock = clock

    async def installation(self, team_id: str) -> Installation:
        """The workspace's installation with a bot token that does not expire within the refresh margin
        (unless refreshing failed: then the current one). Raises ``WorkspaceGone``."""
        row = await self._installs.find(team_id)
        if row is None:
            raise WorkspaceGone(team_id)
        installation = decode(row.data)
        expires = installation.bot_token_expires_at
        if expires is None or expires > self._clock() + REFRESH_BEFORE_MINUTES * 60:
            return installation
        if await self._installs.claim_refresh(team_id, self._clock() + REFRESH_LEASE_SECONDS):
            return await self._refresh(row, installation)
        return await self._refreshed_elsewhere(team_id, installation)

    async def bot_token(self, team_id: str) -> str:
        return (await self.installation(team_id)).bot_token or ""

    async def _refresh(self, row: InstallRow, installation: Installation) -> Installation:
        try:
            bot = await self._rotator.perform_bot_token_rotation(
                bot=installation.to_bot(), minutes_before_expiration=REFRESH_BEFORE_MINUTES
            )
        except SlackTokenRotationError as exc:
            log.warning("install.refresh_failed team=%s error=%s", row.team_id, exc.api_error.response.get("error"))
            return installation  # the lease runs out and the next call tries again
        if bot is None:
            return installation
        fresh = Installation(**installation.to_dict_for_copying())
        fresh.bot_token, fresh.bot_refresh_token = bot.bot_token, bot.bot_refresh_token
        fresh.bot_token_expires_at = bot.bot_token_expires_at
        stored = await self._installs.refreshed(row.team_id, row.bot_token, fresh.bot_token or "", encode(fresh))
        log.info(
            "install.token_refreshed team=%s stored=%s expires_at=%s", row.team_id, stored, bot.bot_token_expires_at
        )
        return fresh

    async def _refreshed_elsewhere(self, team_id: str, installation: Installation) -> Installation:
        """Another replica is refreshing: its token once stored, or the current one while that is still valid."""
        deadline = self._clock() + REFRESH_LEASE_SECONDS
        while (installation.bot_token_expires_at or 0) <= self._clock() and self._clock() < deadline:
            await asyncio.sleep(0.1)
            row = await self._installs.find(team_id)
            if row is None:
                raise WorkspaceGone(team_id)
            installation = decode(row.data)
        return installation


class WorkspaceAuthorize(AsyncAuthorize):
    """Bolt's authorize for every request: the installation of the workspace it came from."""

    def __init__(self, workspaces: Workspaces) -> None:
        self._workspaces = workspaces

    async def __call__(
        self,
        *,
        context: AsyncBoltContext,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None,
        actor_enterprise_id: str | None = None,
        actor_team_id: str | None = None,
        actor_user_id: str | None = None,
    ) -> AuthorizeResult | None:
        if not team_id:
            return None  # an org-wide install, which the install flow refuses
        try:
            installation = await self._workspaces.installation(team_id)
        except WorkspaceGone:
            log.warning("install.unknown_workspace team=%s", team_id)
            return None
        return AuthorizeResult(
            enterprise_id=installation.enterprise_id,
            team_id=installation.team_id,
            team=installation.team_name,
            bot_user_id=installation.bot_user_id,
            bot_id=installation.bot_id,
            bot_token=installation.bot_token,
            bot_scopes=installation.bot_scopes,
            user_id=user_id,
        )


class AppClient(AsyncWebClient):
    """A client for calls with the app's client credentials (``oauth.v2.access``): they go as form
    fields, which Slack accepts like HTTP Basic (slack_sdk builds aiohttp.BasicAuth, deprecated
    since aiohttp 3.14)."""

    async def api_call(  # type: ignore[override]  # same signature; slack_sdk leaves its dicts untyped
        self,
        api_method: str,
        *,
        http_verb: str = "POST",
        files: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
        headers: dict[str, Any] | None = None,
        auth: dict[str, Any] | None = None,
    ) -> AsyncSlackResponse:
        if auth is not None:
            data, auth = {**(data or {}), **auth}, None
        return await super().api_call(
            api_method, http_verb=http_verb, files=files, data=data, params=params, json=json, headers=headers
        )


class WorkspaceClient(AppClient):
    """A Web API client without a token of its own: each call carries its ``team_id`` argument,
    and goes with that workspace's bot token (``WorkspaceGone`` if the app left it)."""

    def __init__(self, workspaces: Workspaces, **options: Any) -> None:
        super().__init__(**options)
        self.workspaces = workspaces

    async def api_call(self, api_method: str, **options: Any) -> AsyncSlackResponse:
        args = {**(options.get("params") or {}), **(options.get("data") or {}), **(options.get("json") or {})}
        team = args.get("team_id")
        if self.token is None and options.get("auth") is None and "token" not in args and team:
            token = await self.workspaces.bot_token(str(team))
            options["headers"] = {**(options.get("headers") or {}), "Authorization": f"Bearer {token}"}
        return await super().api_call(api_method, **options)
