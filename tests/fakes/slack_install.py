"""Slack's install flow (OAuth v2) on the fake Slack, mounted by ``FakeSlack``: one app, many workspaces.

* ``GET /oauth/v2/authorize?client_id&scope&state&redirect_uri``: the app's client id and a
  registered redirect URL. A browser signed in to the fake Slack (``/_fake/login?user&team``, as for
  Sign in with Slack) sees Slack's consent page for its workspace: plain HTML whose "Allow" link
  (``/oauth/v2/authorize/allow``, same query) 302s back with ``code`` and ``state`` and whose
  "Cancel" link comes back with ``error=access_denied``. A browser without a session (the tests'
  plain HTTP clients) is sent straight back with a code for the workspace the test chose with
  :meth:`SlackInstalls.install_as`. Either way ``error=access_denied`` after
  :meth:`SlackInstalls.refuse_next`, as when the installer clicks Cancel.
* ``POST /api/oauth.v2.access`` with the app's client id and secret (HTTP Basic or form fields):
  a single-use code -> that workspace's bot token (``grant_type=refresh_token`` -> a fresh one).
  With ``rotation`` on, tokens expire after ``expires_in`` seconds and come with a refresh token;
  ``hold_refreshes`` keeps refresh grants waiting (a refresh in flight while another replica looks).
* Each workspace has its own bot token; ``SlackWorld.api`` answers ``invalid_auth`` to a call
  with a token of another workspace than the one the call is about, and records it in
  ``wrong_workspace`` (``check_workspace``), and ``token_expired`` to an expired token.
* :meth:`SlackInstalls.uninstall` / :meth:`SlackInstalls.revoke`: the workspace's tokens stop
  working and the app gets ``app_uninstalled`` / ``tokens_revoked``, as from Slack.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import html
import secrets
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode

from aiohttp import web

from tests.fakes.slack_oidc import SESSION_COOKIE
from tests.fakes.slack_world import ApiCall, Args, _error

if TYPE_CHECKING:
    from tests.fakes.slack import Ack, FakeSlack

ROTATION_SECONDS = 43_200  # Slack's 12 hours


@dataclass
class Workspace:
    team_id: str
    name: str
    tokens: dict[str, float] = field(default_factory=dict)  # bot token -> expires at (inf without rotation)
    refresh_token: str | None = None
    enterprise_id: str | None = None


class SlackInstalls:
    def __init__(self, fake: FakeSlack) -> None:
        self.fake = fake
        self.workspaces: dict[str, Workspace] = {}
        self.installer_team: str | None = None  # who installs at the next authorize
        self.org_wide_next = False
        self.rotation = False
        self.expires_in = ROTATION_SECONDS
        self.codes: dict[str, str] = {}  # code -> team id (single use)
        self.refreshes: list[str] = []  # team id of each refresh_token grant
        self.refresh_requests = 0  # refresh_token grants asked for (counted before any hold)
        self.hold_refreshes: asyncio.Event | None = None  # if set: refresh grants wait for this event
        self.wrong_workspace: list[ApiCall] = []
        self.authorize_requests: list[dict[str, str]] = []
        self._refusals: deque[str] = deque()

    def mount(self, router: web.UrlDispatcher) -> None:
        router.add_get("/oauth/v2/authorize", self._authorize)
        router.add_get("/oauth/v2/authorize/allow", self._allow)
        router.add_route("*", "/api/oauth.v2.access", self._access)

    # -- switches --------------------------------------------------------------------------------

    def install_as(self, team_id: str, name: str | None = None, *, enterprise_id: str | None = None) -> None:
        """The next installer is an admin of ``team_id`` (a workspace of ``enterprise_id``, if given)."""
        self.installer_team = team_id
        self.add_workspace(team_id, name, enterprise_id=enterprise_id)

    def add_workspace(self, team_id: str, name: str | None = None, *, enterprise_id: str | None = None) -> Workspace:
        """A workspace of the fake Slack (kept if known), for the consent page and the code exchange."""
        if team_id not in self.workspaces:
            self.workspaces[team_id] = Workspace(team_id, name or f"Workspace {team_id}", enterprise_id=enterprise_id)
        return self.workspaces[team_id]

    def refuse_next(self, error: str = "access_denied") -> None:
        self._refusals.append(error)

    def expire_tokens(self, team_id: str, *, in_seconds: float = 0.0) -> None:
        """The workspace's current tokens expire ``in_seconds`` from now (0: already)."""
        workspace = self.workspaces[team_id]
        for token in workspace.tokens:
            workspace.tokens[token] = self.fake.clock() + in_seconds

    def token_for(self, team_id: str) -> str | None:
        tokens = self.workspaces[team_id].tokens if team_id in self.workspaces else {}
        return next(reversed(tokens), None) if tokens else None

    async def uninstall(self, team_id: str, *, mode: str = "http") -> Ack:
        self.workspaces[team_id].tokens.clear()
        return await self.fake.send_event({"type": "app_uninstalled"}, team_id=team_id, mode=mode)

    async def revoke(self, team_id: str, *, mode: str = "http") -> Ack:
        self.workspaces[team_id].tokens.clear()
        event = {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": [self.fake.bot_user_id]}}
        return await self.fake.send_event(event, team_id=team_id, mode=mode)

    # -- the Web API's view ----------------------------------------------------------------------

    def team_of(self, token: str) -> tuple[str, float] | None:
        for workspace in self.workspaces.values():
            if token in workspace.tokens:
                return workspace.team_id, workspace.tokens[token]
        return None

    def check_workspace(self, method: str, args: Args, token: str) -> str | None:
        """``invalid_auth`` when ``token`` is another workspace's than the one the call is about."""
        found = self.team_of(token)
        if found is None:
            return None
        team, expires_at = found
        if expires_at <= self.fake.clock():
            return "token_expired"
        about = self._about(args)
        if about is not None and about != team:
            self.wrong_workspace.append(ApiCall(method, args, token, self.fake.clock()))
            return "invalid_auth"
        return None

    def _about(self, args: Args) -> str | None:
        channel = self.fake.channels.get(str(args.get("channel", "")))
        if channel is not None:
            return channel.team_id
        team = args.get("team_id")
        return team if isinstance(team, str) and team else None

    # -- HTTP ------------------------------------------------------------------------------------

    async def _authorize(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        self.authorize_requests.append(query)
        redirect_uri, refused = self._checked(query)
        if refused is not None:
            return refused
        back: dict[str, str] = {"state": query.get("state", "")}
        if self._refusals:
            raise web.HTTPFound(f"{redirect_uri}?{urlencode(back | {'error': self._refusals.popleft()})}")
        team_id, _, user_id = request.cookies.get(SESSION_COOKIE, "").partition(":")
        if team_id and user_id:  # a browser signed in to Slack: the consent page for its workspace
            return self._consent_page(self.add_workspace(team_id), query, redirect_uri, back)
        if self.installer_team is None:
            return web.Response(status=200, text="<p>Sign in to a workspace</p>", content_type="text/html")
        raise web.HTTPFound(f"{redirect_uri}?{urlencode(back | {'code': self._code(self.installer_team)})}")

    async def _allow(self, request: web.Request) -> web.Response:
        """The consent page's Allow: a code for the signed-in browser's workspace."""
        query = dict(request.query)
        redirect_uri, refused = self._checked(query)
        if refused is not None:
            return refused
        team_id, _, user_id = request.cookies.get(SESSION_COOKIE, "").partition(":")
        if not (team_id and user_id):
            return web.Response(status=200, text="<p>Sign in to a workspace</p>", content_type="text/html")
        back = {"state": query.get("state", ""), "code": self._code(team_id)}
        raise web.HTTPFound(f"{redirect_uri}?{urlencode(back)}")

    def _checked(self, query: dict[str, str]) -> tuple[str, web.Response | None]:
        """The redirect URL, or Slack's error page for a wrong client id or an unregistered redirect URL."""
        oidc = self.fake.oidc
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") != oidc.client_id or redirect_uri not in oidc.redirect_urls:
            return redirect_uri, web.Response(
                status=400, text="invalid client_id or redirect_uri", content_type="text/html"
            )
        return redirect_uri, None

    def _code(self, team_id: str) -> str:
        code = secrets.token_urlsafe(16)
        self.codes[code] = team_id
        return code

    @staticmethod
    def _consent_page(
        workspace: Workspace, query: dict[str, str], redirect_uri: str, back: dict[str, str]
    ) -> web.Response:
        allow = html.escape(f"/oauth/v2/authorize/allow?{urlencode(query)}", quote=True)
        cancel = html.escape(f"{redirect_uri}?{urlencode(back | {'error': 'access_denied'})}", quote=True)
        scopes = "".join(f"<li>{html.escape(scope)}</li>" for scope in query.get("scope", "").split(",") if scope)
        page = (
            "<!doctype html><html><head><title>Slack</title></head><body>"
            f"<h1>Gmail Connect is requesting permission to access the {html.escape(workspace.name)} "
            f"Slack workspace</h1><ul>{scopes}</ul>"
            f'<p><a id="cancel" href="{cancel}">Cancel</a> <a id="allow" href="{allow}">Allow</a></p>'
            "</body></html>"
        )
        return web.Response(text=page, content_type="text/html")

    async def _access(self, request: web.Request) -> web.Response:
        args: Args = dict(request.query)
        raw = await request.text()
        if raw:
            args.update(parse_qsl(raw, keep_blank_values=True))
        client_id, client_secret = _basic(request.headers.get("Authorization", ""))
        client_id, client_secret = client_id or args.get("client_id"), client_secret or args.get("client_secret")
        self.fake.calls.append(ApiCall("oauth.v2.access", dict(args), None, self.fake.clock()))
        if client_id != self.fake.oidc.client_id:
            return web.json_response(_error("invalid_client_id"))
        if client_secret != self.fake.oidc.client_secret:
            return web.json_response(_error("bad_client_secret"))
        if args.get("grant_type") == "refresh_token":
            self.refresh_requests += 1
            if self.hold_refreshes is not None:
                await self.hold_refreshes.wait()
            return web.json_response(self._refresh(str(args.get("refresh_token", ""))))
        team = self.codes.pop(str(args.get("code", "")), None)
        if team is None:
            return web.json_response(_error("invalid_code"))
        return web.json_response(self._grant(self.workspaces[team]))

    def _grant(self, workspace: Workspace) -> Args:
        token = f"xoxb-{workspace.team_id.lower()}-{secrets.token_hex(8)}"
        expires = self.fake.clock() + self.expires_in if self.rotation else float("inf")
        workspace.tokens[token] = expires
        org_wide = self.org_wide_next
        self.org_wide_next = False
        answer: Args = {
            "ok": True,
            "access_token": token,
            "token_type": "bot",
            "scope": "commands,chat:write,im:write,im:history,app_mentions:read",
            "bot_user_id": self.fake.bot_user_id,
            "app_id": self.fake.app_id,
            "team": None if org_wide else {"id": workspace.team_id, "name": workspace.name},
            "enterprise": {"id": workspace.enterprise_id, "name": "Org"} if workspace.enterprise_id else None,
            "is_enterprise_install": org_wide,
            "authed_user": {"id": "U0INSTALLER1"},
        }
        if self.rotation:
            workspace.refresh_token = workspace.refresh_token or f"xoxe-1-{secrets.token_hex(8)}"
            answer |= {"expires_in": self.expires_in, "refresh_token": workspace.refresh_token}
        return answer

    def _refresh(self, refresh_token: str) -> Args:
        for workspace in self.workspaces.values():
            if refresh_token and workspace.refresh_token == refresh_token:
                self.refreshes.append(workspace.team_id)
                return self._grant(workspace)
        return _error("invalid_refresh_token")


def _basic(header: str) -> tuple[str | None, str | None]:
    if not header.startswith("Basic "):
        return None, None
    try:
        user, _, password = base64.b64decode(header.removeprefix("Basic ")).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    return user, password
