"""Slack's install flow (``SLACK_INSTALL=on``): the "Add to Slack" page, the OAuth redirect, and
what happens when a workspace removes the app.

Bolt's own ``AsyncOAuthFlow`` runs the flow, on the bot's store (``bot.slack.installs``): its
state is random, kept in the store and spent once, and bound to the installing browser by Bolt's
cookie. The browser is sent to ``/oauth/v2/authorize`` at the origin of ``SLACK_API_URL``, like
Sign in with Slack. Every outcome is a page that says what happened; nothing is stored unless
Slack issued a token for one workspace. Org-wide installs (Enterprise Grid) are refused.

``app_uninstalled`` and ``tokens_revoked`` (bot tokens) delete the workspace's installation, its
pending flows (their waiters stop at their next tick) and the answers still owed to its users.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.error import BoltError
from slack_bolt.oauth.async_callback_options import AsyncCallbackOptions, AsyncFailureArgs, AsyncSuccessArgs
from slack_bolt.oauth.async_oauth_flow import AsyncOAuthFlow
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.oauth.installation_store import Installation
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.slack.installs import STATE_SECONDS, StoreInstallations, StoreStates, WorkspaceAuthorize
from bot.store.installs import Installs

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

log = logging.getLogger(__name__)

INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
# What the bot needs in a workspace: manifest.yml's bot scopes (tests/test_install.py checks they agree).
BOT_SCOPES = ("commands", "chat:write", "im:write", "im:history", "app_mentions:read")
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
}
_STYLE = (
    "body{margin:0;font:16px/1.5 system-ui,sans-serif;color:#1d1c1d;background:#f8f8f8}"
    "main{max-width:32rem;margin:0 auto;padding:1.5rem 1.25rem}h1{font-size:1.375rem}"
    "a.add{display:inline-block;background:#4a154b;color:#fff;padding:.6rem 1rem;border-radius:4px;"
    "text-decoration:none}"
)
# Why an install did not happen -> (title, what to do). Reasons are Bolt's, plus org_wide.
FAILURES = {
    "access_denied": ("The app was not installed", "The install was cancelled in Slack. Nothing was stored."),
    "invalid_browser": (
        "This install link was started in another browser",
        "Start again from the Add to Slack page, in this browser. Nothing was stored.",
    ),
    "invalid_state": (
        "This install link has expired or was already used",
        "Start again from the Add to Slack page. Nothing was stored.",
    ),
    "missing_code": ("Slack did not finish the install", "Start again from the Add to Slack page."),
    "invalid_code": (
        "Slack did not confirm the install",
        "Start again from the Add to Slack page. Nothing was stored.",
    ),
    "org_wide": (
        "Org-wide installs are not supported",
        "Install the app in each workspace of your organization instead. Nothing was stored.",
    ),
}


@dataclass(frozen=True, slots=True)
class InstallMode:
    """What the Bolt app needs to serve every installed workspace."""

    flow: AsyncOAuthFlow
    authorize: WorkspaceAuthorize
    installs: Installs


class OrgWideRefused(BoltError):
    """An Enterprise Grid org-wide install: refused, nothing stored."""


def page(title: str, body: str, *, status: int = 200) -> BoltResponse:
    document = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>\n"
        f"<body><main><h1>{html.escape(title)}</h1>\n{body}</main></body></html>\n"
    )
    return BoltResponse(status=status, body=document, headers={"Content-Type": "text/html; charset=utf-8"})


class InstallFlow(AsyncOAuthFlow):
    """Bolt's flow with the bot's pages, refusing org-wide installs before anything is stored."""

    async def build_install_page_html(self, url: str, request: AsyncBoltRequest) -> str:
        link = html.escape(url, quote=True)
        return page(
            "Add Gmail for Slack to your workspace",
            "<p>Members then run <code>/connect-gmail</code> to see their Gmail labels in Slack, privately.</p>\n"
            f'<p><a class="add" href="{link}">Add to Slack</a></p>',
        ).body

    async def store_installation(self, request: AsyncBoltRequest, installation: Installation) -> None:
        if installation.is_enterprise_install or not installation.team_id:
            log.warning("install.refused reason=org_wide enterprise=%s", installation.enterprise_id)
            raise OrgWideRefused("org-wide install")
        await super().store_installation(request, installation)


async def _succeeded(args: AsyncSuccessArgs) -> BoltResponse:
    team = args.installation.team_name or args.installation.team_id or "your workspace"
    log.info("install.completed team=%s", args.installation.team_id)
    response = page(
        f"Installed in {team}",
        "<p>Members of the workspace can now run <code>/connect-gmail</code> in Slack.</p>",
    )
    response.headers["set-cookie"] = [args.settings.state_utils.build_set_cookie_for_deletion()]
    return response


async def _failed(args: AsyncFailureArgs) -> BoltResponse:
    reason = "org_wide" if isinstance(args.error, OrgWideRefused) else args.reason
    title, todo = FAILURES.get(reason, ("The app was not installed", "Start again from the Add to Slack page."))
    log.info("install.failed reason=%s", reason)
    status = 200 if reason == "access_denied" else 400
    return page(title, f"<p>{html.escape(todo)}</p>", status=status)


def oauth_flow(settings: Settings, installs: Installs, client: AsyncWebClient) -> InstallFlow:
    """The install flow for these settings; ``client`` makes the ``oauth.v2.access`` calls."""
    api = urlsplit(settings.slack_api_url)
    public_url = settings.public_url or ""
    return InstallFlow(
        client=client,
        logger=logging.getLogger("slack_bolt"),
        settings=AsyncOAuthSettings(
            client_id=settings.slack_client_id,
            client_secret=settings.slack_client_secret,
            scopes=list(BOT_SCOPES),
            user_scopes=[],
            redirect_uri=public_url + REDIRECT_PATH,
            install_path=INSTALL_PATH,
            redirect_uri_path=REDIRECT_PATH,
            authorization_url=f"{api.scheme}://{api.netloc}/oauth/v2/authorize",
            installation_store=StoreInstallations(installs),
            installation_store_bot_only=True,
            state_store=StoreStates(installs),
            state_expiration_seconds=STATE_SECONDS,
            callback_options=AsyncCallbackOptions(success=_succeeded, failure=_failed),
        ),
    )


def add_routes(app: web.Application, flow: AsyncOAuthFlow) -> None:
    """``GET /slack/install`` and ``GET /slack/oauth_redirect`` on the bot's web server."""

    async def install(request: web.Request) -> web.Response:
        return _with_headers(await to_aiohttp_response(await flow.handle_installation(await to_bolt_request(request))))

    async def redirect(request: web.Request) -> web.Response:
        return _with_headers(await to_aiohttp_response(await flow.handle_callback(await to_bolt_request(request))))

    app.router.add_get(INSTALL_PATH, install, allow_head=False)
    app.router.add_get(REDIRECT_PATH, redirect, allow_head=False)


def _with_headers(response: web.Response) -> web.Response:
    response.headers.update(PAGE_HEADERS)
    return response


def register_uninstall(app: AsyncApp, installs: Installs) -> None:
    """The app removed from a workspace, or its bot token revoked: forget that workspace."""

    async def forget(team_id: str, why: str) -> None:
        removed, flows = await installs.forget(team_id)
        log.info("install.removed team=%s why=%s installations=%d pending_stopped=%d", team_id, why, removed, flows)

    @app.event("app_uninstalled")
    async def on_uninstalled(body: dict[str, Any]) -> None:
        team = body.get("team_id")
        if isinstance(team, str) and team:
            await forget(team, "app_uninstalled")

    @app.event("tokens_revoked")
    async def on_revoked(body: dict[str, Any], event: dict[str, Any]) -> None:
        team = body.get("team_id")
        bots = (event.get("tokens") or {}).get("bot") or []
        if isinstance(team, str) and team and bots:
            await forget(team, "tokens_revoked")
