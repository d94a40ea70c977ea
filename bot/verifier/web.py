"""The verifier on the bot's web server: its routes, the cookie, and the branding on its pages."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import aiohttp
from aiohttp import web
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from bot.arcade import Arcade
from bot.config import Settings
from bot.slack.installs import decode
from bot.store import Store
from bot.store.installs import Installs
from bot.verifier.flow import CALLBACK_PATH, COOKIE, VERIFY_PATH, Verifier
from bot.verifier.limits import RateLimit
from bot.verifier.outcome import HEADERS, Outcome, Redirect, Shown
from bot.verifier.pages import Branding
from bot.verifier.signin import SlackSignIn
from bot.verifier.start import START_COOKIE, START_PATH, StartLinks
from bot.verifier.state import Signer

log = logging.getLogger(__name__)

PAGES_PER_MINUTE = 60  # verifier pages per client address; a person needs three or four per connection
Handler = Callable[[web.Request], Awaitable[web.Response]]


class WorkspaceBranding:
    """The app and workspace named on every page; the workspace comes from ``auth.test``, once."""

    def __init__(self, client: AsyncWebClient, *, timeout: float = 3.0) -> None:
        self._client = client
        self._timeout = timeout
        self._known: Branding | None = None

    async def __call__(self, team_id: str | None = None) -> Branding:
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


class InstalledBranding:
    """``SLACK_INSTALL=on``: the flow's own workspace, if the app is installed there."""

    def __init__(self, installs: Installs) -> None:
        self._installs = installs

    async def __call__(self, team_id: str | None = None) -> Branding:
        if team_id is None:
            return Branding()
        row = await self._installs.find(team_id)
        if row is None:
            return Branding(installed=False)
        return Branding(workspace=decode(row.data).team_name or None, team_id=team_id)


def start_links(settings: Settings) -> StartLinks:
    """The Authorize button's short links; they live as long as the authorization waits."""
    return StartLinks(
        settings.verifier_secret or "",
        public_url=settings.public_url or "",
        ttl_seconds=settings.auth_timeout_seconds,
    )


def build(
    settings: Settings,
    *,
    arcade: Arcade,
    session: aiohttp.ClientSession,
    client: AsyncWebClient,
    store: Store,
    links: StartLinks,
    installs: Installs | None = None,
) -> Verifier:
    """The verifier for ``ARCADE_USER_VERIFIER=custom`` (``Settings.from_env`` made sure all is set).

    With ``installs`` (``SLACK_INSTALL=on``) it serves the workspaces the app is installed in."""
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
        signer=Signer(secret, purpose="state"),
        links=links,
        store=store,
        public_url=public_url,
        branding=InstalledBranding(installs) if installs is not None else WorkspaceBranding(client),
    )


def add_routes(app: web.Application, verifier: Verifier, *, pages_per_minute: int = PAGES_PER_MINUTE) -> None:
    """Serve ``verifier`` at its three paths on ``app``: GET only (a HEAD from a link scanner or
    prefetcher must not spend a state or reach ``confirm_user``), limited per client address."""
    limit = RateLimit(pages_per_minute)

    def limited(handler: Handler) -> Handler:
        async def guarded(request: web.Request) -> web.Response:
            address = request.remote or ""
            if not limit.allow(address):
                log.warning("verify.rate_limited what=pages address=%s", address)
                return _respond(await verifier.too_many(), verifier)
            return await handler(request)

        return guarded

    async def start(request: web.Request) -> web.Response:
        return _respond(await verifier.start(request.match_info["token"]), verifier)

    async def begin(request: web.Request) -> web.Response:
        return _respond(await verifier.begin(request.query, request.cookies.get(START_COOKIE)), verifier)

    async def finish(request: web.Request) -> web.Response:
        outcome = await verifier.finish(request.query, request.cookies.get(COOKIE), request.remote or "")
        return _respond(outcome, verifier)

    app.router.add_get(START_PATH + "/{token}", limited(start), allow_head=False)
    app.router.add_get(VERIFY_PATH, limited(begin), allow_head=False)
    app.router.add_get(CALLBACK_PATH, limited(finish), allow_head=False)


def _respond(outcome: Outcome, verifier: Verifier) -> web.Response:
    if isinstance(outcome, Redirect):
        response = web.Response(status=303, headers={**HEADERS, "Location": outcome.location})
    else:
        response = web.Response(
            status=outcome.page.status, text=outcome.page.html, content_type="text/html", headers=HEADERS
        )
    path, secure = verifier.cookie_path, verifier.secure_cookie
    if isinstance(outcome, Redirect) and outcome.start_cookie is not None:
        value, max_age = outcome.start_cookie, int(verifier.links.ttl_seconds)
        response.set_cookie(
            START_COOKIE, value, max_age=max_age, path=path, secure=secure, httponly=True, samesite="Lax"
        )
    elif isinstance(outcome, Redirect) and outcome.cookie is not None:
        value, max_age = outcome.cookie, verifier.cookie_max_age
        response.set_cookie(COOKIE, value, max_age=max_age, path=path, secure=secure, httponly=True, samesite="Lax")
    elif isinstance(outcome, Shown) and outcome.clear_cookie:
        # After the redirect to next_uri the cookie stays until it expires, so a reload of the spent
        # callback is told "already used" rather than "another browser".
        response.del_cookie(COOKIE, path=path, secure=secure, httponly=True, samesite="Lax")
    return response
