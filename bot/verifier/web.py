"""The verifier on the bot's web server: its routes, the cookie, and the branding on its pages."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
from aiohttp import web
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.arcade import Arcade
from bot.config import Settings
from bot.verifier.flow import CALLBACK_PATH, COOKIE, HEADERS, VERIFY_PATH, Outcome, Redirect, Verifier
from bot.verifier.pages import Branding
from bot.verifier.signin import SlackSignIn
from bot.verifier.state import StateSigner

log = logging.getLogger(__name__)


class WorkspaceBranding:
    """The app and workspace named on every page; the workspace comes from ``auth.test``, once."""

    def __init__(self, client: AsyncWebClient, *, timeout: float = 3.0) -> None:
        self._client = client
        self._timeout = timeout
        self._known: Branding | None = None

    async def __call__(self) -> Branding:
        if self._known is None:
            try:
                async with asyncio.timeout(self._timeout):
                    response = await self._client.auth_test()
            except (SlackApiError, SlackClientError, aiohttp.ClientError, TimeoutError) as exc:
                log.info("verify.branding_unavailable error=%s", type(exc).__name__)
                return Branding()  # asked again next time
            name, team_id = response.get("team"), response.get("team_id")
            self._known = Branding(
                workspace=name if isinstance(name, str) and name else None,
                team_id=team_id if isinstance(team_id, str) and team_id else None,
            )
        return self._known


def build(settings: Settings, *, arcade: Arcade, session: aiohttp.ClientSession, client: AsyncWebClient) -> Verifier:
    """The verifier for ``ARCADE_USER_VERIFIER=custom`` (``Settings.from_env`` made sure all is set)."""
    public_url, client_id = settings.public_url or "", settings.slack_client_id or ""
    client_secret, secret = settings.slack_client_secret or "", settings.verifier_secret or ""
    signin = SlackSignIn(
        session,
        slack_api_url=settings.slack_api_url,
        client_id=client_id,
        client_secret=client_secret,
        redirect_uri=public_url + CALLBACK_PATH,
    )
    return Verifier(
        arcade=arcade,
        signin=signin,
        signer=StateSigner(secret),
        public_url=public_url,
        branding=WorkspaceBranding(client),
    )


def add_routes(app: web.Application, verifier: Verifier) -> None:
    """Serve ``verifier`` at ``/arcade/verify`` and ``/arcade/verify/callback`` on ``app``."""

    async def begin(request: web.Request) -> web.Response:
        return _respond(await verifier.begin(request.query), verifier)

    async def finish(request: web.Request) -> web.Response:
        return _respond(await verifier.finish(request.query, request.cookies.get(COOKIE)), verifier)

    app.router.add_get(VERIFY_PATH, begin)
    app.router.add_get(CALLBACK_PATH, finish)


def _respond(outcome: Outcome, verifier: Verifier) -> web.Response:
    if isinstance(outcome, Redirect):
        response = web.Response(status=303, headers={**HEADERS, "Location": outcome.location})
    else:
        response = web.Response(
            status=outcome.page.status, text=outcome.page.html, content_type="text/html", headers=HEADERS
        )
    path, secure = verifier.cookie_path, verifier.secure_cookie
    if isinstance(outcome, Redirect) and outcome.cookie is not None:
        value, max_age = outcome.cookie, verifier.cookie_max_age
        response.set_cookie(COOKIE, value, max_age=max_age, path=path, secure=secure, httponly=True, samesite="Lax")
    elif isinstance(outcome, Redirect) or outcome.clear_cookie:
        response.del_cookie(COOKIE, path=path, secure=secure, httponly=True, samesite="Lax")
    return response
